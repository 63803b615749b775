"""Hits read from replicas (``cache: replica_reads: 2s``), at most that stale, on a Valkey Cluster or behind Sentinel
(the sync runtime; replicas_async.py is the asyncio runtime's, on a cluster).

A query that opts in reads its hit from a replica of the primary serving its key
when that replica is known to hold every write the primary made more than the bound
ago. Anything else (a miss there, no fit replica, a replica that fails) sends the
read to the primary's usual path: the lock or lease, the fill. A replica never takes a
lock, never stores a fill, and its failure is no cache failure (the primary answers).

How fresh a replica is, measured cheaply: at most every ``REFRESH_S`` per primary, one
thread of the process sends INFO replication to the primary and notes the time it sent
it (``t``) and the primary's replication offset (``P``); the primary lists each replica
with its state and the offset it last acknowledged (``O``; a replica acknowledges about
once a second). A replica that acknowledged ``O`` holds every write the primary made
before the latest noted ``t`` whose ``P`` is at most ``O``: that ``t`` is its
freshness, and it may answer while ``now - t`` is within the bound. A replica whose
link is down is not listed (or not ``online``): never used. So, writes going on, a
replica trails by about a second plus ``REFRESH_S``: bounds under two seconds rarely
find one fit. Where reads are sparse (fewer than one per ``REFRESH_S``), the first
read after a pause goes to the primary while the measure catches up.

The entry's lifetime is capped at the bound (accessor.ttl_ms), so an invalidation a
replica missed (its link down at the time, a lost write) is outlived by no more than
the bound either. Stale copies (``stale_if_error``) are read from primaries only.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import valkey
from libvalkey import pack_command as _pack

from flughafen.config import CacheUrl
from flughafen.protocol import Call, Eval, Pipe
from flughafen.scripts import Script
from flughafen.tls import connection_class, tls_kwargs

log = logging.getLogger("flughafen")

REFRESH_S = 0.1  # how often (at most) a process asks a primary how far its replicas are
HISTORY_S = 120.0  # how long samples of a primary's offset are kept: a replica acknowledging an older one is not used
BACKOFF_S = 5.0  # a replica that failed is left alone this long
_clock = time.monotonic


class Freshness:
    """What one process knows of one primary's replicas: since when each holds every write.

    >>> def info(offset, acked, state="online"):
    ...     return {"master_replid": "a", "master_repl_offset": str(offset),
    ...             "slave0": {"ip": "10.0.0.2", "port": "6379", "state": state, "offset": str(acked)}}
    >>> f = Freshness()
    >>> f.update(10.0, info(100, 100)); f.fresh_at
    {'10.0.0.2:6379': 10.0}
    >>> f.update(10.1, info(150, 120)); f.fresh_at  # writes it lacks were made after 10.0
    {'10.0.0.2:6379': 10.0}
    >>> f.update(10.2, info(150, 150)); f.fresh_at
    {'10.0.0.2:6379': 10.2}
    >>> f.update(10.3, info(150, 150, state="wait_bgsave")); f.fresh_at  # its link is not up: never used
    {}
    """

    __slots__ = ("checked", "fresh_at", "listed", "lock", "replid", "samples")

    def __init__(self) -> None:
        self.checked = float("-inf")  # when the primary was last asked
        self.fresh_at: dict[str, float] = {}  # replica address -> it holds every write the primary made before this time
        self.listed: tuple[str, ...] = ()  # the replicas the primary lists online, by address
        self.samples: deque[tuple[float, int]] = deque()  # (time asked, the primary's offset then), oldest first
        self.replid = ""
        self.lock = threading.Lock()

    def update(self, asked: float, info: dict[str, Any]) -> None:
        """The primary's INFO replication, asked at ``asked`` (before it was sent)."""
        if info.get("master_replid") != self.replid:  # another primary (a failover): offsets start anew
            self.replid = str(info.get("master_replid"))
            self.samples.clear()
        self.samples.append((asked, int(info.get("master_repl_offset", 0))))
        while self.samples and self.samples[0][0] < asked - HISTORY_S:
            self.samples.popleft()
        fresh: dict[str, float] = {}
        for address, offset in online_replicas(info).items():
            since = [t for t, p in self.samples if p <= offset]
            if since:
                fresh[address] = since[-1]
        self.fresh_at, self.listed = fresh, tuple(fresh)
        self.checked = asked


