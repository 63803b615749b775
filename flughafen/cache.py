"""The Valkey side of a runtime: one connection per thread, deferred fills, fail-open.

Reads and fills go through the calling thread's own connection (``call``,
``pipelined``, ``fill``), everything else through a pooled valkey-py client
(``client``) that keeps each thread's commands in the order it made them. A
miss's fill is sent without waiting for its reply; the reply is read with the
thread's next command. After a failure the cache is skipped for a backoff
period, so an outage costs the application nothing but cache hits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import valkey
from libvalkey import pack_command as _pack
from valkey.client import Pipeline

from flughafen import invalidation, replication
from flughafen.config import CacheUrl
from flughafen.health import Health, eviction_risk
from flughafen.keys import Keyspace
from flughafen.metrics import Counters
from flughafen.near import NearCache
from flughafen.protocol import Call, Eval, Pipe, Steps, drive
from flughafen.replicas import Replicas
from flughafen.scripts import RELEASE, Script
from flughafen.tls import HostCheckedSSLConnection, tls_kwargs

log = logging.getLogger("flughafen")


def connection_kwargs(url: CacheUrl, project_dir: Path | None = None) -> dict[str, Any]:
    """valkey-py's connection arguments for a cache URL. ``embedded``: the unix socket of
    ``project_dir``'s shared server (the current folder's project by default), started when
    it is not running (flughafen/embedded.py)."""
    if url.embedded:
        from flughafen import embedded
        from flughafen.config import find_project_dir

        return embedded.connection_kwargs(project_dir if project_dir is not None else find_project_dir())
    kwargs: dict[str, Any] = {"host": url.host, "port": url.port, "db": url.db, "username": url.username, "password": url.password}
    return kwargs | tls_kwargs(url)


class InOrder(valkey.Valkey):
    """valkey-py's client, which first reads the replies of the calling thread's deferred
    fills (``settle``: see CacheState.fill), so that a command it sends on another
    connection, an invalidation after a write say, reaches the server after them: each
    thread's cache operations arrive in the order it made them, whoever holds the client."""

    def __init__(self, settle: Callable[[], None], **kwargs: Any):
        super().__init__(**kwargs)
        self._settle = settle

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self._settle()
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        return InOrderPipeline(self._settle, self.connection_pool, self.response_callbacks, transaction, shard_hint)


class InOrderPipeline(Pipeline):
    """A pipeline of InOrder: the thread's deferred fills are answered before it is sent."""

    def __init__(self, settle: Callable[[], None], *args: Any):
        super().__init__(*args)  # type: ignore[no-untyped-call]
        self._settle = settle

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._settle()
        return super().execute(raise_on_error)  # type: ignore[no-untyped-call, no-any-return]


class _ThreadMarker:
    """Held only by one thread's local storage (see CacheState._connection)."""

    __slots__ = ("__weakref__",)


