"""AsyncRuntime: the async database pool, the pipelined Valkey connection (one per node on a cluster) and the metrics an application's async accessors share.

Made and closed in the event loop that uses it (as its drivers' pools must be)::

    async with AsyncRuntime.from_config() as rt:      # or: rt = AsyncRuntime.from_config(); ...; await rt.close()
        rows = await flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt)

Accessors called without ``runtime=`` use the running loop's default: the one
``configure(...)`` set in that loop, else one built from configuration on first
use (close it with ``await default_async_runtime().close()``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from types import TracebackType
from typing import Any

from flughafen.bypass import Bypass
from flughafen.cache_async import MAX_IN_FLIGHT, AsyncCacheState
from flughafen.config import CacheUrl, Config, load_config, use_buckets
from flughafen.db_async import DEFAULT_TIMEOUT, AsyncDatabase
from flughafen.keys import Keyspace, keyspace
from flughafen.metrics import Metrics

log = logging.getLogger("flughafen")


def cache_state(url: CacheUrl, *args: Any, keyspace: Keyspace) -> AsyncCacheState:
    """The Valkey side of an AsyncRuntime: one server's pipelined connection, one per node of a Valkey Cluster,
    or one to the primary behind Sentinel."""
    if url.sentinel:
        from flughafen.sentinel_async import AsyncSentinelCacheState

        return AsyncSentinelCacheState(url, *args, keyspace=keyspace)
    if url.cluster:
        from flughafen.cluster_async import AsyncClusterCacheState

        return AsyncClusterCacheState(url, *args, keyspace=keyspace)
    return AsyncCacheState(url, *args, keyspace=keyspace)


class AsyncRuntime:
    def __init__(
        self,
        config: Config,
        socket_timeout: float = 0.25,
        stale_if_error: int = 0,
        near_cache: bool = True,
        defer_fills: bool = True,
        pool_size: int = 8,
        database_timeout: float = DEFAULT_TIMEOUT,
        max_in_flight: int = MAX_IN_FLIGHT,
    ):
        use_buckets(config)
        self.config = config
        # Seconds a copy of each entry outlives its TTL, served (flagged) when the database fails.
        self.stale_if_error = stale_if_error
        # Every key of this runtime is in this namespace (keys.py): by default the database's own.
        self.keyspace = keyspace(config.namespace)
        log.info("%s", config.describe())
        self.db = AsyncDatabase(config.database_url, pool_size, database_timeout)
        self.cache = cache_state(config.cache_url, socket_timeout, near_cache, defer_fills, max_in_flight, config.project_dir, keyspace=self.keyspace)
        self.cache.wait_for_replicas(config.cache_wait_replicas, socket_timeout)
        self.metrics = Metrics()
        self._published: dict[str, dict[str, float]] = {}

    @classmethod
    def from_config(
        cls,
        database_url: str | None = None,
        cache_url: str | None = None,
        project_dir: Any = None,
        cache_namespace: str | None = None,
        cache_wait_replicas: int | str | None = None,
        **kwargs: Any,
    ) -> AsyncRuntime:
        """As Runtime.from_config; also ``pool_size`` (database connections), ``database_timeout``
        (seconds to wait for one) and ``max_in_flight`` (Valkey commands awaiting replies at once)."""
        return cls(load_config(database_url, cache_url, project_dir, cache_namespace, cache_wait_replicas), **kwargs)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def bypass(self) -> Bypass:
        """``with runtime.bypass():`` every read of this runtime in the block, in this task (and the
        tasks it starts there), queries the database: no cache read, nothing stored. A plain ``with``:
        it does no I/O, and a contextvar keeps it to the task (see flughafen/bypass.py)."""
        return Bypass(self)

    async def publish_metrics(self) -> None:
        """Add this process's counters since the last call to the shared ``fg:<ns>:stats:<name>`` hashes."""
        if self.cache.off:
            return
        current = self.metrics.snapshot()
        commands: list[tuple[Any, ...]] = []
        for name, counters in current.items():
            before = self._published.get(name, {})
            for field, value in counters.items():
                delta = value - before.get(field, 0)
                if delta:
                    commands.append(("HINCRBYFLOAT", self.keyspace.stats_key(name), field, delta))
        try:
            if commands:
                await self.cache.pipelined(*commands)
            self._published = current
        except Exception as e:  # noqa: BLE001 - statistics must never fail the application
            self.cache.failed(e)

    async def close(self) -> None:
        await self.publish_metrics()
        await self.db.close()
        await self.cache.close()

    async def __aenter__(self) -> AsyncRuntime:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"AsyncRuntime(database={self.config.database_url.redacted()!r}, cache={self.config.cache_url.redacted()!r}, namespace={self.keyspace.namespace!r})"
        )


_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRuntime] = weakref.WeakKeyDictionary()


def default_async_runtime() -> AsyncRuntime:
    """The running event loop's default AsyncRuntime, built from configuration on first use."""
    loop = asyncio.get_running_loop()
    rt = _defaults.get(loop)
    if rt is None:
        rt = _defaults[loop] = AsyncRuntime.from_config()
    return rt


async def configure(database_url: str | None = None, cache_url: str | None = None, **kwargs: Any) -> AsyncRuntime:
    """Replace the running loop's default AsyncRuntime (the old one is closed)."""
    loop = asyncio.get_running_loop()
    old = _defaults.get(loop)
    _defaults[loop] = AsyncRuntime.from_config(database_url, cache_url, **kwargs)
    if old is not None:
        await old.close()
    return _defaults[loop]


async def invalidate_tag(tag: str, runtime: AsyncRuntime | None = None) -> int:
    """Drop every entry registered under ``tag``, across all queries. Returns how many."""
    return await invalidate_tags([tag], runtime)


async def invalidate_tags(tags: list[str], runtime: AsyncRuntime | None = None) -> int:
    """Drop every entry registered under each of ``tags``, across all queries. Returns how many."""
    rt = runtime if runtime is not None else default_async_runtime()
    return await rt.cache.invalidate_tags(sorted(set(tags)))
