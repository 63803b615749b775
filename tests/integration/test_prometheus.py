"""The accessors' counters as Prometheus metrics: valid OpenMetrics, parsed back, and true to what happened."""

from __future__ import annotations

import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from flughafen import Runtime
from flughafen.prometheus import HELP, register
from generated import flight_search


def test_a_miss_then_a_hit_is_scraped_as_valid_openmetrics(runtime: Runtime) -> None:
    registry = CollectorRegistry()
    register(runtime, registry)
    flight_search.invalidate_all(runtime=runtime)
    before = runtime.metrics.snapshot().get("flight_search", {})
    for _ in range(2):
        flight_search.fetch(origin="JFK", destination="LAX", day=datetime.date(2024, 12, 15), runtime=runtime)

    families = {f.name: f for f in parse_openmetrics(generate_openmetrics(registry).decode())}  # strict: raises on invalid text
    assert set(families) == {f"flughafen_{name}" for name in HELP}
    for family in families.values():
        assert family.type == "counter" and family.documentation
        assert all(s.name == family.name + "_total" for s in family.samples if not s.name.endswith("_created"))

    def value(metric: str) -> float:
        [sample] = [s for s in families[metric].samples if s.labels == {"accessor": "flight_search"} and s.name.endswith("_total")]
        return sample.value

    assert value("flughafen_misses") == before.get("misses", 0) + 1
    assert value("flughafen_hits") == before.get("hits", 0) + 1
    assert value("flughafen_db_queries") == before.get("db_queries", 0) + 1
    # The classic text format parses too, with HELP on every metric.
    assert {f.name for f in parse_text(generate_latest(registry).decode())} == set(families)
