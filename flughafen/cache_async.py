"""The Valkey side of an AsyncRuntime: one pipelined connection shared by every task, fail-open.

Why one connection, and not valkey.asyncio's pool: its pool gives each command in
flight a connection of its own, so 1,000 reads gathered at once open up to 1,000
connections (a connect and a handshake each the first time), and every command is
then a write and a read on its own socket, with a health check and the pool's
bookkeeping around it; Valkey serves each of those sockets in turn. Here every
command of the runtime goes down one socket: the commands a loop turn produces
leave in one write (the first one at once, when nothing is in flight), the
replies come back in order and are handed to their callers as they are parsed
(libvalkey's reader), many per read. Valkey runs commands one at a time anyway,
so one connection is as fast as many, and the order of a runtime's commands is
the order they were made in: a fill sent without waiting reaches the server
before the invalidation a later write makes.

- Bounded: at most ``max_in_flight`` commands wait for replies; past that,
  callers wait for the backlog to halve (``await``, never a blocking call).
- Cancellation: a caller cancelled while its command is in flight leaves the
  connection as it was; the reply is read and dropped in its turn.
- Timeouts: a connection whose oldest command has had no reply for
  ``socket_timeout`` is closed, and every caller waiting on it is answered
  with a TimeoutError (then the protocol answers from the database: fail-open).
- Scripts: EVALSHA, with SCRIPT LOAD sent just before on the same connection
  the first time it uses a script (no extra round trip).

The methods the async shell (io_async.py) uses are those of AsyncCache: another
client (a cluster's) can stand in for this one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import libvalkey
from libvalkey import pack_command as _pack
from valkey._parsers.base import BaseParser
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import NoScriptError, ResponseError

from flughafen import invalidation, replication, tls
from flughafen.cache import connection_kwargs
from flughafen.config import CacheUrl
from flughafen.health import Health, eviction_risk
from flughafen.keys import Keyspace
from flughafen.metrics import Counters
from flughafen.near import NearCache
from flughafen.protocol import Call, Eval, Pipe, Steps, drive_async
from flughafen.scripts import RELEASE, Script

log = logging.getLogger("flughafen")

MAX_IN_FLIGHT = 10_000


class AsyncCache(Protocol):
    """What the async shell asks of a cache client (this module's, or a cluster's)."""

    down: bool
    defer_fills: bool

    def usable(self) -> bool: ...
    def ok(self) -> None: ...
    def failed(self, error: BaseException, counters: Counters | None = None) -> None: ...
    async def call(self, *args: Any) -> Any: ...
    async def script(self, script: Script | str, keys: list[str], args: list[Any]) -> Any: ...
    async def pipelined(self, *commands: tuple[Any, ...], wait: bool = False) -> list[Any]: ...
    def fill(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None: ...
    async def fill_now(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None: ...
    async def release(self, lock: str, token: Any) -> None: ...


OnReply = Callable[[Any], None]


class Connection(asyncio.Protocol):
    """One socket to Valkey: commands written in order, each reply handed to the one waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, max_in_flight: int = MAX_IN_FLIGHT):
        self.loop = loop
        self.timeout = timeout
        self.low_water = max_in_flight // 2
        self.transport: asyncio.Transport | None = None
        self.reader = libvalkey.Reader(replyError=BaseParser.parse_error)
        self.waiting: deque[asyncio.Future[Any] | OnReply] = deque()
        self.out: list[bytes] = []
        self.flush_due = False
        self.lost: BaseException | None = None
        self.loaded: set[str] = set()  # scripts this connection sent SCRIPT LOAD for
        self.progress = 0.0  # loop time of the last reply, or of the first command sent into an idle connection
        self.watchdog: asyncio.TimerHandle | None = None
        self.drained: asyncio.Event | None = None  # set when the backlog is down to low_water
        self.replicas: int | None = None  # replicas of the server, for WAIT (replication.py): None until asked

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        reply = reader.gets()
        while reply is not False:
            if not waiting:
                self.close(ValkeyConnectionError("a reply nobody asked for"))
                return
            entry = waiting.popleft()
            if type(entry) is asyncio.Future:
                if not entry.done():  # done: its caller was cancelled
                    entry.set_result(reply)
            else:
                entry(reply)  # type: ignore[operator]
            reply = reader.gets()
        self.progress = self.loop.time()
        if self.drained is not None and len(waiting) <= self.low_water:
            self.drained.set()
            self.drained = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(exc or ValkeyConnectionError("the connection to Valkey closed"))

    # ours

    @property
    def open(self) -> bool:
        return self.lost is None and self.transport is not None

    def send(self, packed: bytes, entry: asyncio.Future[Any] | OnReply) -> None:
        """Sends a packed command; its reply goes to ``entry`` (a future, or a function for a fill's)."""
        if self.lost is not None:
            raise ValkeyConnectionError(f"the connection to Valkey is closed ({self.lost})")
        waiting = self.waiting
        if not waiting:
            self.progress = self.loop.time()
            if self.watchdog is None:
                self.watchdog = self.loop.call_later(self.timeout, self._check)
            waiting.append(entry)
            if not self.out:
                self.transport.write(packed)  # type: ignore[union-attr]
                return
        else:
            waiting.append(entry)
        self.out.append(packed)
        if not self.flush_due:
            self.flush_due = True
            self.loop.call_soon(self._flush)

    async def room(self, max_in_flight: int) -> None:
        """Returns once fewer than ``max_in_flight`` commands wait for replies (past that, once the backlog halved)."""
        while len(self.waiting) >= max_in_flight and self.lost is None:
            if self.drained is None:
                self.drained = asyncio.Event()
            await self.drained.wait()

    def request(self, packed: bytes) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.send(packed, future)
        return future

    def _flush(self) -> None:
        self.flush_due = False
        if self.out and self.transport is not None and self.lost is None:
            out, self.out = self.out, []
            self.transport.write(b"".join(out))

    def _check(self) -> None:
        """The watchdog: a connection whose oldest command waits past the timeout is closed."""
        self.watchdog = None
        if not self.waiting or self.lost is not None:
            return
        idle = self.loop.time() - self.progress
        if idle >= self.timeout:
            self.close(TimeoutError(f"no reply from Valkey for {idle:.2f} s"))
        else:
            self.watchdog = self.loop.call_later(self.timeout - idle, self._check)

    def close(self, error: BaseException) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._fail_all(error)

    def _fail_all(self, error: BaseException) -> None:
        if self.lost is None:
            self.lost = error
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        waiting, self.waiting = self.waiting, deque()
        self.out = []
        for entry in waiting:
            if type(entry) is asyncio.Future:
                if not entry.done():
                    entry.set_exception(_connection_error(error))
            else:
                entry(_connection_error(error))  # type: ignore[operator]
        if self.drained is not None:
            self.drained.set()
            self.drained = None


