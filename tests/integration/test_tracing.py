"""OpenTelemetry spans of accessor reads, recorded by the SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flughafen import Runtime, tracing
from generated import airport_by_iata
from tests.integration.forms import Form

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The exporter of the process's tracer provider (set once: OpenTelemetry allows no second one)."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
        tracing._looked_at = -1.0  # look for it now, not a second after the last look
    EXPORTER.clear()
    return EXPORTER


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_miss_makes_a_read_span_with_a_query_and_a_fill_under_it_and_a_hit_one_span(form: Form, runtime: Runtime, spans: InMemorySpanExporter) -> None:
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    miss = {s.name: s for s in spans.get_finished_spans()}
    assert sorted(miss) == ["flughafen.db.query", "flughafen.fill", "flughafen.read"]
    read = miss["flughafen.read"]
    assert dict(read.attributes or {}) == {"flughafen.accessor": "airport_by_iata", "flughafen.store": "hash", "flughafen.result": "miss"}
    for child in ("flughafen.db.query", "flughafen.fill"):
        assert miss[child].parent is not None and miss[child].parent.span_id == read.context.span_id
    query = miss["flughafen.db.query"].attributes or {}
    assert query["db.system"] == runtime.db.url.dialect.replace("postgres", "postgresql")
    assert "SELECT" in str(query["db.statement"]).upper()

    spans.clear()
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    hit = spans.get_finished_spans()
    assert [s.name for s in hit] == ["flughafen.read"]
    assert (hit[0].attributes or {})["flughafen.result"] == "hit"
