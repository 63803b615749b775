"""``store: json`` (the default): the result as one string, an envelope msgspec decodes straight into rows.

    GET fg:<ns>:flight_search:<version>:flight:search:JFK:LAX:2024-12-15
    [0, 3, 1734300000000, [{"flight_id": 671, ...}, ...]]

The envelope is [generation, fill time ms, expiry ms, value]: the generation it was
stored under (a hit counts only under the current one), and what XFetch needs for
``stampede: early``. A hit is one ``MGET`` of the generation and the entry, no
script. Only this kind offers a near cache (``cache: near:``), batch reads and
early refreshes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec

from flughafen import io_async, io_sync, protocol
from flughafen.accessor import Accessor, Scope, async_runtime_of, runtime_of
from flughafen.bypass import BYPASSED, how
from flughafen.keys import Template
from flughafen.protocol import MISSING, STALE, Call, Effect, View
from flughafen.scripts import JSON
from flughafen.spec import Col, Param, Trigger

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

RowT = TypeVar("RowT")
NEAR_SIZE = 10_000
_ENCODER = msgspec.json.Encoder()
_monotonic = time.monotonic


class JsonCodec:
    scripts = JSON

    def __init__(self, payload: Any):
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(tuple[int, int, int, payload])

    def hit_read(self, generation_key: str, key: str, view: View) -> Effect:
        return Call("MGET", generation_key, key)

    def open(self, entry: Any, gen: int | None) -> Any:
        if entry is None:
            return MISSING
        try:
            env = self._decoder.decode(entry)
        except msgspec.DecodeError:
            return MISSING
        return env if gen is None or env[0] == gen else MISSING

    def store_args(self, value: Any, gen: int, stamp: int, seen: Any, ttl_ms: int, delta_ms: int) -> list[Any]:
        return [_ENCODER.encode((gen, delta_ms, int(time.time() * 1000) + ttl_ms, value))]

    def refresh_early(self, opened: Any) -> bool:
        return protocol.refresh_early(opened[1], opened[2])


def _same(value: Any) -> Any:
    return value


class ReadQuery(Accessor[RowT]):
    """A generated ``store: json`` accessor's query: ``many``, ``one`` or ``scalar`` by its ``returns``."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        sql: dict[str, str],
        params: tuple[Param, ...],
        param_order: tuple[int, ...],
        row: type[RowT],
        columns: tuple[Col, ...],
        returns: Literal["one", "many", "scalar"],
        key: Template,
        tags: tuple[Template, ...] = (),
        ttl: int,
        jitter: float = 0.0,
        negative_ttl: int | None = None,
        stampede: Literal["lock", "early", "none"] = "lock",
        tables: tuple[str, ...] = (),
        triggers: tuple[Trigger, ...] = (),
        replica_reads: int | None = None,
        near: float | None = None,
        near_size: int = NEAR_SIZE,
    ) -> None:
        super().__init__(
            name=name,
            version=version,
            sql=sql,
            params=params,
            param_order=param_order,
            row=row,
            columns=columns,
            returns=returns,
            key=key,
            tags=tags,
            ttl=ttl,
            jitter=jitter,
            negative_ttl=negative_ttl,
            stampede=stampede,
            tables=tables,
            triggers=triggers,
            replica_reads=replica_reads,
        )
        self.near = near  # seconds a local copy may be served (cache: near:), None: no near cache
        self.near_size = near_size
        row_type: Any = row
        self.codec = JsonCodec(list[row_type] if returns == "many" else (row_type | None))
        self.whole = View((), itemgetter(3), _same)

    # ----------------------------------------------------------------- reads

    def many(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        result: list[RowT] = self._read(args, runtime, refresh, cache)
        return result

    async def many_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        result: list[RowT] = await self._read_async(args, runtime, refresh, cache)
        return result

    def one(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> RowT | None:
        result: RowT | None = self._read(args, runtime, refresh, cache)
        return result

    async def one_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> RowT | None:
        result: RowT | None = await self._read_async(args, runtime, refresh, cache)
        return result

    def scalar(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        return self._scalar_of(self._read(args, runtime, refresh, cache))

    async def scalar_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        return self._scalar_of(await self._read_async(args, runtime, refresh, cache))

    def _scalar_of(self, row: Any) -> Any:
        return None if row is None else getattr(row, self.columns[0].name)

    def _read(self, args: tuple[Any, ...], runtime: Runtime | None, refresh: bool = False, cache: bool = True) -> Any:
        """The near cache's copy (``cache: near:``), else a read through Valkey."""
        rt = runtime_of(runtime)
        scope = self._scopes.get(rt.keyspace) or self.scope(rt.keyspace)
        key = scope.key(args)
        usable = True
        if refresh or not cache or BYPASSED.get():
            usable, refresh = how(rt, refresh, cache)
        on_hit = None
        if self.near is not None and usable:
            local, on_hit = self._near(rt, scope, key, refresh)
            if local is not MISSING:
                return local
        return io_sync.read(rt, scope, args, key, self.whole, on_hit, usable, refresh)

    async def _read_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None, refresh: bool = False, cache: bool = True) -> Any:
        """``_read`` on an AsyncRuntime: a near hit awaits nothing."""
        rt = async_runtime_of(runtime)
        scope = self._scopes.get(rt.keyspace) or self.scope(rt.keyspace)
        key = scope.key(args)
        usable = True
        if refresh or not cache or BYPASSED.get():
            usable, refresh = how(rt, refresh, cache)
        on_hit = None
        if self.near is not None and usable:
            local, on_hit = self._near(rt, scope, key, refresh)
            if local is not MISSING:
                return local
        return await io_async.read(rt, scope, args, key, self.whole, on_hit, usable, refresh)

    def _near(self, rt: Runtime | AsyncRuntime, scope: Scope, key: str, refresh: bool) -> tuple[Any, Callable[[Any], None] | None]:
        """(the near cache's copy of ``key`` or MISSING, what a Valkey hit then does to keep a copy)."""
        cache = rt.cache
        if not cache.near_enabled or cache.unsettled.any:
            return MISSING, None
        near = cache.near
        store = near.stores.get(self.name)
        if store is None:
            if self.name not in near.wanted:
                near.want(self.name, scope.generation_key, self.near or 0, self.near_size, self.returns == "many")
            return MISSING, None
        local = None if refresh else store.entries.get(key)
        if local is not None and local[1] > _monotonic():
            if STALE.get():
                STALE.set(False)
            counters = rt.metrics.of(self.name)
            counters.hits += 1
            counters.near_hits += 1
            try:
                store.entries.move_to_end(key)  # least recently used goes first
            except KeyError:
                pass  # dropped by an invalidation meanwhile
            return (list(local[0]) if store.copy else local[0]), None
        epoch = near.epoch  # before the Valkey read: a change after it stops the local store

        def on_hit(env: Any) -> None:
            near.put(store, key, env[3], env[2], epoch)

        return MISSING, on_hit

    def many_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[list[RowT]]:
        """Many parameter sets: one MGET for all, then the misses read one by one (with ``refresh``
        or ``cache=False``, or in a bypass, each is read as those ask: no MGET)."""
        rt = runtime_of(runtime)
        scope = self.scope(rt.keyspace)
        keys = [scope.key(args) for args in batch]
        counters = rt.metrics.of(self.name)
        found: list[Any] = [MISSING] * len(batch)
        if keys and how(rt, refresh, cache) == (True, False) and rt.cache.usable() and not rt.cache.unsettled.any:
            found = io_sync.run(rt, scope, protocol.batch(scope, keys), counters)
        return [self._hit(env, counters) if env is not MISSING else self._read(args, rt, refresh, cache) for args, env in zip(batch, found, strict=False)]

    async def many_batch_async(
        self, batch: list[tuple[Any, ...]], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True
    ) -> list[list[RowT]]:
        """``many_batch`` on an AsyncRuntime: one MGET for all, then the misses read concurrently."""
        rt = async_runtime_of(runtime)
        scope = self.scope(rt.keyspace)
        keys = [scope.key(args) for args in batch]
        counters = rt.metrics.of(self.name)
        found: list[Any] = [MISSING] * len(batch)
        if keys and how(rt, refresh, cache) == (True, False) and rt.cache.usable() and not rt.cache.unsettled.any:
            found = await io_async.run(rt, scope, protocol.batch(scope, keys), counters)
        misses = await asyncio.gather(*(self._read_async(args, rt, refresh, cache) for args, env in zip(batch, found, strict=False) if env is MISSING))
        filled = iter(misses)
        return [self._hit(env, counters) if env is not MISSING else next(filled) for env in found]

    def _hit(self, env: Any, counters: Any) -> list[RowT]:
        counters.hits += 1
        rows: list[RowT] = env[3]
        return rows