def _connection_error(error: BaseException) -> BaseException:
    return error if isinstance(error, (ValkeyConnectionError, TimeoutError)) else ValkeyConnectionError(str(error))


async def open_connection(k: dict[str, Any], host: str, port: int, timeout: float, max_in_flight: int) -> Connection:
    """A Connection to ``host:port`` (or ``k``'s unix socket), authenticated and on ``k``'s database (``k``: connection_kwargs)."""
    loop = asyncio.get_running_loop()
    context: ssl.SSLContext | None = None
    if k.get("ssl"):
        context = tls.context(k.get("ssl_ca_certs"), k.get("ssl_check_hostname", True))

    def protocol() -> Connection:
        return Connection(loop, timeout, max_in_flight)

    if "unix_socket_path" in k:
        opening = loop.create_unix_connection(protocol, k["unix_socket_path"])
    else:
        opening = loop.create_connection(protocol, host, port, ssl=context)
    try:
        _, conn = await asyncio.wait_for(opening, timeout)
    except ssl.SSLCertVerificationError as e:
        raise ValkeyConnectionError(tls.mismatch(e, host, port) or f"{host}:{port}: the server's TLS certificate is refused ({e})") from e
    setup: list[asyncio.Future[Any]] = []
    if k.get("password"):
        auth = ("AUTH", k["username"], k["password"]) if k.get("username") else ("AUTH", k["password"])
        setup.append(conn.request(_pack(auth)))
    if k.get("db"):
        setup.append(conn.request(_pack(("SELECT", k["db"]))))
    try:
        for reply in await asyncio.wait_for(asyncio.gather(*setup), timeout):
            if isinstance(reply, Exception):
                raise reply
    except BaseException as e:
        conn.close(e)
        raise
    return conn


