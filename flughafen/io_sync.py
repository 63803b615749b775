"""The sync shell: runs the protocol's steps (protocol.py) on a runtime's Valkey connection and database.

Every effect a step yields is done here, and only here: a command on the calling
thread's connection (its time counted, a failure recorded for fail-open and thrown
back into the step), the database's result (the accessor's ``fresh``), a fill sent
without waiting, a lock released, a pause, a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from flughafen import protocol, tracing
from flughafen.protocol import Call, Effect, Eval, Fill, Pipe, Query, Reader, Release, Sleep, Steps, View, Warn

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen")
_clock = time.perf_counter


class Source(Reader, Protocol):
    def fresh(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[Any, Any]:
        """The database's value for ``args``, and the rows its tags come from."""


def read(rt: Runtime, q: Source, args: tuple[Any, ...], key: str, view: View, on_hit: Callable[[Any], None] | None = None) -> Any:
    """One read of ``key`` through the cache; the database when the cache may not be used (down,
    backing off, or an invalidation that touches the query has not gone through)."""
    cache = rt.cache
    counters = rt.metrics.of(q.name)
    usable = (not cache.down or cache.usable()) and (not cache.unsettled.any or cache.serves(q))
    steps = protocol.read(q, args, key, view, counters, rt.stale_if_error * 1000, usable, on_hit)
    tracer = tracing.tracer()
    if tracer is None:
        return run(rt, q, steps, counters)
    with tracing.read_span(tracer, q) as traced:
        return run(rt, traced, steps, counters)


def run(rt: Runtime, q: Source, steps: Steps, counters: Any) -> Any:
    """Runs ``steps`` to the end; returns what they return, raises what they raise."""
    result: Any = None
    try:
        effect = next(steps)
        while True:
            try:
                result = _perform(rt, q, effect, counters)
            except BaseException as e:  # noqa: BLE001 - the step decides: fail open, release, re-raise
                effect = steps.throw(e)
                continue
            effect = steps.send(result)
    except StopIteration as done:
        return done.value


def _perform(rt: Runtime, q: Source, effect: Effect, counters: Any) -> Any:
    cache = rt.cache
    kind = type(effect)
    if kind is Call or kind is Eval or kind is Pipe:
        started = _clock()
        try:
            if type(effect) is Call:
                reply = cache.call(*effect.args)
            elif type(effect) is Eval:
                reply = cache.script(effect.script, effect.keys, effect.args)
            else:
                reply = cache.pipelined(*effect.commands)  # type: ignore[union-attr]
        except Exception as e:
            cache.failed(e, counters)
            raise
        counters.cache_seconds += _clock() - started
        if cache.down:
            cache.ok()
        return reply
    if type(effect) is Query:
        return q.fresh(effect.args, rt)
    if type(effect) is Fill:
        with tracing.child_span("flughafen.fill", {"flughafen.accessor": q.name}):
            cache.fill(effect.script, effect.keys, effect.args, counters)
    elif type(effect) is Release:
        cache.release(effect.lock, effect.token)
    elif type(effect) is Sleep:
        time.sleep(effect.seconds)
    elif type(effect) is Warn:
        log.warning("%s", effect.message)
    else:
        raise TypeError(f"not an effect: {effect!r}")
    return None
