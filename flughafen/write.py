"""WriteQuery: a write spec's INSERT/UPDATE/DELETE and the invalidations it fires.

The build joins every read spec's ``invalidate:`` entries for the written
table into this write's ``tags`` (filled from the write's parameters, or from
rows looked up before the write) and ``generations`` (read specs dropped
whole). ``write: through`` commits, then invalidates; ``write: behind``
queues the parameters on a Valkey stream for ``flughafen-gen worker``.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from flughafen import invalidation, io_async, io_sync
from flughafen.accessor import async_runtime_of, runtime_of
from flughafen.db import QueryError
from flughafen.keys import RowField, Template, fill
from flughafen.params import check_args, check_for
from flughafen.protocol import Begin, Call, Commit, Rollback, Sleep, Statement, Steps, drive
from flughafen.spec import PYTHON_TYPES, Param
from flughafen.stores import KINDS
from flughafen.stores.bitmap import SetUpdate
from flughafen.stores.hash import HashRefresh
from flughafen.stores.zset import ScoreMove

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

log = logging.getLogger("flughafen")

GROUP = "flughafen-workers"
APPLIED_TABLE = "flughafen_applied_writes"


class InvalidWrite(ValueError):
    """A queued write whose parameters do not decode, or fail their checks."""


class InvalidationError(RuntimeError):
    """The write was committed, but the cache could not be told: entries may be stale until their TTL.

    This process's reads of the queries it touches answer from the database until
    the invalidation goes through (see unsettled.py); other processes cannot know.
    """


class Pending(Protocol):
    """A store kind's part of one write, once begun (stores/*.py: the write hooks). Each method is
    steps of effects (its Valkey commands yielded); ``cache`` serves only for fail-open bookkeeping."""

    def rolled_back(self, cache: Any) -> Steps:
        """The write failed before its commit: undo what ``begin`` did."""

    def committed(self, cache: Any, args: tuple[Any, ...], tags: list[str]) -> Steps:
        """After the commit: update entries in place; returns the tags still to drop."""

    def apply(self, cache: Any) -> Steps:
        """With the write's invalidation (retried with it; once done, a no-op)."""

    def unsettled_keys(self) -> list[str]:
        """What to drop if ``apply`` never goes through."""


class WriteHook(Protocol):
    def begin(self, cache: Any, args: tuple[Any, ...], rows: list[Any], count: int) -> Steps:
        """In the write's transaction, after its statement; returns a Pending, or None."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Columns of the rows a write touches, read in the same transaction before it."""

    sql: dict[str, str]
    param_order: tuple[int, ...]
    columns: tuple[str, ...]


class _Row:
    """A looked-up row, for RowField templates."""

    def __init__(self, columns: tuple[str, ...], values: tuple[Any, ...]):
        for c, v in zip(columns, values, strict=False):
            setattr(self, c, v)


