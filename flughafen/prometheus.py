"""Accessor counters for Prometheus, through prometheus_client (the ``metrics`` extra).

    from prometheus_client import REGISTRY, start_http_server
    from flughafen import default_runtime
    from flughafen.prometheus import register

    register(default_runtime())   # every accessor's counters, labelled accessor="<spec name>"
    start_http_server(9100)

The counters are read when Prometheus scrapes, from the runtime's own per-process
counters: nothing is added to the hit path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flughafen.extras import require
from flughafen.metrics import Counters, Metrics

# What each counter counts, shown as the metric's HELP.
HELP: dict[str, str] = {
    "hits": "Reads answered from the cache (Valkey or the near cache).",
    "near_hits": "Reads answered from the process's near cache, without a round trip.",
    "replica_hits": "Hits read from a replica (cache: replica_reads); counted in hits too.",
    "misses": "Reads the cache could not answer.",
    "stale_fills_dropped": "Fills not stored because an invalidation came first.",
    "lock_waits": "Pauses of a reader waiting for another's fill of the same entry.",
    "early_refreshes": "Entries refreshed before expiry (stampede: early).",
    "refreshes": "Reads asked to refresh their entry (refresh=True): the database's value stored anew.",
    "bypassed": "Reads asked to skip the cache (cache=False, runtime.bypass()); counted as misses too.",
    "stale_served": "Reads answered with the last cached value because the database failed.",
    "cache_errors": "Cache operations that failed; the database answered instead.",
    "db_queries": "Queries sent to the database.",
    "db_seconds": "Seconds spent in database queries.",
    "cache_seconds": "Seconds spent in cache reads.",
}


class Collector:
    """A prometheus_client collector of one runtime's (or Metrics') counters; one counter family per field."""

    def __init__(self, source: Any) -> None:
        self._metrics: Metrics = source if isinstance(source, Metrics) else source.metrics

    def collect(self) -> Iterator[Any]:
        core = require("prometheus_client.core", "flughafen.prometheus")
        counters = self._metrics.snapshot()
        for field in Counters.__dataclass_fields__:
            family = core.CounterMetricFamily(f"flughafen_{field}", HELP.get(field, field.replace("_", " ")), labels=["accessor"])
            for name, values in counters.items():
                family.add_metric([name], values[field])
            yield family

    def describe(self) -> list[Any]:
        return []  # collected on every scrape: the accessors are not known in advance


def register(source: Any, registry: Any = None) -> Collector:
    """Register a Collector of ``source`` (a Runtime or Metrics) with ``registry`` (default: prometheus_client's)."""
    client = require("prometheus_client", "flughafen.prometheus")
    collector = Collector(source)
    (registry if registry is not None else client.REGISTRY).register(collector)
    return collector