def parse_info(text: str) -> dict[str, Any]:
    """INFO's ``name:value`` lines; a replica's line (``slave0:ip=..,port=..``) as a dict.

    >>> parse_info("# Replication\\r\\nrole:master\\r\\nslave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\\r\\n")["slave0"]["port"]
    '7001'
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep or name.startswith("#"):
            continue
        out[name] = dict(part.split("=", 1) for part in value.split(",") if "=" in part) if name.startswith("slave") and "=" in value else value
    return out


def online_replicas(info: dict[str, Any]) -> dict[str, int]:
    """``ip:port`` -> acknowledged offset of each replica the primary lists as online.

    >>> online_replicas({"slave0": {"ip": "127.0.0.1", "port": "7001", "state": "online", "offset": "42"},
    ...                  "slave1": {"ip": "127.0.0.1", "port": "7002", "state": "wait_bgsave", "offset": "0"}})
    {'127.0.0.1:7001': 42}
    """
    return {
        f"{r['ip']}:{r['port']}": int(r["offset"])
        for name, r in info.items()
        if name.startswith("slave") and isinstance(r, dict) and r.get("state") == "online" and "offset" in r
    }


class Replicas:
    """One runtime's replica reads: freshness per primary, each thread's connections to replicas.

    ``placement(key)``: the address of the primary serving ``key`` and those of the replicas that may answer
    (None: any the primary lists online), or None when not known now;
    ``refreshed()``: called before a primary is asked, to update that knowledge (Sentinel asks the sentinels then).
    """

    def __init__(
        self,
        url: CacheUrl,
        socket_timeout: float,
        placement: Callable[[str], tuple[str, tuple[str, ...] | None] | None],
        refreshed: Callable[[], None] = lambda: None,
        readonly: bool = False,
    ):
        self.url = url
        self.timeout = socket_timeout
        self.placement = placement
        self.refreshed = refreshed
        self.readonly = readonly  # a cluster's replicas answer reads of their slots only after READONLY
        self._primaries: dict[str, Freshness] = {}
        self._probes: dict[str, Any] = {}  # primary address -> connection for INFO (used under its Freshness lock)
        self._failed: dict[str, float] = {}  # replica address -> left alone until then
        self._local = threading.local()
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()
        self._turn = itertools.count()
        self._asked = float("-inf")  # when ``refreshed`` was last called for want of a placement

    def read(self, effect: Call | Pipe | Eval, key: str, bound_ms: int) -> Any:
        """``effect``'s reply from a replica of ``key``'s primary at most ``bound_ms`` stale; None if none may answer. Never raises."""
        now = _clock()
        try:
            where = self.placement(key)
            if where is None:  # Sentinel, before the sentinels were first asked (or after they failed)
                if now - self._asked < REFRESH_S:
                    return None
                self._asked = now
                self.refreshed()
                where = self.placement(key)
                if where is None:
                    return None
            primary, replicas = where
            fresh = self._primaries.get(primary)
            if fresh is None:
                fresh = self._primaries.setdefault(primary, Freshness())
            if now - fresh.checked >= REFRESH_S:
                self._refresh(primary, fresh)
                where = self.placement(key)  # Sentinel: what the sentinels said just now
                if where is None or where[0] != primary:
                    return None
                replicas = where[1]
        except Exception as e:  # noqa: BLE001 - the primary's path answers; it reports a cache that is down
            log.debug("cache %s: replicas not known (%s); hits from the primary", self.url.redacted(), e)
            return None
        if replicas is None:
            replicas = fresh.listed
        if not replicas:
            return None
        oldest = now - bound_ms / 1000
        start = next(self._turn)
        for i in range(len(replicas)):
            address = replicas[(start + i) % len(replicas)]
            if fresh.fresh_at.get(address, float("-inf")) < oldest or self._failed.get(address, 0.0) > now:
                continue
            try:
                return self._send(address, effect)
            except Exception as e:  # noqa: BLE001 - the primary answers instead
                self._fail(address, e)
        return None

    def _refresh(self, primary: str, fresh: Freshness) -> None:
        """Asks the primary how far its replicas are; one thread at a time (the others read with what is known)."""
        if not fresh.lock.acquire(blocking=False):
            return
        try:
            asked = _clock()
            if asked - fresh.checked < REFRESH_S:
                return
            fresh.checked = asked  # a primary that does not answer is asked again only after REFRESH_S
            self.refreshed()
            conn = self._probes.get(primary)
            if conn is None:
                conn = self._probes[primary] = self._connect(primary, readonly=False)
            try:
                text = self._roundtrip(conn, [("INFO", "replication")])[0]
            except Exception:
                conn.disconnect()
                del self._probes[primary]
                fresh.fresh_at = {}
                raise
            fresh.update(asked, parse_info(text.decode() if isinstance(text, bytes) else str(text)))
        finally:
            fresh.lock.release()

    def _send(self, address: str, effect: Call | Pipe | Eval) -> Any:
        conn = self._conn(address)
        if type(effect) is Call:
            return self._roundtrip(conn, [effect.args])[0]
        if type(effect) is Pipe:
            return self._roundtrip(conn, effect.commands)
        if type(effect) is Eval:
            script: Script = effect.script
            command = ("EVALSHA", script.sha, len(effect.keys), *effect.keys, *effect.args)
            try:
                return self._roundtrip(conn, [command])[0]
            except valkey.exceptions.NoScriptError:
                self._roundtrip(conn, [("SCRIPT", "LOAD", script.source)])  # scripts are not replicated: each replica loads its own
                return self._roundtrip(conn, [command])[0]
        raise TypeError(f"not a hit's read: {effect!r}")

    def _roundtrip(self, conn: Any, commands: Any) -> list[Any]:
        """Commands in one round trip; raises the first error a command returned (the connection stays)."""
        packed = [("EVALSHA", c[1].sha, len(c[2]), *c[2], *c[3]) if c[0] == "EVALSHA" and isinstance(c[1], Script) else c for c in commands]
        try:
            if conn._sock is None:
                conn.connect()
            conn._sock.sendall(b"".join(_pack(c) for c in packed))
            replies = [conn._parser.read_response() for _ in packed]
        except BaseException:
            conn.disconnect()
            raise
        for reply in replies:
            if isinstance(reply, valkey.exceptions.ResponseError):
                raise reply
        return replies

    def _conn(self, address: str) -> Any:
        conns: dict[str, Any] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(address)
        if conn is None:
            conn = conns[address] = self._connect(address, self.readonly)
        return conn

    def _connect(self, address: str, readonly: bool) -> Any:
        host, _, port = address.rpartition(":")
        kwargs: dict[str, Any] = {
            "host": host,
            "port": int(port),
            "username": self.url.username,
            "password": self.url.password,
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
        }
        if not self.url.cluster:
            kwargs["db"] = self.url.db
        kwargs.update(tls_kwargs(self.url))
        kwargs.pop("ssl", None)  # the class brings TLS, checking the name of the replica as the primary or the sentinels name it
        conn = connection_class(self.url)(**kwargs)
        conn.connect()
        if readonly:
            self._roundtrip(conn, [("READONLY",)])
        self._all.add(conn)
        return conn

    def _fail(self, address: str, error: Exception) -> None:
        """A replica that failed: its connection dropped, left alone for BACKOFF_S (hits go to the primary)."""
        conn = getattr(self._local, "conns", {}).pop(address, None)
        if conn is not None:
            conn.disconnect()
        self._failed[address] = _clock() + BACKOFF_S
        log.warning("cache %s: replica %s failed (%s); hits of its keys go to the primary for %.0f s", self.url.redacted(), address, error, BACKOFF_S)

    def close(self) -> None:
        for conn in list(self._all):
            conn.disconnect()
        self._probes.clear()