class WriteQuery:
    def __init__(
        self,
        *,
        name: str,
        sql: dict[str, str],
        params: tuple[Param, ...],
        param_order: tuple[int, ...],
        table: str,
        mode: Literal["through", "behind"],
        tags: tuple[Template, ...] = (),
        generations: tuple[str, ...] = (),
        lookup: Lookup | None = None,
        sets: tuple[SetUpdate, ...] = (),
        refresh: tuple[HashRefresh, ...] = (),
        scores: tuple[ScoreMove, ...] = (),
    ) -> None:
        self.name = name
        self.sql = sql
        self.params = params
        self.param_order = param_order
        self.table = table
        self.mode = mode
        self.tags = tags
        self.generations = generations
        self.lookup = lookup
        self.sets = sets  # store: bitmap sets kept up to date
        self.refresh = refresh  # store: hash entries updated in place (write: through)
        self.scores = scores  # store: zset scores moved (write: through)
        given: dict[str, tuple[Any, ...]] = {"sets": sets, "refresh": refresh, "scores": scores}
        # Each store kind's write hook (stores/__init__.py), for the updates this write carries.
        self.hooks: tuple[WriteHook, ...] = tuple(
            kind.write_hook(given[kind.write_param]) for kind in KINDS.values() if kind.write_hook is not None and kind.write_param and given[kind.write_param]
        )
        self._checks = tuple(check_for(name, p) for p in params)  # the reads' checks (params.py)
        # The queue gives back each value with the type it was given: an int for a float or
        # decimal parameter comes back an int, so the worker fills the same tags execute() would.
        kinds = [functools.reduce(operator.or_, PYTHON_TYPES[p.type] + ((type(None),) if p.nullable else ())) for p in params]
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(tuple[tuple(kinds)])  # type: ignore[misc]
        self._encoder = msgspec.json.Encoder()

    def check(self, args: tuple[Any, ...]) -> None:
        """The parameters checked as a read checks them: TypeError or ValueError naming the bad one."""
        check_args(self.name, self._checks, args)

    # --------------------------------------------------------------- through
    #
    # The write is steps of effects (protocol.py's Call, Eval, Sleep, and the
    # transaction's Begin, Statement, Commit, Rollback), as a read is: the sync shell
    # runs them for execute, the async shell for execute_async.

    def execute(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> int:
        """Run the write (or queue it, for write: behind). Returns the rows affected (0 when queued).

        The parameters are checked first: a bad one is a TypeError or ValueError, and neither
        the database nor the queue is touched.
        """
        self.check(args)
        rt = runtime_of(runtime)
        count: int = io_sync.run_write(rt, self.steps(args, rt.cache, rt.db.url.redacted()))
        return count

    async def execute_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None) -> int:
        """``execute`` on an AsyncRuntime."""
        self.check(args)
        rt = async_runtime_of(runtime)
        count: int = await io_async.run_write(rt, self.steps(args, rt.cache, rt.db.url.redacted()))
        return count

    def steps(self, args: tuple[Any, ...], cache: Any, where: str) -> Steps:
        """The whole write: queued (write: behind), or its transaction, the hooks around the commit, then its invalidation."""
        if self.mode == "behind" and not cache.off:
            yield Call("XADD", cache.keyspace.stream_key(self.name), "*", "args", self._encoder.encode(args))
            return 0
        pending: list[Pending] = []
        yield Begin()
        try:
            count, rows = yield from self.statement_steps(args, where)
            if cache.off:  # cache_url = "off": nothing cached to keep up to date, and no queue: applied now
                yield Commit()
                return count
            tags = self.tags_for(args, rows)
            for hook in self.hooks:
                begun = yield from hook.begin(cache, args, rows, count)
                if begun is not None:
                    pending.append(begun)
            yield Commit()
        except GeneratorExit:
            raise
        except BaseException:
            yield Rollback()
            for p in pending:
                yield from p.rolled_back(cache)
            raise
        for p in pending:
            tags = yield from p.committed(cache, args, tags)
        yield from self.invalidate_steps(cache, tags, pending)
        return count

    def statement_steps(self, args: tuple[Any, ...], where: str) -> Steps:
        """The lookup (if any) and the statement, in the open transaction: (rows affected, rows looked up before the write)."""
        rows: list[_Row] = []
        try:
            if self.lookup is not None:
                _, found = yield Statement(self.lookup.sql, [args[i] for i in self.lookup.param_order], True)
                rows = [_Row(self.lookup.columns, tuple(r)) for r in found]
            count, _ = yield Statement(self.sql, [args[i] for i in self.param_order], False)
        except Exception as e:
            raise QueryError(f"{self.name}: the write failed on {where}: {e}") from e
        return int(count), rows

    def apply(self, cur: Any, rt: Runtime, args: tuple[Any, ...]) -> tuple[int, list[str]]:
        """Run in the caller's transaction; returns rows affected and the tags to invalidate."""
        count, rows = self.apply_rows(cur, rt, args)
        return count, self.tags_for(args, rows)

    def apply_rows(self, cur: Any, rt: Runtime, args: tuple[Any, ...]) -> tuple[int, list[Any]]:
        """Run in the caller's transaction; returns rows affected and the rows looked up before the write."""
        done: tuple[int, list[Any]] = drive(self.statement_steps(args, rt.db.url.redacted()), lambda s: io_sync.on_cursor(cur, rt.db, s))
        return done

    def tags_for(self, args: tuple[Any, ...], rows: list[Any]) -> list[str]:
        names: set[str] = set()
        for t in self.tags:
            if any(isinstance(p, RowField) for p in t):
                names.update(fill(t, args, r) for r in rows)
            else:
                names.add(fill(t, args))
        return sorted(names)

    def invalidate(self, rt: Runtime, tags: list[str], pending: Sequence[Pending] = (), attempts: int = 3) -> None:
        """After commit: drop what depends on the write, update what it keeps in place. Retries, then raises InvalidationError."""
        io_sync.run_write(rt, self.invalidate_steps(rt.cache, tags, pending, attempts))

    def invalidate_steps(self, cache: Any, tags: list[str], pending: Sequence[Pending] = (), attempts: int = 3) -> Steps:
        """``invalidate`` as steps: retried with pauses, then InvalidationError."""
        pause = 0.05
        for attempt in range(attempts):
            try:
                yield from invalidation.tags(cache, tags)
                for name in self.generations:
                    yield from invalidation.incr(cache, cache.keyspace.generation_key(name))
                for p in pending:
                    yield from p.apply(cache)
                return None
            except Exception as e:  # noqa: BLE001 - retried, then raised as InvalidationError
                if attempt == attempts - 1:
                    # All of it, not only what failed: a later part may never have been tried.
                    cache.unsettle(tags, [cache.keyspace.generation_key(n) for n in self.generations], [k for p in pending for k in p.unsettled_keys()])
                    raise InvalidationError(
                        f"{self.name}: committed, but invalidating {len(tags)} tag(s) and "
                        f"{len(self.generations)} query generation(s) failed on {cache.url.redacted()}: {e}"
                    ) from e
                yield Sleep(pause)
                pause *= 2
        return None

    # ---------------------------------------------------------------- behind

    def decode_args(self, data: bytes) -> tuple[Any, ...]:
        """A queued write's parameters, decoded and checked as execute() checks them; InvalidWrite if not."""
        try:
            args = tuple(self._decoder.decode(data))
            self.check(args)
        except (msgspec.DecodeError, TypeError, ValueError) as e:
            raise InvalidWrite(f"{self.name}: a queued write's parameters are invalid: {e}") from e
        return args