class CacheState(Health):
    """The Valkey client plus fail-open bookkeeping (health.py)."""

    def __init__(
        self,
        url: CacheUrl,
        socket_timeout: float = 0.25,
        near_cache: bool = True,
        defer_fills: bool = True,
        project_dir: Path | None = None,
        *,
        keyspace: Keyspace,
    ):
        super().__init__(url, keyspace, project_dir)
        self._local = threading.local()
        self.socket_timeout = socket_timeout
        # The pooled valkey-py client, for everything but reads and fills.
        self.client: Any = self._client(url, socket_timeout, project_dir)
        self._sources: dict[str, Script] = {}  # scripts given as Lua text (application code, tests)
        self._loaded: set[str] = set()  # SHAs of the fill scripts the server has (a fill is sent unanswered)
        # Fills are sent without waiting for their replies (see fill); each connection of
        # this runtime's threads lists the ones it owes in ``fg_unanswered``.
        self.defer_fills = defer_fills
        # Every thread's connection, until its thread ends (see _connection) or close().
        self._own: set[Any] = set()
        self._own_lock = threading.RLock()  # reentrant: a retirement may run inside it (a finalizer)
        self._retirements: list[weakref.finalize[Any, Any]] = []
        _CACHES.add(self)
        self._eviction_checked = False
        # Local copies of near-cached queries (``cache: near:``); off: every read asks Valkey.
        self.near_enabled = near_cache and not url.off
        self.near = self._near_cache(url, socket_timeout, keyspace)
        self._replicas: Replicas | None = None  # made on the first hit of a query with replica_reads
        self._replicas_known = False

    def replica_read(self, read: Any, key: str, bound_ms: int) -> Any:
        """A hit's read (cache: replica_reads) from a replica at most ``bound_ms`` stale, or None: the primary answers (replicas.py)."""
        replicas = self._replicas
        if replicas is None:
            if self._replicas_known:
                return None
            self._replicas_known = True
            replicas = self._replicas = self._make_replicas()
            if replicas is None:
                return None
        return replicas.read(read, key, bound_ms)

    def _make_replicas(self) -> Replicas | None:
        """A single server has no replicas to read from: replica_reads does nothing (said once)."""
        log.info("cache %s: one server, no replicas: hits of queries with replica_reads are read from it", self.url.redacted())
        return None

    def _near_cache(self, url: CacheUrl, socket_timeout: float, keyspace: Keyspace) -> NearCache:
        return NearCache(self._near_connection, url.redacted(), keyspace)

    def _near_connection(self) -> Any:
        return self.client.connection_pool.make_connection()

    def _client(self, url: CacheUrl, socket_timeout: float, project_dir: Path | None) -> Any:
        kwargs = connection_kwargs(url, project_dir)
        timeouts: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout, "health_check_interval": 0}
        if not url.tls:
            return InOrder(self.settle, **kwargs, **timeouts)
        kwargs.pop("ssl")  # the connection class brings TLS, and says when the certificate names another host
        pool = valkey.ConnectionPool(connection_class=HostCheckedSSLConnection, **kwargs, **timeouts)
        client = InOrder(self.settle, connection_pool=pool)
        client.auto_close_connection_pool = True  # closed with the client, as the pool valkey-py makes itself
        return client

    def _after_fork(self) -> None:
        """In a forked child: the parent's per-thread connections forgotten (the child opens its own).

        They share their sockets with the parent: a reply the parent is owed
        must not be read here, nor a command sent. Dropping them closes only
        the child's copy of each socket (valkey-py shuts a socket down only in
        the process that opened it); the pooled client checks the pid itself.
        """
        self._own = set()  # first: dropping the old thread-locals below retires nothing of the parent's
        self._own_lock = threading.RLock()  # reentrant: a retirement may run inside it (a finalizer)
        self._retirements = []
        self._local = threading.local()
        self._replicas, self._replicas_known = None, False  # the parent's connections to replicas stay the parent's

    def _connection(self) -> Any:
        """This thread's own connection: no pool lock and no health poll on the hot path.

        It is retired (its owed replies read, then closed) when its thread
        ends, or when a new one replaces it after an error: a marker object held
        only by the thread's local storage is collected then. An application
        that starts a thread per request does not gather a connection per request.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn, marker = self._adopt(self.client.connection_pool.make_connection)
            self._local.conn, self._local.marker = conn, marker
        return conn

    def _conn_of(self, args: tuple[Any, ...]) -> Any:
        """The connection for a command (on a cluster, to the node serving its keys' slot)."""
        return getattr(self._local, "conn", None) or self._connection()

    def _conn_for(self, key: str) -> Any:
        """The connection for a command on ``key``."""
        return getattr(self._local, "conn", None) or self._connection()

    def _adopt(self, make: Callable[[], Any]) -> tuple[Any, _ThreadMarker]:
        """A new connection of this thread, and the marker whose collection retires it."""
        if not self._eviction_checked:
            self._eviction_checked = True
            risk = self.eviction_risk()
            if risk:
                log.warning(risk)
        conn = make()
        conn.fg_unanswered = []  # deferred fills whose replies this connection owes
        conn.fg_demoted = False  # a fill's reply said the server is a replica now
        marker = _ThreadMarker()
        retirement = weakref.finalize(marker, self._retire, conn)
        retirement.atexit = False
        with self._own_lock:
            self._own.add(conn)
            self._retirements = [r for r in self._retirements if r.alive]
            self._retirements.append(retirement)
        return conn, marker

    def eviction_risk(self) -> str | None:
        """What is wrong when the server may evict a tag set or a generation key before the entries
        it guards (an invalidation would then miss those entries until their TTL), or None. Logged
        as a warning on the runtime's first connection; shown by ``flughafen-gen stats``. None too
        when CONFIG is refused (ACL rules, managed services), which is logged at debug level."""
        try:
            conf: dict[str, Any] = self.client.config_get("maxmemory*")
        except Exception as e:  # noqa: BLE001 - a check, never a failure
            log.debug("cache %s: cannot read its eviction policy (%s)", self.url.redacted(), e)
            return None
        return eviction_risk(self.url, conf)

    def _retire(self, conn: Any) -> None:
        with self._own_lock:
            if conn not in self._own:
                return  # closed with the runtime, or the parent's (after a fork)
            self._own.discard(conn)
        self.settle(conn)
        conn.disconnect()

    def call(self, *args: Any) -> Any:
        """One command on this thread's connection (hit and miss paths). A broken connection is dropped.

        Packs with libvalkey and reads with the connection's parser directly:
        valkey-py's send_command/read_response layers (health checks, error
        text formatted on every call) cost about a tenth of a loopback hit.
        """
        conn = self._conn_of(args)
        try:
            sock = conn._sock
            if sock is None:
                conn.connect()
                sock = conn._sock
            sock.sendall(_pack(args))
            rerun = self._answers(conn) if conn.fg_unanswered else None
            response = conn._parser.read_response()
        except BaseException:
            self._drop(conn)
            raise
        if rerun is not None:
            self._settled(conn, rerun)
        if isinstance(response, valkey.exceptions.ResponseError):
            raise response  # the connection is fine: a script not loaded yet, a wrong type
        return response

    def script(self, script: Script | str, keys: list[str], args: list[Any]) -> Any:
        """A script on this thread's connection: EVALSHA, loaded first if the server does not have it (first use, a restart)."""
        if isinstance(script, str):
            script = self._script_of(script)
        try:
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except valkey.exceptions.NoScriptError:
            self._load(script)
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    def _load(self, script: Script) -> None:
        """Loads a script on the server this thread's commands go to (behind Sentinel, the primary it reaches now)."""
        self.call("SCRIPT", "LOAD", script.source)
        self._loaded.add(script.sha)

    def _script_of(self, source: str) -> Script:
        known = self._sources.get(source)
        if known is None:
            known = self._sources[source] = Script(source)
        return known

    def pipelined(self, *commands: tuple[Any, ...], wait: bool = False) -> list[Any]:
        """Several commands in one round trip on this thread's connection. A script is
        ``("EVALSHA", Script, keys, args)``; one the server lacks is loaded and run again.
        ``wait``: replicas confirm them too (cache_wait_replicas: a WAIT in the same round trip).
        Raises the first error a command returned."""
        wait = wait and self.waits
        replies = self._send_all(commands, wait)
        lacking = [i for i, r in enumerate(replies) if isinstance(r, valkey.exceptions.NoScriptError)]
        if lacking:
            for i in lacking:
                self._load(commands[i][1])
            for i, reply in zip(lacking, self._send_all([commands[i] for i in lacking], wait), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, valkey.exceptions.ResponseError):
                raise reply
        return replies

    def _send_all(self, commands: Any, wait: bool = False) -> list[Any]:
        conn = self._connection()
        packed = [("EVALSHA", c[1].sha, len(c[2]), *c[2], *c[3]) if c[0] == "EVALSHA" and isinstance(c[1], Script) else c for c in commands]
        needed = self._replicas_needed(conn) if wait else 0
        if needed:
            packed.append(("WAIT", needed, self.wait_timeout_ms))
        try:
            if conn._sock is None:
                conn.connect()
            conn._sock.sendall(b"".join(_pack(c) for c in packed))
            rerun = self._answers(conn) if conn.fg_unanswered else None
            replies = [conn._parser.read_response() for _ in packed]
        except BaseException:
            self._drop(conn)
            raise
        if rerun is not None:
            self._settled(conn, rerun)
        if needed:
            self._confirmed(conn, replies.pop(), needed)
        return replies

    def _replicas_needed(self, conn: Any) -> int:
        """How many replicas must confirm an invalidation sent on ``conn`` (cache_wait_replicas; "all": asked with ROLE,
        once per connection and again after a confirmation fell short)."""
        if self.wait_replicas != replication.ALL:
            return self.wait_replicas
        count: int | None = getattr(conn, "fg_replicas", None)
        if count is None:
            count = conn.fg_replicas = replication.connected(self._ask(conn, "ROLE"))
        return count

    def _confirmed(self, conn: Any, acked: Any, needed: int) -> None:
        """WAIT's reply: fewer than ``needed`` replicas is a failed invalidation (ReplicationTimeout)."""
        try:
            replication.check(acked, needed, self.url.redacted(), self.wait_timeout_ms)
        except Exception:
            conn.fg_replicas = None  # a replica may have left: counted again next time
            raise

    def _ask(self, conn: Any, *args: Any) -> Any:
        """One command on ``conn``, after the replies it owes; an error reply raised."""
        try:
            if conn._sock is None:
                conn.connect()
            conn._sock.sendall(_pack(args))
            rerun = self._answers(conn) if conn.fg_unanswered else None
            reply = conn._parser.read_response()
        except BaseException:
            self._drop(conn)
            raise
        if rerun is not None:
            self._settled(conn, rerun)
        if isinstance(reply, valkey.exceptions.ResponseError):
            raise reply
        return reply

    def mget(self, *keys: str) -> list[Any]:
        """MGET of many keys on this thread's connection (batch reads)."""
        values: list[Any] = self.call("MGET", *keys)
        return values

    def fill(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None:
        """Runs a fill script (json's FILL, a shaped store's) after a miss's query. Never raises.

        Deferred (the default): the script is sent on this thread's connection
        and the caller goes on with its rows; the reply is read with the
        thread's next command, in the same round trip, or by ``settle`` (also
        when the thread ends, and when the runtime closes). A miss
        then costs one round trip and the query, not two and the query. The
        script's own checks (lock owner, generation, tag markers) make a fill
        that runs late harmless; a reply that says it did not store counts as
        stale_fills_dropped, an error is logged and counted, and a script the
        server lost (a restart) is loaded and run again.
        """
        if not self.defer_fills:
            self._fill_now(script, keys, args, counters)
            return
        conn = self._conn_for(keys[0])
        try:
            if script.sha not in self._loaded:
                self._load(script)  # first use: a fill whose script is missing would arrive after the next command
            if conn._sock is None:
                conn.connect()
            t0 = time.perf_counter()
            conn._sock.sendall(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)))
            counters.cache_seconds += time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - fail open: the entry is filled by a later miss
            self._drop(conn)
            self.failed(e, counters)
            return
        conn.fg_unanswered.append((script, keys, args, counters))

    def _fill_now(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None:
        try:
            t0 = time.perf_counter()
            stored = self.script(script, keys, args)
            counters.cache_seconds += time.perf_counter() - t0
            if not stored:
                counters.stale_fills_dropped += 1
        except Exception as e:  # noqa: BLE001
            self.failed(e, counters)

    def settle(self, conn: Any = None) -> None:
        """Reads the replies of the deferred fills a connection owes (this thread's by default), waiting if need be."""
        conn = conn if conn is not None else getattr(self._local, "conn", None)
        if conn is None or not conn.fg_unanswered:
            return
        try:
            rerun = self._answers(conn)
        except Exception as e:  # noqa: BLE001 - the fills' fate is unknown; their locks expire
            self._drop(conn)
            self.failed(e)
            return
        self._settled(conn, rerun)

    def unanswered(self) -> int:
        """How many of this thread's deferred fills are sent and not answered yet."""
        conn = getattr(self._local, "conn", None)
        return 0 if conn is None else len(conn.fg_unanswered)

    def _answers(self, conn: Any) -> list[tuple[Script, list[str], list[Any], Counters]]:
        """Reads one reply per deferred fill; returns the fills to run again (the server lacked their script)."""
        owed, conn.fg_unanswered = conn.fg_unanswered, []
        rerun = []
        for fill in owed:
            reply = conn._parser.read_response()
            if isinstance(reply, valkey.exceptions.NoScriptError):
                self._loaded.discard(fill[0].sha)
                rerun.append(fill)
            elif isinstance(reply, valkey.exceptions.ResponseError):
                fill[3].cache_errors += 1
                self._refused(fill[1][0], reply)
                if isinstance(reply, valkey.exceptions.ReadOnlyError):
                    conn.fg_demoted = True  # the server became a replica (a failover): see _settled
            elif not reply:
                fill[3].stale_fills_dropped += 1
        return rerun

    def _settled(self, conn: Any, rerun: list[tuple[Script, list[str], list[Any], Counters]]) -> None:
        """After a connection's owed replies were read: a connection to a server that became a
        replica is dropped (the next one reaches the primary), and fills the server lacked the script of run again."""
        if conn.fg_demoted:
            self._drop(conn)
        if rerun:
            self._refill(rerun)

    def _refill(self, fills: list[tuple[Script, list[str], list[Any], Counters]]) -> None:
        """Fills the server refused for want of their script (it restarted): run now, the script loaded."""
        for script, keys, args, counters in fills:
            self._fill_now(script, keys, args, counters)

    def _drop(self, conn: Any) -> None:
        """A broken connection: closed, forgotten, and the replies it owed with it."""
        conn.disconnect()
        conn.fg_unanswered = []
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def release(self, lock: str, token: Any) -> None:
        """Lets go of a lock, if it is still ``token``'s; never fails (a lock expires on its own)."""
        try:
            self.script(RELEASE, [lock], [token])
        except Exception as e:  # noqa: BLE001 - the lock expires on its own
            self.failed(e)

    def _pooled(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """A script on the pooled client, which first answers this thread's deferred fills (invalidations)."""
        try:
            return self.client.evalsha(script.sha, len(keys), *keys, *args)
        except valkey.exceptions.NoScriptError:
            self.client.script_load(script.source)
            return self.client.evalsha(script.sha, len(keys), *keys, *args)

    # ------------------------------------------------------------ invalidation
    #
    # The steps are invalidation.py's (shared with the async cache); they run on the
    # pooled client, which first answers this thread's deferred fills.

    def _invalidating(self, steps: Steps) -> Any:
        return drive(steps, self._perform_pooled)

    def _perform_pooled(self, effect: Any) -> Any:
        if type(effect) is Eval:
            return self._pooled(effect.script, effect.keys, effect.args)
        if type(effect) is Call:
            return self.client.execute_command(*effect.args)
        if type(effect) is Pipe:
            return self.pipelined(*effect.commands, wait=effect.wait)  # the thread's connections: its deferred fills are answered first
        raise TypeError(f"not an effect of an invalidation: {effect!r}")

    def delete(self, *keys: str) -> None:
        """Drops entries (with their locks and companion keys): invalidate() of one parameter set."""
        self._invalidating(invalidation.delete(self, keys))

    def incr(self, key: str) -> None:
        """Moves a query's generation (``fg:<ns>:<name>:gen``): every entry of it, local copies too."""
        self._invalidating(invalidation.incr(self, key))

    def invalidate_tags(self, tags: list[str]) -> int:
        """Drops every entry registered under each tag, with its lock; returns how many."""
        count: int = self._invalidating(invalidation.tags(self, tags))
        return count

    def unsettle(self, tags: Sequence[str] = (), generations: Sequence[str] = (), keys: Sequence[str] = ()) -> None:
        """Remembers invalidations that did not go through (tags, generation keys, entry keys; see ``serves``)."""
        self.unsettled.add(tags, generations, keys)
        if self.near.stores:
            self.near.drop_queries(list(self.near.stores))  # which copies the invalidation meant is unknown: all go

    def serves(self, q: Any) -> bool:
        """Whether reads of accessor ``q`` may use the cache: no failed invalidation touches it
        (one that does is retried first, at most once per backoff period)."""
        if not self.unsettled.touches(q):
            return True
        if self.settle_due():
            self.settle_invalidations()
        return not self.unsettled.touches(q)

    def settle_invalidations(self) -> bool:
        """Makes the failed invalidations again; True when none is left."""
        done: bool = self._invalidating(invalidation.settle(self))
        return done

    def close(self) -> None:
        """Reads every reply still owed (a thread's last fills: refusals are logged even
        when that thread made no later call), then closes every connection."""
        self.near.close()
        if self._replicas is not None:
            self._replicas.close()
        with self._own_lock:
            own, self._own = self._own, set()
            for retirement in self._retirements:
                retirement.detach()
            self._retirements = []
        for conn in own:
            self.settle(conn)
            conn.disconnect()
        self.client.close()


_CACHES: weakref.WeakSet[CacheState] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_CACHES):
        cache._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
