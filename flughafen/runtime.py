"""Runtime: the database pool, the Valkey client and the metrics an application's accessors share.

``default_runtime()`` builds one from configuration on first use;
``configure(...)`` replaces it; tests and services may also pass a Runtime
to every accessor call explicitly.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from flughafen.bypass import Bypass
from flughafen.cache import CacheState
from flughafen.config import CacheUrl, Config, load_config, parse_cache_url, use_buckets
from flughafen.db import Database
from flughafen.keys import Keyspace, keyspace
from flughafen.metrics import Metrics

log = logging.getLogger("flughafen")


def cache_state(url: CacheUrl, socket_timeout: float, near_cache: bool, defer_fills: bool, project_dir: Path | None, space: Keyspace) -> CacheState:
    """The Valkey side of a runtime: one server, a Valkey Cluster (``valkey+cluster://``), or the primary behind Sentinel."""
    if url.sentinel:
        from flughafen.sentinel import SentinelCacheState

        return SentinelCacheState(url, socket_timeout, near_cache, defer_fills, project_dir, keyspace=space)
    if url.cluster:
        from flughafen.cluster import ClusterCacheState

        return ClusterCacheState(url, socket_timeout, near_cache, defer_fills, project_dir, keyspace=space)
    return CacheState(url, socket_timeout, near_cache, defer_fills, project_dir, keyspace=space)


class Runtime:
    def __init__(self, config: Config, socket_timeout: float = 0.25, stale_if_error: int = 0, near_cache: bool = True, defer_fills: bool = True):
        use_buckets(config)
        self.config = config
        # Seconds a copy of each entry outlives its TTL, served (flagged) when the database fails.
        self.stale_if_error = stale_if_error
        # Every key of this runtime is in this namespace (keys.py): by default the database's own.
        self.keyspace = keyspace(config.namespace)
        log.info("%s", config.describe())
        self.db = Database(config.database_url)
        # near_cache=False: near-cached queries read Valkey every time, like the others.
        # defer_fills=False: a miss waits for its fill's reply (see CacheState.fill).
        self.cache = cache_state(config.cache_url, socket_timeout, near_cache, defer_fills, config.project_dir, self.keyspace)
        self.cache.wait_for_replicas(config.cache_wait_replicas, socket_timeout)
        self.metrics = Metrics()
        self._published: dict[str, dict[str, float]] = {}

    @classmethod
    def from_config(
        cls,
        database_url: str | None = None,
        cache_url: str | None = None,
        project_dir: Any = None,
        socket_timeout: float = 0.25,
        stale_if_error: int = 0,
        near_cache: bool = True,
        defer_fills: bool = True,
        cache_namespace: str | None = None,
        cache_wait_replicas: int | str | None = None,
    ) -> Runtime:
        config = load_config(database_url, cache_url, project_dir, cache_namespace, cache_wait_replicas)
        return cls(config, socket_timeout, stale_if_error, near_cache, defer_fills)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def bypass(self) -> Bypass:
        """``with runtime.bypass():`` every read of this runtime in the block, in this thread,
        queries the database: no cache read, nothing stored (see flughafen/bypass.py)."""
        return Bypass(self)

    def publish_metrics(self) -> None:
        """Add this process's counters since the last call to the shared ``fg:<ns>:stats:<name>`` hashes."""
        if self.cache.off:
            return  # cache_url = "off": no server to publish to
        current = self.metrics.snapshot()
        try:
            pipe = self.cache.client.pipeline(transaction=False)
            for name, counters in current.items():
                before = self._published.get(name, {})
                for field, value in counters.items():
                    delta = value - before.get(field, 0)
                    if delta:
                        pipe.hincrbyfloat(self.keyspace.stats_key(name), field, delta)
            pipe.execute()
            self._published = current
        except Exception as e:  # noqa: BLE001 - statistics must never fail the application
            self.cache.failed(e)

    def close(self) -> None:
        self.publish_metrics()
        self.db.close()
        self.cache.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Runtime(database={self.config.database_url.redacted()!r}, cache={self.config.cache_url.redacted()!r}, namespace={self.keyspace.namespace!r})"


_default_lock = threading.Lock()
_default: Runtime | None = None


def default_runtime() -> Runtime:
    global _default
    rt = _default
    if rt is None:
        with _default_lock:
            if _default is None:
                _default = Runtime.from_config()
            rt = _default
    return rt


def configure(database_url: str | None = None, cache_url: str | None = None, **kwargs: Any) -> Runtime:
    """Replace the process's default runtime."""
    global _default
    with _default_lock:
        old, _default = _default, Runtime.from_config(database_url, cache_url, **kwargs)
    if old is not None:
        old.close()
    return _default


def invalidate_tag(tag: str, runtime: Runtime | None = None) -> int:
    """Drop every entry registered under ``tag``, across all queries. Returns how many."""
    return invalidate_tags([tag], runtime)


def invalidate_tags(tags: list[str], runtime: Runtime | None = None) -> int:
    """Drop every entry registered under each of ``tags``, across all queries. Returns how many."""
    rt = runtime if runtime is not None else default_runtime()
    return rt.cache.invalidate_tags(sorted(set(tags)))


__all__ = ["CacheState", "Runtime", "configure", "default_runtime", "invalidate_tag", "invalidate_tags", "parse_cache_url"]
