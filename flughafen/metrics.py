"""Per-accessor counters: hits, misses, errors and the time spent in the database and the cache.

Plain integer and float increments under the GIL: cheap enough for the hit path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Counters:
    hits: int = 0
    near_hits: int = 0  # hits served from the process's near cache, without Valkey
    replica_hits: int = 0  # hits read from a replica (cache: replica_reads), counted in hits too
    misses: int = 0
    stale_fills_dropped: int = 0  # fills refused because an invalidation came first
    lock_waits: int = 0
    early_refreshes: int = 0
    refreshes: int = 0  # reads asked to refresh (refresh=True): the database's value stored anew
    bypassed: int = 0  # reads asked to skip the cache (cache=False, runtime.bypass()): counted as misses too
    stale_served: int = 0  # database failed; the last cached value was served (stale_if_error)
    cache_errors: int = 0
    db_queries: int = 0
    db_seconds: float = 0.0
    cache_seconds: float = 0.0


class Metrics:
    def __init__(self) -> None:
        self._by_name: dict[str, Counters] = {}

    def of(self, name: str) -> Counters:
        c = self._by_name.get(name)
        if c is None:
            c = self._by_name.setdefault(name, Counters())
        return c

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {name: asdict(c) for name, c in sorted(self._by_name.items())}
