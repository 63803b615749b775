"""OpenTelemetry spans for accessor reads, fills and database queries, when the application traces.

Spans are made only when the ``opentelemetry-api`` package is installed (the
``tracing`` extra) and the application has configured a tracer provider
(``opentelemetry.trace.set_tracer_provider``, or the SDK's auto-instrumentation).
Otherwise a read pays one function call that finds nothing to do.

- ``flughafen.read``: one per accessor read through Valkey, with the attributes
  ``flughafen.accessor`` (the query's name), ``flughafen.store`` (its store kind:
  json, hash, zset, bitmap) and ``flughafen.result``: ``hit`` (answered by Valkey)
  or ``miss`` (answered by the database). A near-cache hit makes no span: it is
  answered in the process, in well under a microsecond of work.
- ``flughafen.db.query``: a child span per database query, with ``db.system`` and
  ``db.statement`` (the SQL; parameters are bound by the driver and not recorded).
- ``flughafen.fill``: a child span for the write of a missed entry into Valkey.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

try:
    from opentelemetry import trace as _otel
except ImportError:  # the tracing extra is not installed: no spans, ever
    _otel = None  # type: ignore[assignment]

_tracer: Any = None
_looked_at = -1.0
LOOK_EVERY = 1.0  # seconds between two looks for a tracer provider the application configured


def tracer() -> Any:
    """The flughafen tracer, or None while no tracer provider is configured (looked for at most once a second)."""
    global _tracer, _looked_at
    if _tracer is not None or _otel is None:
        return _tracer
    now = time.monotonic()
    if now - _looked_at < LOOK_EVERY:
        return None
    _looked_at = now
    provider = _otel.get_tracer_provider()
    if isinstance(provider, (_otel.ProxyTracerProvider, _otel.NoOpTracerProvider)):
        return None
    _tracer = provider.get_tracer("flughafen")
    return _tracer


def store_kind(q: object) -> str:
    """The store kind of an accessor (or of a Scope's): the name of its module under flughafen.stores."""
    return type(getattr(q, "query", q)).__module__.rpartition(".")[2]


DB_SYSTEM = {"mysql": "mysql", "postgres": "postgresql", "sqlite": "sqlite"}  # OpenTelemetry's names


class TracedSource:
    """An accessor whose database reads mark the read's span a miss (see io_sync.read, io_async.read)."""

    def __init__(self, q: Any, span: Any):
        self._q = q
        self._span = span

    def fresh(self, args: tuple[Any, ...], runtime: Any) -> tuple[Any, Any]:
        self._span.set_attribute("flughafen.result", "miss")
        fresh: tuple[Any, Any] = self._q.fresh(args, runtime)
        return fresh

    async def fresh_async(self, args: tuple[Any, ...], runtime: Any) -> tuple[Any, Any]:
        self._span.set_attribute("flughafen.result", "miss")
        fresh: tuple[Any, Any] = await self._q.fresh_async(args, runtime)
        return fresh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._q, name)


@contextmanager
def read_span(t: Any, q: Any) -> Iterator[TracedSource]:
    """The span of one accessor read: a hit unless its source is asked for the database's value."""
    attributes = {"flughafen.accessor": q.name, "flughafen.store": store_kind(q), "flughafen.result": "hit"}
    with t.start_as_current_span("flughafen.read", attributes=attributes) as span:
        yield TracedSource(q, span)


def child_span(name: str, attributes: dict[str, Any]) -> AbstractContextManager[Any]:
    """A span under the current one, or nothing while no tracer provider is configured."""
    t = tracer()
    if t is None:
        return nullcontext()
    span: AbstractContextManager[Any] = t.start_as_current_span(name, attributes=attributes)
    return span


def query_span(dialect: str, sql: str) -> AbstractContextManager[Any]:
    """The span of one database query (sync or async), or nothing while no tracer provider is configured."""
    return child_span("flughafen.db.query", {"db.system": DB_SYSTEM[dialect], "db.statement": sql})
