"""The Valkey side of a runtime behind Sentinel (``valkey+sentinel://``): the primary the sentinels name.

Every connection (each thread's own, the pooled client's, the near cache's) asks the
sentinels for the primary's address when it connects. At a failover the sentinels
close the clients of the old primary: a read fails over to the database (fail-open,
health.py) and the next connection reaches the new primary. A reply saying the server
became a replica (READONLY) drops the connection the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import valkey
from valkey.sentinel import Sentinel, SentinelConnectionPool

from flughafen.cache import CacheState, InOrder
from flughafen.config import CacheUrl
from flughafen.replicas import Replicas


class SentinelCacheState(CacheState):
    """CacheState on the primary a set of sentinels watch."""

    def _client(self, url: CacheUrl, socket_timeout: float, project_dir: Path | None) -> Any:
        kwargs: dict[str, Any] = {"username": url.username, "password": url.password}
        if url.tls:
            kwargs.update(ssl=True, ssl_ca_certs=url.ca_file, ssl_cert_reqs="required")
        timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        sentinels = Sentinel(list(url.nodes), sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
        pool = SentinelConnectionPool(url.service, sentinels, is_master=True, health_check_interval=0, **timeouts, **kwargs)  # type: ignore[no-untyped-call]
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

    def call(self, *args: Any) -> Any:
        try:
            return super().call(*args)
        except valkey.exceptions.ReadOnlyError:
            self._drop(self._conn_of(args))  # a primary turned replica: the next connection asks the sentinels
            raise
