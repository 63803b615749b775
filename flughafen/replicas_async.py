"""Hits read from replicas (``cache: replica_reads``) for an AsyncRuntime on a Valkey Cluster.

The same rules as replicas.py, which measures how far each replica is (``Freshness``):
a hit goes to a replica of its slot's primary only while that replica is known to hold
every write the primary made more than the bound ago, and anything else (a miss, no fit
replica, a replica that fails) sends the read to the primary's usual path. Each replica
has one pipelined connection (cache_async.Connection, shared by every task), opened with
READONLY; each primary one more, for INFO replication at most every ``REFRESH_S``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from libvalkey import pack_command as _pack
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import NoScriptError, ResponseError

from flughafen.cache_async import Connection, open_connection
from flughafen.config import CacheUrl
from flughafen.protocol import Call, Eval, Pipe
from flughafen.replicas import BACKOFF_S, REFRESH_S, Freshness, parse_info

log = logging.getLogger("flughafen")
_clock = time.monotonic


class AsyncReplicas:
    """One AsyncRuntime's replica reads on a cluster: freshness per primary, a connection per replica.

    ``primary_of(key)``: the address of the primary serving ``key``'s slot (None: the slot map is being read again);
    ``kwargs``: the connection arguments of the runtime's own connections (credentials, TLS).
    """

    def __init__(self, url: CacheUrl, kwargs: dict[str, Any], timeout: float, max_in_flight: int, primary_of: Callable[[str], str | None]):
        self.url, self.kwargs, self.timeout, self.max_in_flight = url, kwargs, timeout, max_in_flight
        self.primary_of = primary_of
        self._primaries: dict[str, Freshness] = {}
        self._conns: dict[str, Connection] = {}  # address -> open connection (replicas: READONLY; primaries: for INFO)
        self._failed: dict[str, float] = {}  # replica address -> left alone until then
        self._turn = itertools.count()

    async def read(self, effect: Call | Pipe | Eval, key: str, bound_ms: int) -> Any:
        """``effect``'s reply from a replica of ``key``'s primary at most ``bound_ms`` stale; None if none may answer. Never raises."""
        now = _clock()
        try:
            primary = self.primary_of(key)
            if primary is None:  # the primary's path reads the slot map first
                return None
            fresh = self._primaries.get(primary)
            if fresh is None:
                fresh = self._primaries.setdefault(primary, Freshness())
            if now - fresh.checked >= REFRESH_S:
                await self._refresh(primary, fresh, now)
        except Exception as e:  # noqa: BLE001 - the primary's path answers; it reports a cache that is down
            log.debug("cache %s: replicas not known (%s); hits from the primary", self.url.redacted(), e)
            return None
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
                return await self._send(address, effect)
            except Exception as e:  # noqa: BLE001 - the primary answers instead
                self._fail(address, e)
        return None

    async def _refresh(self, primary: str, fresh: Freshness, asked: float) -> None:
        """Asks the primary how far its replicas are; tasks that come meanwhile read with what is known."""
        fresh.checked = asked  # first: no other task asks too, and a primary that does not answer is asked again only after REFRESH_S
        try:
            text = await self._request(await self._conn(primary, readonly=False), ("INFO", "replication"))
        except BaseException:
            fresh.fresh_at, fresh.listed = {}, ()
            raise
        fresh.update(asked, parse_info(text.decode() if isinstance(text, bytes) else str(text)))

    async def _send(self, address: str, effect: Call | Pipe | Eval) -> Any:
        conn = await self._conn(address, readonly=True)
        if type(effect) is Call:
            return await self._request(conn, effect.args)
        if type(effect) is Pipe:
            futures = [conn.request(_pack(c)) for c in effect.commands]
            replies = [await f for f in futures]
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise reply
            return replies
        if type(effect) is Eval:
            command = ("EVALSHA", effect.script.sha, len(effect.keys), *effect.keys, *effect.args)
            try:
                return await self._request(conn, command)
            except NoScriptError:
                await self._request(conn, ("SCRIPT", "LOAD", effect.script.source))  # scripts are not replicated
                return await self._request(conn, command)
        raise TypeError(f"not a hit's read: {effect!r}")

    @staticmethod
    async def _request(conn: Connection, command: tuple[Any, ...]) -> Any:
        reply = await conn.request(_pack(command))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _conn(self, address: str, readonly: bool) -> Connection:
        conn = self._conns.get(address)
        if conn is not None and conn.lost is None and conn.loop is asyncio.get_running_loop():
            return conn
        host, _, port = address.rpartition(":")
        conn = await open_connection(self.kwargs, host, int(port), self.timeout, self.max_in_flight)
        if readonly:
            try:
                await self._request(conn, ("READONLY",))
            except BaseException as e:
                conn.close(e)
                raise
        old, self._conns[address] = self._conns.get(address), conn
        if old is not None and old.lost is None:
            old.close(ValkeyConnectionError("replaced"))
        return conn

    def _fail(self, address: str, error: Exception) -> None:
        """A replica that failed: its connection closed, left alone for BACKOFF_S (hits go to the primary)."""
        conn = self._conns.pop(address, None)
        if conn is not None and conn.lost is None:
            conn.close(ValkeyConnectionError("the replica failed"))
        self._failed[address] = _clock() + BACKOFF_S
        log.warning("cache %s: replica %s failed (%s); hits of its keys go to the primary for %.0f s", self.url.redacted(), address, error, BACKOFF_S)

    def close(self) -> None:
        for conn in self._conns.values():
            if conn.lost is None:
                conn.close(ValkeyConnectionError("the runtime closed"))
        self._conns.clear()
