"""The Valkey side of a runtime behind Sentinel (``valkey+sentinel://``): the primary the sentinels name.

Every connection (each thread's own, the pooled client's, the near cache's) asks the
sentinels for the primary's address when it connects. At a failover the sentinels
close the clients of the old primary: a read fails over to the database (fail-open,
health.py) and the next connection reaches the new primary. A reply saying the server
became a replica (READONLY) drops the connection the same way. When a connection
reaches another primary than the one before, the near cache drops every local copy
and tracks the new primary (near.py); its thread also asks the sentinels at every
heartbeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import valkey
from valkey.sentinel import Sentinel, SentinelConnectionPool

from flughafen.cache import CacheState, InOrder
from flughafen.config import CacheUrl
from flughafen.replicas import Replicas
from flughafen.tls import SentinelHostCheckedSSLConnection, tls_kwargs


class WatchedSentinel(Sentinel):
    """valkey-py's Sentinel client, which calls ``moved`` when the sentinels name another primary than before."""

    def __init__(self, nodes: list[tuple[str, int]], moved: Callable[[], None], **kwargs: Any):
        super().__init__(nodes, **kwargs)  # type: ignore[no-untyped-call]
        self._moved = moved
        self._last: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def discover_master(self, service_name: str) -> tuple[str, int]:
        address: tuple[str, int] = super().discover_master(service_name)  # type: ignore[no-untyped-call]
        with self._lock:
            before, self._last = self._last, address
        if before is not None and before != address:
            self._moved()
        return address


def primary_pool(url: CacheUrl, socket_timeout: float, moved: Callable[[], None]) -> tuple[WatchedSentinel, SentinelConnectionPool]:
    """The sentinels of ``url``, and a pool of connections to the primary they name (asked at each connect)."""
    kwargs: dict[str, Any] = {"username": url.username, "password": url.password, **tls_kwargs(url)}
    if url.tls:
        kwargs["connection_class"] = SentinelHostCheckedSSLConnection  # TLS, checking the name of the primary the sentinels name
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    sentinels = WatchedSentinel(list(url.nodes), moved, sentinel_kwargs=timeouts)
    pool = SentinelConnectionPool(url.service, sentinels, is_master=True, health_check_interval=0, **timeouts, **kwargs)  # type: ignore[no-untyped-call]
    return sentinels, pool


class SentinelCacheState(CacheState):
    """CacheState on the primary a set of sentinels watch."""

    def _client(self, url: CacheUrl, socket_timeout: float, project_dir: Path | None) -> Any:
        sentinels, pool = primary_pool(url, socket_timeout, self._primary_moved)
        self._sentinels = sentinels
        return InOrder(self.settle, connection_pool=pool)

    def _make_replicas(self) -> Replicas:
        self._placed: tuple[str, tuple[str, ...] | None] | None = None
        return Replicas(self.url, self.socket_timeout, lambda key: self._placed, self._ask_sentinels)

    def _ask_sentinels(self) -> None:
        """The primary and its replicas as the sentinels name them now (SENTINEL REPLICAS: those not down)."""
        pool = self.client.connection_pool
        manager, service = pool.sentinel_manager, pool.service_name
        try:
            host, port = manager.discover_master(service)
            replicas = manager.discover_slaves(service)
        except Exception:
            self._placed = None
            raise
        self._placed = (f"{host}:{port}", tuple(f"{h}:{p}" for h, p in replicas))

    def _primary_moved(self) -> None:
        near = getattr(self, "near", None)  # None: still in the constructor
        if near is not None:
            near.moved()

    def _near_connection(self) -> Any:
        if self.near.primary is None:
            service = self.url.service
            assert service is not None
            self.near.primary = lambda: self._sentinels.discover_master(service)
        return super()._near_connection()

    def call(self, *args: Any) -> Any:
        try:
            return super().call(*args)
        except valkey.exceptions.ReadOnlyError:
            self._drop(self._conn_of(args))  # a primary turned replica: the next connection asks the sentinels
            raise
