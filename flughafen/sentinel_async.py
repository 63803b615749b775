"""The Valkey side of an AsyncRuntime behind Sentinel (``valkey+sentinel://``): the primary the sentinels name.

As sentinel.py for the sync runtime. Each (re)connect of the runtime's one pipelined
connection first asks the sentinels (in the URL's order, over async connections of
their own: nothing blocks the loop) for the primary's address, then checks that the
server there says it is a primary (ROLE). A lost connection (the sentinels close the
old primary's clients at a failover; a killed primary) fails the reads over to the
database (fail-open, health.py), and the next connect asks again. A READONLY reply
(the server became a replica) closes the connection, so the next connect asks too.
Reaching another primary than before drops every local copy of the near cache,
whose thread tracks the new one (near.py; its connections are sync ones, on its
own thread, asking the sentinels through valkey-py). Hits of queries with
``replica_reads`` may be read from the replicas of the primary the runtime reached
(replicas_async.py), as on a cluster.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from libvalkey import pack_command as _pack
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ReadOnlyError

from flughafen.cache_async import MAX_IN_FLIGHT, AsyncCacheState, Connection, open_connection
from flughafen.config import CacheUrl
from flughafen.keys import Keyspace
from flughafen.replicas_async import AsyncReplicas
from flughafen.scripts import Script
from flughafen.tls import tls_kwargs


class AsyncSentinelCacheState(AsyncCacheState):
    """AsyncCacheState on the primary a set of sentinels watch (see the module's docstring)."""

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
        super().__init__(url, socket_timeout, near_cache, defer_fills, max_in_flight, project_dir, keyspace=keyspace)
        self._kwargs = {"username": url.username, "password": url.password, **tls_kwargs(url)}
        self._primary: tuple[str, int] | None = None  # where the last connection went
        self._sync_pool: Any = None  # the near cache's, made on its thread

    async def primary_address(self) -> tuple[str, int]:
        """The primary's (host, port), from the first sentinel that names one."""
        service = self.url.service
        assert service is not None
        errors = []
        for host, port in self.url.nodes:
            try:
                conn = await open_connection({}, host, port, self.socket_timeout, self.max_in_flight)
            except (ValkeyConnectionError, OSError, TimeoutError) as e:
                errors.append(f"{host}:{port}: {type(e).__name__}: {e}")
                continue
            try:
                reply = await asyncio.wait_for(conn.request(_pack(("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service))), self.socket_timeout)
            except (ValkeyConnectionError, OSError, TimeoutError) as e:
                errors.append(f"{host}:{port}: {type(e).__name__}: {e}")
                continue
            finally:
                conn.close(ValkeyConnectionError("asked"))
            if isinstance(reply, list) and len(reply) == 2:
                return reply[0].decode(), int(reply[1])
            errors.append(f"{host}:{port}: {reply!r}")
        raise ValkeyConnectionError(f"no sentinel names a primary for {service!r}: {'; '.join(errors) or 'no sentinel in the URL'}")

    async def _open_server(self) -> Connection:
        host, port = await self.primary_address()
        conn = await open_connection(self._kwargs, host, port, self.socket_timeout, self.max_in_flight)
        try:
            role = await asyncio.wait_for(conn.request(_pack(("ROLE",))), self.socket_timeout)
        except BaseException as e:
            conn.close(e)
            raise
        if isinstance(role, Exception) or not role or role[0] != b"master":
            conn.close(ValkeyConnectionError("not the primary"))
            raise ValkeyConnectionError(f"{host}:{port}, the primary of {self.url.service!r} for the sentinels, says it is not one: {role!r}")
        before, self._primary = self._primary, (host, port)
        if before is not None and before != (host, port):
            self.near.moved()
        return conn

    def _sync_connection(self) -> Any:
        """A near cache connection (on its thread): valkey-py's, to the primary the sentinels name."""
        if self._sync_pool is None:
            from flughafen.sentinel import primary_pool

            sentinels, self._sync_pool = primary_pool(self.url, self.socket_timeout, self.near.moved)
            service = self.url.service
            assert service is not None
            self.near.primary = lambda: sentinels.discover_master(service)
        return self._sync_pool.make_connection()

    # ------------------------------------------------------------ hits from replicas

    _replicas: AsyncReplicas | None = None

    async def replica_read(self, read: Any, key: str, bound_ms: int) -> Any:
        """A hit's read (cache: replica_reads) from a replica of the primary reached, or None: the primary answers (replicas_async.py)."""
        replicas = self._replicas
        if replicas is None:
            replicas = self._replicas = AsyncReplicas(self.url, self._kwargs, self.socket_timeout, self.max_in_flight, self._primary_reached)
        return await replicas.read(read, key, bound_ms)

    def _primary_reached(self, key: str) -> str | None:
        """The primary the runtime's connection reached last (None before the first): its replicas may serve a hit."""
        return None if self._primary is None else f"{self._primary[0]}:{self._primary[1]}"

    # ------------------------------------------------------------ a primary turned replica

    def _demoted(self, error: BaseException) -> None:
        """A READONLY reply: the connection goes, the next one asks the sentinels."""
        conn = self._conn
        if conn is not None and conn.lost is None:
            conn.close(ValkeyConnectionError(f"the server became a replica ({error})"))

    def _refused(self, key: str, error: Exception) -> None:
        if isinstance(error, ReadOnlyError):
            self._demoted(error)
        super()._refused(key, error)

    async def call(self, *args: Any) -> Any:
        try:
            return await super().call(*args)
        except ReadOnlyError as e:
            self._demoted(e)
            raise

    async def script(self, script: Script | str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await super().script(script, keys, args)
        except ReadOnlyError as e:
            self._demoted(e)
            raise

    async def pipelined(self, *commands: tuple[Any, ...], wait: bool = False) -> list[Any]:
        try:
            return await super().pipelined(*commands, wait=wait)
        except ReadOnlyError as e:
            self._demoted(e)
            raise

    async def close(self) -> None:
        await super().close()
        if self._replicas is not None:
            self._replicas.close()
        if self._sync_pool is not None:
            self._sync_pool.disconnect()