class AsyncCacheState(Health):
    """The Valkey client of an AsyncRuntime (see the module's docstring), with fail-open bookkeeping (health.py).

    One connection per event loop that uses it, made on first use and again after a failure.
    """

    def __init__(
        self,
        url: CacheUrl,
        socket_timeout: float = 0.25,
        near_cache: bool = True,
        defer_fills: bool = True,
        max_in_flight: int = MAX_IN_FLIGHT,
        project_dir: Path | None = None,
        *,
        keyspace: Keyspace,
    ):
        super().__init__(url, keyspace, project_dir)
        # embedded: the unix socket of the project's shared server (started if need be)
        self._kwargs: dict[str, Any] = {} if url.off else connection_kwargs(url, project_dir)
        self.socket_timeout = socket_timeout
        self.defer_fills = defer_fills
        self.max_in_flight = max_in_flight
        self._conn: Connection | None = None
        self._connecting: asyncio.Future[Connection] | None = None
        self._sources: dict[str, Script] = {}
        self._eviction_checked = False
        # Local copies of near-cached queries (``cache: near:``): kept by near.py's thread, on sync connections of its own.
        self.near_enabled = near_cache and not url.off
        self.near = self._near_cache(url, socket_timeout, keyspace)

    def _near_cache(self, url: CacheUrl, socket_timeout: float, keyspace: Keyspace) -> NearCache:
        return NearCache(self._sync_connection, url.redacted(), keyspace)

    def _sync_connection(self) -> Any:
        import valkey

        if "unix_socket_path" in self._kwargs:
            return valkey.UnixDomainSocketConnection(path=self._kwargs["unix_socket_path"], socket_timeout=self.socket_timeout)  # type: ignore[no-untyped-call]
        kwargs = {k: v for k, v in self._kwargs.items() if k != "ssl"}  # a TLS URL's class brings TLS
        return tls.connection_class(self.url)(**kwargs, socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout)

    # ------------------------------------------------------------ the connection

    async def connection(self) -> Connection:
        """The open connection, made if need be (callers that come meanwhile share the attempt)."""
        conn = self._conn
        if conn is not None and conn.lost is None and conn.loop is asyncio.get_running_loop():
            return conn
        if self._connecting is None or self._connecting.get_loop() is not asyncio.get_running_loop():
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open_server(self) -> Connection:
        """A new connection to the server (behind Sentinel, the primary the sentinels name now)."""
        k = self._kwargs
        return await open_connection(k, k.get("host", "127.0.0.1"), k.get("port", 6379), self.socket_timeout, self.max_in_flight)

    async def _connect(self) -> Connection:
        conn = await self._open_server()
        old, self._conn = self._conn, conn
        if old is not None and old.lost is None:
            old.close(ValkeyConnectionError("replaced"))
        if not self._eviction_checked:
            self._eviction_checked = True
            risk = await self.eviction_risk()
            if risk:
                log.warning(risk)
        return conn

    async def eviction_risk(self) -> str | None:
        """CacheState.eviction_risk, awaited: logged as a warning on the runtime's first connection."""
        try:
            reply = await asyncio.wait_for(self.call("CONFIG", "GET", "maxmemory*"), self.socket_timeout)
        except Exception as e:  # noqa: BLE001 - a check, never a failure
            log.debug("cache %s: cannot read its eviction policy (%s)", self.url.redacted(), e)
            return None
        conf = {_text(k): _text(v) for k, v in zip(reply[::2], reply[1::2], strict=True)}
        return eviction_risk(self.url, conf)

    async def _conn_with_room(self, key: str | None = None) -> Connection:
        """The connection for a command on ``key`` (one server: the connection), once it has room for one more."""
        conn = self._conn
        if conn is None or conn.lost is not None or conn.loop is not asyncio.get_running_loop():
            conn = await self.connection()
        await conn.room(self.max_in_flight)
        return conn

    # ------------------------------------------------------------ commands

    async def call(self, *args: Any) -> Any:
        """One command; its reply (an error reply raised)."""
        conn = self._conn
        if conn is None or conn.lost is not None or len(conn.waiting) >= self.max_in_flight or conn.loop is not asyncio.get_running_loop():
            conn = await self._conn_with_room()  # not the usual case (every hit is a call): no coroutine for it
        reply = await conn.request(_pack(args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _send_script(self, conn: Connection, script: Script, keys: list[str], args: list[Any], entry: asyncio.Future[Any] | OnReply) -> None:
        if script.sha not in conn.loaded:
            conn.send(_pack(("SCRIPT", "LOAD", script.source)), _ignore)
            conn.loaded.add(script.sha)
        conn.send(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)), entry)

    def _script_of(self, script: Script | str) -> Script:
        if isinstance(script, Script):
            return script
        known = self._sources.get(script)
        if known is None:
            known = self._sources[script] = Script(script)
        return known

    async def script(self, script: Script | str, keys: list[str], args: list[Any]) -> Any:
        """A script: EVALSHA, loaded first on this connection (and again if the server lost it)."""
        script = self._script_of(script)
        key = keys[0] if keys else None
        conn = self._conn if key is None else self._open(key)
        if conn is None or conn.lost is not None or len(conn.waiting) >= self.max_in_flight or conn.loop is not asyncio.get_running_loop():
            conn = await self._conn_with_room(key)  # not the usual case: no coroutine for it
        for _ in range(2):
            future = conn.loop.create_future()
            self._send_script(conn, script, keys, args, future)
            reply = await future
            if isinstance(reply, NoScriptError):
                conn.loaded.discard(script.sha)  # flushed by someone: loaded again with the next try
                continue
            if isinstance(reply, ResponseError):
                raise reply
            return reply
        raise reply

    async def pipelined(self, *commands: tuple[Any, ...], wait: bool = False) -> list[Any]:
        """Several commands in one round trip (a script as ``("EVALSHA", Script, keys, args)``). Raises the first error.
        ``wait``: replicas confirm them too (cache_wait_replicas: a WAIT in the same round trip)."""
        conn = await self._conn_with_room()
        if wait and self.waits:
            replies = await self._confirmed_exchange(conn, commands)
        else:
            replies = await self._exchange(conn, commands)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    async def _confirmed_exchange(self, conn: Connection, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``_exchange`` with a WAIT behind the commands; fewer replicas than needed raises ReplicationTimeout."""
        needed = await self._replicas_needed(conn)
        if not needed:
            return await self._exchange(conn, commands)
        wait = ("WAIT", needed, self.wait_timeout_ms)
        sent = [*commands, wait]
        futures = self._sent(conn, sent)
        replies = await self._replies(conn, sent, futures)
        acked = replies.pop()
        if any(f.done() and not f.cancelled() and isinstance(f.result(), NoScriptError) for f in futures):
            acked = await conn.request(_pack(wait))  # scripts run again after the first WAIT: confirmed again
        self._confirmed(conn, acked, needed)
        return replies

    async def _replicas_needed(self, conn: Connection) -> int:
        """How many replicas must confirm an invalidation sent on ``conn`` (cache_wait_replicas; "all": asked with ROLE,
        once per connection and again after a confirmation fell short)."""
        if self.wait_replicas != replication.ALL:
            return self.wait_replicas
        if conn.replicas is None:
            role = await conn.request(_pack(("ROLE",)))
            if isinstance(role, Exception):
                raise role
            conn.replicas = replication.connected(role)
        return conn.replicas

    def _confirmed(self, conn: Connection, acked: Any, needed: int) -> None:
        try:
            replication.check(acked, needed, self.url.redacted(), self.wait_timeout_ms)
        except Exception:
            conn.replicas = None  # a replica may have left: counted again next time
            raise

    async def _exchange(self, conn: Connection, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``commands`` sent together on ``conn``; their replies, an error reply as its exception (a script the server lost sent again)."""
        return await self._replies(conn, commands, self._sent(conn, commands))

    def _sent(self, conn: Connection, commands: Sequence[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        """Sends ``commands`` on ``conn``; the futures of their replies."""
        futures = []
        for c in commands:
            future = conn.loop.create_future()
            if c[0] == "EVALSHA" and isinstance(c[1], Script):
                self._send_script(conn, c[1], c[2], c[3], future)
            else:
                conn.send(_pack(c), future)
            futures.append(future)
        return futures

    async def _replies(self, conn: Connection, commands: Sequence[tuple[Any, ...]], futures: list[asyncio.Future[Any]]) -> list[Any]:
        """The replies of ``commands``, sent on ``conn`` (``_sent``)."""
        try:
            replies = [await f for f in futures]
        except BaseException:
            forget(futures)
            raise
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                c = commands[i]
                conn.loaded.discard(c[1].sha)
                replies[i] = await self.script(c[1], c[2], c[3])
        return replies

    def fill(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None:
        """A fill sent without waiting (the caller goes on with its rows); its reply is accounted when it comes. Never raises."""
        conn = self._open(keys[0])
        if conn is None or conn.lost is not None:
            return  # the read just before it failed over: the entry is filled by a later miss
        try:
            self._send_script(conn, script, keys, args, self._fill_reply(conn, script, keys, args, counters, retry=True))
        except Exception as e:  # noqa: BLE001 - fail open
            self.failed(e, counters)

    def _fill_reply(self, conn: Connection, script: Script, keys: list[str], args: list[Any], counters: Counters, retry: bool) -> OnReply:
        def reply(value: Any) -> None:
            if isinstance(value, NoScriptError) and retry and conn.lost is None:
                conn.loaded.discard(script.sha)
                self._send_script(conn, script, keys, args, self._fill_reply(conn, script, keys, args, counters, retry=False))
            elif isinstance(value, ResponseError):
                counters.cache_errors += 1
                self._refused(keys[0], value)
            elif isinstance(value, BaseException):
                self.failed(value, counters)  # the connection went: the fill's fate is unknown; its lock expires
            elif not value:
                counters.stale_fills_dropped += 1

        return reply

    async def fill_now(self, script: Script, keys: list[str], args: list[Any], counters: Counters) -> None:
        """A fill whose reply is awaited (defer_fills=False). Never raises."""
        try:
            if not await self.script(script, keys, args):
                counters.stale_fills_dropped += 1
        except Exception as e:  # noqa: BLE001 - fail open
            self.failed(e, counters)

    async def release(self, lock: str, token: Any) -> None:
        """Lets go of a lock, if it is still ``token``'s; never fails (a lock expires on its own)."""
        try:
            await self.script(RELEASE, [lock], [token])
        except Exception as e:  # noqa: BLE001 - the lock expires on its own
            self.failed(e)

    def _open(self, key: str) -> Connection | None:
        """The open connection for a command on ``key``, if there is one (no waiting: a fill goes now or not at all)."""
        return self._conn

    def in_flight(self) -> int:
        """Commands sent on this runtime's connection and not answered yet (fills sent without waiting included)."""
        conn = self._conn
        return 0 if conn is None else len(conn.waiting)

    async def settle(self) -> None:
        """Waits for the replies of every command sent so far (deferred fills too): a PING behind them."""
        conn = self._conn
        if conn is None or conn.lost is not None or not conn.waiting:
            return
        try:
            await conn.request(_pack(("PING",)))
        except Exception as e:  # noqa: BLE001 - the fills' fate is unknown; their locks expire
            self.failed(e)

    # ------------------------------------------------------------ invalidation (invalidation.py's steps)

    async def _invalidating(self, steps: Steps) -> Any:
        return await drive_async(steps, self._perform)

    async def _perform(self, effect: Any) -> Any:
        if type(effect) is Eval:
            return await self.script(effect.script, effect.keys, effect.args)
        if type(effect) is Call:
            return await self.call(*effect.args)
        if type(effect) is Pipe:
            return await self.pipelined(*effect.commands, wait=effect.wait)
        raise TypeError(f"not an effect of an invalidation: {effect!r}")

    async def delete(self, *keys: str) -> None:
        """Drops entries (with their locks and companion keys): invalidate() of one parameter set."""
        await self._invalidating(invalidation.delete(self, keys))

    async def incr(self, key: str) -> None:
        """Moves a query's generation: every entry of it, local copies too."""
        await self._invalidating(invalidation.incr(self, key))

    async def invalidate_tags(self, tags: list[str]) -> int:
        """Drops every entry registered under each tag, with its lock; returns how many."""
        count: int = await self._invalidating(invalidation.tags(self, tags))
        return count

    def unsettle(self, tags: Sequence[str] = (), generations: Sequence[str] = (), keys: Sequence[str] = ()) -> None:
        """Remembers invalidations that did not go through."""
        self.unsettled.add(tags, generations, keys)
        if self.near.stores:
            self.near.drop_queries(list(self.near.stores))

    async def serves(self, q: Any) -> bool:
        """Whether reads of accessor ``q`` may use the cache: no failed invalidation touches it
        (one that does is retried first, at most once per backoff period)."""
        if not self.unsettled.touches(q):
            return True
        if self.settle_due():
            await self.settle_invalidations()
        return not self.unsettled.touches(q)

    async def settle_invalidations(self) -> bool:
        """Makes the failed invalidations again; True when none is left."""
        done: bool = await self._invalidating(invalidation.settle(self))
        return done

    _replicas_said = False

    async def replica_read(self, read: Any, key: str, bound_ms: int) -> Any:
        """A hit's read (cache: replica_reads) from a replica, or None: the primary answers. One server has none (said once)."""
        if not self._replicas_said:
            self._replicas_said = True
            log.info("cache %s: one server, no replicas: hits of queries with replica_reads are read from it", self.url.redacted())
        return None

    async def close(self) -> None:
        """Waits for the replies still owed (a last fill's refusal is logged), then closes the connection."""
        if self.near._thread is not None:
            await asyncio.to_thread(self.near.close)
        else:
            self.near.close()
        conn = self._conn
        if conn is None:
            return
        if conn.loop is asyncio.get_running_loop():
            await self.settle()
        if conn.lost is None:
            conn.close(ValkeyConnectionError("the runtime closed"))
        self._conn = None


def forget(futures: list[asyncio.Future[Any]]) -> None:
    """Replies no one awaits any more (the connection failed, or the caller was cancelled): dropped when they come."""
    for f in futures:
        if f.done() and not f.cancelled():
            f.exception()  # retrieved: asyncio would log each as never retrieved
        else:
            f.cancel()  # its reply, if it comes, is dropped


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _ignore(reply: Any) -> None:
    """A SCRIPT LOAD's reply: its EVALSHA, right behind it, says whether it worked."""
