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
from flughafen.protocol import Begin, Call, Commit, Effect, Eval, Fill, OnReplica, Pipe, Query, Reader, Release, Rollback, Sleep, Statement, Steps, View, Warn

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen")
_clock = time.perf_counter


class Source(Reader, Protocol):
    def fresh(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[Any, Any]:
        """The database's value for ``args``, and the rows its tags come from."""


def read(
    rt: Runtime,
    q: Source,
    args: tuple[Any, ...],
    key: str,
    view: View,
    on_hit: Callable[[Any], None] | None = None,
    allowed: bool = True,
    refresh: bool = False,
) -> Any:
    """One read of ``key`` through the cache; the database when the cache may not be used (down,
    backing off, an invalidation that touches the query has not gone through, or the caller
    said so: ``allowed`` False). ``refresh``: no hit, the database's value stored anew."""
    cache = rt.cache
    counters = rt.metrics.of(q.name)
    usable = allowed and (not cache.down or cache.usable()) and (not cache.unsettled.any or cache.serves(q))
    if not allowed:
        counters.bypassed += 1
    steps = protocol.read(q, args, key, view, counters, rt.stale_if_error * 1000, usable, on_hit, refresh)
    tracer = tracing.tracer()
    if tracer is None:
        return run(rt, q, steps, counters)
    with tracing.read_span(tracer, q) as traced:
        return run(rt, traced, steps, counters)


def run(rt: Runtime, q: Source, steps: Steps, counters: Any) -> Any:
    """Runs ``steps`` to the end; returns what they return, raises what they raise."""
    return protocol.drive(steps, lambda effect: _perform(rt, q, effect, counters))


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
                reply = cache.pipelined(*effect.commands, wait=effect.wait)  # type: ignore[union-attr]
        except Exception as e:
            cache.failed(e, counters)
            raise
        counters.cache_seconds += _clock() - started
        if cache.down:
            cache.ok()
        return reply
    if type(effect) is OnReplica:
        started = _clock()
        reply = cache.replica_read(effect.read, effect.key, effect.bound_ms)  # never raises: None sends the read to the primary
        counters.cache_seconds += _clock() - started
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


# ------------------------------------------------------------------ writes


class RolledBack(Exception):
    """Thrown into a transaction's context manager to roll it back (the write's steps asked for it)."""


def on_cursor(cur: Any, db: Any, statement: Statement) -> tuple[int, list[Any]]:
    """A write's Statement on an open cursor: (row count, the rows when it fetches)."""
    cur.execute(statement.sql[db.dialect], db.args(statement.values))
    return int(cur.rowcount), (list(cur.fetchall()) if statement.fetch else [])


def run_write(rt: Runtime, steps: Steps) -> Any:
    """Runs a write's steps (write.py, the store kinds' write hooks): commands on the thread's
    connection, the statements in one transaction of ``rt.db``. A transaction still open when
    the steps end (they raised) is rolled back."""
    transaction = _Transaction(rt)
    try:
        return protocol.drive(steps, transaction.perform)
    finally:
        transaction.perform(Rollback())


class _Transaction:
    def __init__(self, rt: Runtime):
        self.rt = rt
        self.open: Any = None  # the transaction's context manager while it is open
        self.cursor: Any = None

    def perform(self, effect: Any) -> Any:
        kind = type(effect)
        cache = self.rt.cache
        if kind is Eval:
            return cache.script(effect.script, effect.keys, effect.args)
        if kind is Call:
            return cache.call(*effect.args)
        if kind is Pipe:
            return cache.pipelined(*effect.commands, wait=effect.wait)
        if kind is Statement:
            return on_cursor(self.cursor, self.rt.db, effect)
        if kind is Begin:
            self.open = self.rt.db.transaction()
            self.cursor = self.open.__enter__()
        elif kind is Commit:
            done, self.open = self.open, None
            done.__exit__(None, None, None)
        elif kind is Rollback:
            done, self.open = self.open, None
            if done is not None:
                done.__exit__(RolledBack, RolledBack(), None)
        elif kind is Sleep:
            time.sleep(effect.seconds)
        else:
            raise TypeError(f"not an effect of a write: {effect!r}")
        return None
