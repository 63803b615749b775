"""The async shell: runs the protocol's steps (protocol.py) on an AsyncRuntime, awaiting each effect.

The same steps as io_sync.py, effect for effect; only how each is done differs:
a command is awaited on the runtime's pipelined connection (cache_async.py), the
database's result is awaited from its async driver (db_async.py), a pause is
``asyncio.sleep``. No decision of the protocol is made here: a failure is thrown
back into the steps, which decide (fail open, release the lock, re-raise). A
cancelled caller is a failure like any other: the steps let go of what they hold
(a lock, or a lock they may just have been given) before the cancellation goes on.

The cache is anything with cache_async.AsyncCache's methods, so another client
(a cluster's) can stand in for the one here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from flughafen import protocol, tracing
from flughafen.io_sync import RolledBack
from flughafen.protocol import Begin, Call, Commit, Eval, Fill, OnReplica, Pipe, Query, Reader, Release, Rollback, Sleep, Statement, Steps, View, Warn

if TYPE_CHECKING:
    from flughafen.runtime_async import AsyncRuntime

log = logging.getLogger("flughafen")
_clock = time.perf_counter


class Source(Reader, Protocol):
    async def fresh_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> tuple[Any, Any]:
        """The database's value for ``args``, and the rows its tags come from."""


drive = protocol.drive_async  # runs steps, awaiting each effect's perform


async def read(
    rt: AsyncRuntime,
    q: Source,
    args: tuple[Any, ...],
    key: str,
    view: View,
    on_hit: Callable[[Any], None] | None = None,
    allowed: bool = True,
    refresh: bool = False,
) -> Any:
    """One read of ``key`` through the cache (io_sync.read, awaited)."""
    cache = rt.cache
    counters = rt.metrics.of(q.name)
    usable = allowed and (not cache.down or cache.usable()) and (not cache.unsettled.any or await cache.serves(q))
    if not allowed:
        counters.bypassed += 1
    steps = protocol.read(q, args, key, view, counters, rt.stale_if_error * 1000, usable, on_hit, refresh)
    tracer = tracing.tracer()
    if tracer is None:  # drive here, not through run(): one coroutine fewer on every hit
        return await drive(steps, lambda effect: _perform(rt, q, effect, counters))
    with tracing.read_span(tracer, q) as traced:
        return await run(rt, traced, steps, counters)


async def run(rt: AsyncRuntime, q: Source, steps: Steps, counters: Any) -> Any:
    """Runs ``steps`` to the end; returns what they return, raises what they raise."""

    def perform(effect: Any) -> Awaitable[Any]:
        return _perform(rt, q, effect, counters)

    return await drive(steps, perform)


async def _perform(rt: AsyncRuntime, q: Source, effect: Any, counters: Any) -> Any:
    cache = rt.cache
    kind = type(effect)
    if kind is Call or kind is Eval or kind is Pipe:
        started = _clock()
        try:
            if kind is Call:
                reply = await cache.call(*effect.args)
            elif kind is Eval:
                reply = await cache.script(effect.script, effect.keys, effect.args)
            else:
                reply = await cache.pipelined(*effect.commands, wait=effect.wait)
        except Exception as e:  # a cancellation is no cache failure: it goes straight back to the steps
            cache.failed(e, counters)
            raise
        counters.cache_seconds += _clock() - started
        if cache.down:
            cache.ok()
        return reply
    if kind is OnReplica:
        started = _clock()
        reply = await cache.replica_read(effect.read, effect.key, effect.bound_ms)  # never raises: None sends the read to the primary
        counters.cache_seconds += _clock() - started
        return reply
    if kind is Query:
        return await q.fresh_async(effect.args, rt)
    if kind is Fill:
        with tracing.child_span("flughafen.fill", {"flughafen.accessor": q.name}):
            if cache.defer_fills:
                cache.fill(effect.script, effect.keys, effect.args, counters)
            else:
                await cache.fill_now(effect.script, effect.keys, effect.args, counters)
    elif kind is Release:
        await cache.release(effect.lock, effect.token)
    elif kind is Sleep:
        await asyncio.sleep(effect.seconds)
    elif kind is Warn:
        log.warning("%s", effect.message)
    else:
        raise TypeError(f"not an effect: {effect!r}")
    return None


# ------------------------------------------------------------------ writes


async def run_write(rt: AsyncRuntime, steps: Steps) -> Any:
    """io_sync.run_write, awaited: commands on the runtime's connection, the statements in one
    transaction of ``rt.db``, rolled back if still open when the steps end (they raised)."""
    transaction = _Transaction(rt)
    try:
        return await drive(steps, transaction.perform)
    finally:
        await transaction.perform(Rollback())


class _Transaction:
    def __init__(self, rt: AsyncRuntime):
        self.rt = rt
        self.open: Any = None  # the transaction's context manager while it is open
        self.cursor: Any = None

    async def perform(self, effect: Any) -> Any:
        kind = type(effect)
        cache = self.rt.cache
        if kind is Eval:
            return await cache.script(effect.script, effect.keys, effect.args)
        if kind is Call:
            return await cache.call(*effect.args)
        if kind is Pipe:
            return await cache.pipelined(*effect.commands, wait=effect.wait)
        if kind is Statement:
            db = self.rt.db
            await self.cursor.execute(effect.sql[db.dialect], db.args(effect.values))
            return int(self.cursor.rowcount), (list(await self.cursor.fetchall()) if effect.fetch else [])
        if kind is Begin:
            self.open = self.rt.db.transaction()
            self.cursor = await self.open.__aenter__()
        elif kind is Commit:
            done, self.open = self.open, None
            await done.__aexit__(None, None, None)
        elif kind is Rollback:
            done, self.open = self.open, None
            if done is not None:
                await done.__aexit__(RolledBack, RolledBack(), None)
        elif kind is Sleep:
            await asyncio.sleep(effect.seconds)
        else:
            raise TypeError(f"not an effect of a write: {effect!r}")
        return None
