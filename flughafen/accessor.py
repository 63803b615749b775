"""What every store kind's accessor shares: its spec, its keys and tags, its database read,
and the entry points that run the protocol (protocol.py) through the sync shell (io_sync.py).

A store kind (stores/*.py) subclasses Accessor with its codec and its own readers.
Keys depend on the runtime's namespace (keys.Keyspace): an accessor has a Scope per
namespace, made on first use, which holds the names and the key memo, and is what
the protocol reads (its Reader).

Every read takes ``refresh`` (the database's value, stored anew) and ``cache``
(False: the database only, nothing read from or stored in the cache); see bypass.py.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from flughafen import io_async, io_sync, protocol
from flughafen.bypass import BYPASSED, how
from flughafen.convert import Convert, converter
from flughafen.db import QueryError, missing_table, old_sqlite
from flughafen.keys import Keyspace, RowField, Template, entry_key, filler, lock_key, placement
from flughafen.params import check_for
from flughafen.protocol import Codec, View
from flughafen.spec import Col, Param, Trigger

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

RowT = TypeVar("RowT")
KEY_MEMO_SIZE = 10_000


class Accessor(Generic[RowT]):
    """A generated accessor's query: built once at import, used on every call."""

    codec: Codec
    whole: View  # the view of a whole entry
    companions: tuple[str, ...] = ()  # suffixes of keys stored beside the entry, dropped with it

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
    ) -> None:
        self.name = name
        self.version = version
        self.sql = sql
        self.params = params
        self.param_order = param_order
        self.row = row
        self.columns = columns
        self.returns = returns
        self.key_template = key
        self.tags = tags
        self.ttl = ttl
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self.stampede = stampede
        self.tables = tables
        self.triggers = triggers
        # Seconds a hit read from a replica may be stale (replicas.py); the entry's lifetime is capped at it.
        self.replica_reads = replica_reads
        row_tags = tuple(t for t in tags if any(isinstance(p, RowField) for p in t))
        self._row_tags = tuple(filler(t) for t in row_tags)
        self._param_tags = tuple(filler(t) for t in tags if t not in row_tags)
        self._key_filler = filler(key)
        self._placement = placement(key)
        self._checks = tuple(check_for(name, p) for p in params)  # params.py: writes check theirs the same way
        # Equal values that reach the database differently must not share a memo slot:
        # aware times and datetimes equal as instants, with other offsets (keys.py).
        self._offsets = any(p.type in ("datetime", "time") for p in params)
        self._scopes: dict[Keyspace, Scope] = {}
        self._converters: dict[str, tuple[Convert, ...]] = {}
        self._prepare()

    def _prepare(self) -> None:
        """A store kind's own setup, once the spec is known (its codec, its views)."""

    # ------------------------------------------------------------------ keys

    def scope(self, space: Keyspace) -> Scope:
        """This query in namespace ``space``: its key names, made once."""
        scope = self._scopes.get(space)
        if scope is None:
            scope = self._scopes.setdefault(space, Scope(self, space))
        return scope

    def key(self, args: tuple[Any, ...], where: Runtime | AsyncRuntime | Keyspace | None = None) -> str:
        """The entry's key in the namespace of ``where`` (a runtime, or a Keyspace); the default runtime's without one."""
        space = where if isinstance(where, Keyspace) else runtime_of(where).keyspace if where is None else where.keyspace
        return self.scope(space).key(args)

    def aio_key(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None) -> str:
        """``key`` for the async modules: the running event loop's default runtime without one."""
        return self.scope(async_runtime_of(runtime).keyspace).key(args)

    def tag_names(self, args: tuple[Any, ...], rows: Any) -> list[str]:
        """The entry's tags: from its parameters, and from each row of its result."""
        names = {t(args, None) for t in self._param_tags}
        if self._row_tags:
            for r in rows if isinstance(rows, list) else ([] if rows is None else [rows]):
                for t in self._row_tags:
                    names.add(t(args, r))
        return sorted(names)

    # -------------------------------------------------------------- database

    def rows_from_database(self, args: tuple[Any, ...], runtime: Runtime) -> list[RowT]:
        """The query's rows straight from the database, typed; no cache involved."""
        db = runtime.db
        start = time.perf_counter()
        try:
            rows = db.query(self.sql[db.dialect], [args[i] for i in self.param_order])
        except Exception as e:
            raise self._query_failed(e, db) from e
        finally:
            self._count_query(runtime, start)
        return self.typed(db.dialect, rows)

    async def rows_from_database_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> list[RowT]:
        """rows_from_database on an AsyncRuntime's database: the same SQL, placeholders and conversion."""
        db = runtime.db
        start = time.perf_counter()
        try:
            rows = await db.query(self.sql[db.dialect], [args[i] for i in self.param_order])
        except Exception as e:
            raise self._query_failed(e, db) from e
        finally:
            self._count_query(runtime, start)
        return self.typed(db.dialect, rows)

    def _query_failed(self, error: Exception, db: Any) -> QueryError:
        explained = missing_table(db.url, error) or old_sqlite(db.url, self.sql[db.dialect], error)
        if explained is not None:
            return QueryError(f"{self.name}: {explained}")
        return QueryError(f"{self.name}: the query failed on {db.url.redacted()}: {error}")

    def _count_query(self, runtime: Runtime | AsyncRuntime, start: float) -> None:
        counters = runtime.metrics.of(self.name)
        counters.db_queries += 1
        counters.db_seconds += time.perf_counter() - start

    def typed(self, dialect: str, rows: list[tuple[Any, ...]]) -> list[RowT]:
        """Driver rows as Row objects: one converter per column and dialect (convert.py)."""
        conv = self._converters.get(dialect)
        if conv is None:
            conv = self._converters[dialect] = tuple(converter(c.type, c.scale) for c in self.columns)
        make = self.row
        return [make(*[c(v) for c, v in zip(conv, r, strict=False)]) for r in rows]

    def result_of(self, rows: list[RowT]) -> Any:
        """What a read returns, from the typed rows (a store kind may order or reshape them)."""
        if self.returns == "many":
            return rows
        return rows[0] if rows else None

    def query_database(self, args: tuple[Any, ...], runtime: Runtime) -> Any:
        """The result straight from the database, as a read returns it; no cache involved."""
        return self.result_of(self.rows_from_database(args, runtime))

    async def query_database_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> Any:
        """query_database on an AsyncRuntime."""
        return self.result_of(await self.rows_from_database_async(args, runtime))

    def fresh(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[Any, Any]:
        """What a fill stores (the database's result), and the rows its tags come from."""
        result = self.query_database(args, runtime)
        return result, result

    async def fresh_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> tuple[Any, Any]:
        """fresh on an AsyncRuntime."""
        result = await self.query_database_async(args, runtime)
        return result, result

    def ttl_ms(self, empty: bool) -> int:
        """An entry's lifetime in ms: the ttl (negative_ttl for an empty result), spread by the jitter."""
        ttl = self.negative_ttl if empty and self.negative_ttl is not None else self.ttl
        ms = int(ttl * 1000 * (1 + random.random() * self.jitter))
        if self.replica_reads is not None:
            # A replica that missed an invalidation (lag, a lost link) serves the old value at most this long.
            return min(ms, self.replica_reads * 1000)
        return ms

    # ----------------------------------------------------------------- reads

    def read(
        self, args: tuple[Any, ...], runtime: Runtime | None, view: View, on_hit: Callable[[Any], None] | None = None, refresh: bool = False, cache: bool = True
    ) -> Any:
        """One read through the cache, as ``view`` asks (the whole entry or a part)."""
        rt = runtime_of(runtime)
        scope = self._scopes.get(rt.keyspace) or self.scope(rt.keyspace)
        usable = True
        if refresh or not cache or BYPASSED.get():
            usable, refresh = how(rt, refresh, cache)
        return io_sync.read(rt, scope, args, scope.key(args), view, on_hit, usable, refresh)

    async def read_async(
        self,
        args: tuple[Any, ...],
        runtime: AsyncRuntime | None,
        view: View,
        on_hit: Callable[[Any], None] | None = None,
        refresh: bool = False,
        cache: bool = True,
    ) -> Any:
        """``read`` on an AsyncRuntime: the same protocol, run by the async shell."""
        rt = async_runtime_of(runtime)
        scope = self._scopes.get(rt.keyspace) or self.scope(rt.keyspace)
        usable = True
        if refresh or not cache or BYPASSED.get():
            usable, refresh = how(rt, refresh, cache)
        return await io_async.read(rt, scope, args, scope.key(args), view, on_hit, usable, refresh)

    def warm_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> int:
        """Fill the missing entries of many parameter sets ahead of traffic; returns how many were stored.

        Three round trips for the batch: the entries read (and a lease taken for each
        missing one), the database queried for those, every fill sent and answered.
        """
        rt = runtime_of(runtime)
        scope = self.scope(rt.keyspace)
        keys = [scope.key(args) for args in batch]
        if not keys:
            return 0
        counters = rt.metrics.of(self.name)
        stored: int = io_sync.run(rt, scope, protocol.warm(scope, batch, keys, self.whole, counters, rt.stale_if_error * 1000), counters)
        return stored

    async def warm_batch_async(self, batch: list[tuple[Any, ...]], runtime: AsyncRuntime | None = None) -> int:
        """``warm_batch`` on an AsyncRuntime."""
        rt = async_runtime_of(runtime)
        scope = self.scope(rt.keyspace)
        keys = [scope.key(args) for args in batch]
        if not keys:
            return 0
        counters = rt.metrics.of(self.name)
        stored: int = await io_async.run(rt, scope, protocol.warm(scope, batch, keys, self.whole, counters, rt.stale_if_error * 1000), counters)
        return stored

    # ---------------------------------------------------------- invalidation

    def entry_keys(self, args: tuple[Any, ...], space: Keyspace) -> list[str]:
        """The keys invalidate() drops: the entry, its lock, the keys beside it."""
        key = self.scope(space).key(args)
        return [key, lock_key(key), *(key + s for s in self.companions)]

    def invalidate(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> None:
        """Drop the entry for these parameters (its lock too: a fill in flight is not stored)."""
        rt = runtime_of(runtime)
        rt.cache.delete(*self.entry_keys(args, rt.keyspace))

    async def invalidate_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None) -> None:
        """``invalidate`` on an AsyncRuntime."""
        rt = async_runtime_of(runtime)
        await rt.cache.delete(*self.entry_keys(args, rt.keyspace))

    def invalidate_all(self, runtime: Runtime | None = None) -> None:
        """Drop every entry of this query at once (its generation moves: O(1))."""
        rt = runtime_of(runtime)
        rt.cache.incr(rt.keyspace.generation_key(self.name))

    async def invalidate_all_async(self, runtime: AsyncRuntime | None = None) -> None:
        """``invalidate_all`` on an AsyncRuntime."""
        rt = async_runtime_of(runtime)
        await rt.cache.incr(rt.keyspace.generation_key(self.name))


class Scope:
    """One query in one namespace: what the protocol reads (protocol.Reader). The query's own
    parts are copied in, so that a read looks nothing up twice; its names are made once, and
    its keys remembered per parameter tuple (a hot key is built and checked once)."""

    __slots__ = ("_keys", "codec", "generation_key", "miss_score", "name", "prefix", "query", "replica_ms", "space", "stampede", "tags")

    def __init__(self, query: Accessor[Any], space: Keyspace):
        self.query = query
        self.space = space
        self.name = query.name
        self.stampede = query.stampede
        self.codec = query.codec
        self.tags = query.tags
        self.replica_ms = (query.replica_reads or 0) * 1000  # 0: hits from primaries only
        self.miss_score = 0  # above zero after recent misses: reads take the lock in their first round trip
        self.prefix = space.entry_prefix(query.name, query.version)
        self.generation_key = space.generation_key(query.name)
        self._keys: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}

    # What a miss asks of the query (looked up on it each time, so that it may be replaced).

    def ttl_ms(self, empty: bool) -> int:
        return self.query.ttl_ms(empty)

    def tag_names(self, args: tuple[Any, ...], rows: Any) -> list[str]:
        return self.query.tag_names(args, rows)

    def fresh(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[Any, Any]:
        return self.query.fresh(args, runtime)

    async def fresh_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> tuple[Any, Any]:
        return await self.query.fresh_async(args, runtime)

    def key(self, args: tuple[Any, ...]) -> str:
        """The entry's key; remembered per parameter tuple.

        The memo tells apart what the key tells apart: equal parameter tuples share a slot
        only when their types (and, for times and datetimes, their UTC offsets) match too.
        """
        try:
            known = self._keys.get(args)
        except TypeError:  # an unhashable value: refused by the checks below
            known = None
        q = self.query
        identity = tuple(map(_identity, args)) if q._offsets else tuple(map(type, args))
        if known is not None and known[1] == identity:
            return known[0]
        for check, value in zip(q._checks, args, strict=False):
            check(value)
        key = entry_key(self.prefix, q._key_filler(args, None), q._placement(args, None))
        if len(self._keys) >= KEY_MEMO_SIZE:
            self._keys.clear()
        self._keys[args] = (key, identity)
        return key


def _identity(value: Any) -> Any:
    """What tells a parameter value apart in the key memo, beside equality: its type, and an aware time's offset."""
    if isinstance(value, (datetime.datetime, datetime.time)) and value.tzinfo is not None:
        return type(value), value.utcoffset()
    return type(value)


def runtime_of(runtime: Runtime | None) -> Runtime:
    """The runtime given, else the process's default (built from configuration on first use)."""
    if runtime is not None:
        return runtime
    from flughafen.runtime import default_runtime

    return default_runtime()


def async_runtime_of(runtime: AsyncRuntime | None) -> AsyncRuntime:
    """The AsyncRuntime given, else the running event loop's default (built from configuration on first use)."""
    if runtime is not None:
        return runtime
    from flughafen.runtime_async import default_async_runtime

    return default_async_runtime()
