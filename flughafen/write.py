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
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from flughafen.bitmap_writes import Held, SetUpdate, changes, hold, release
from flughafen.bitmap_writes import apply as apply_sets
from flughafen.db import QueryError
from flughafen.hash_store import HashRefresh, refresh_in_place, take_ticket
from flughafen.zset_store import PendingMove, ScoreMove, begin_moves, finish_moves
from flughafen.keys import RowField, Template, fill, generation_key
from flughafen.params import PYTHON_TYPES, check_args, check_for
from flughafen.query import Param

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen")

STREAM_PREFIX = "fg:writes:"
GROUP = "flughafen-workers"
APPLIED_TABLE = "flughafen_applied_writes"


class InvalidWrite(ValueError):
    """A queued write whose parameters do not decode, or fail their checks."""


class InvalidationError(RuntimeError):
    """The write was committed, but the cache could not be told: entries may be stale until their TTL."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Columns of the rows a write touches, read in the same transaction before it."""

    sql: dict[str, str]
    param_order: tuple[int, ...]
    columns: tuple[str, ...]


class _Row:
    """A looked-up row, for RowField templates."""

    def __init__(self, columns: tuple[str, ...], values: tuple[Any, ...]):
        for c, v in zip(columns, values):
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
        self.sets = sets  # store: bitmap sets kept up to date (runtime/bitmap_writes.py)
        self.refresh = refresh  # store: hash entries updated in place (write: through)
        self.scores = scores  # store: zset scores moved (write: through)
        self.stream = STREAM_PREFIX + name
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

    def execute(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> int:
        """Run the write (or queue it, for write: behind). Returns the rows affected (0 when queued).

        The parameters are checked first: a bad one is a TypeError or ValueError, and neither
        the database nor the queue is touched.
        """
        self.check(args)
        rt = runtime if runtime is not None else _default()
        if rt.cache.off:  # cache_url = "off": nothing cached to keep up to date, and no queue: applied now
            with rt.db.transaction() as cur:
                return self.apply_rows(cur, rt, args)[0]
        if self.mode == "behind":
            rt.cache.client.xadd(self.stream, {"args": self._encoder.encode(args)})
            return 0
        held: Held | None = None
        moves: list[PendingMove] = []
        try:
            with rt.db.transaction() as cur:
                count, rows = self.apply_rows(cur, rt, args)
                tags = self.tags_for(args, rows)
                ticket = take_ticket(rt, self.refresh) if count else None
                moves = begin_moves(rt, self.scores, args, rows) if count else []
                if self.sets:
                    held = changes(self.sets, args, rows)
                    hold(rt, held)  # before the commit: no fill stores what this write changes
        except BaseException:
            if held is not None:
                release(rt, held)
            finish_moves(rt, moves, committed=False)
            raise
        finish_moves(rt, moves, committed=True)
        self.invalidate(rt, refresh_in_place(rt, self.refresh, args, tags, ticket), held)
        return count

    def apply(self, cur: Any, rt: Runtime, args: tuple[Any, ...]) -> tuple[int, list[str]]:
        """Run in the caller's transaction; returns rows affected and the tags to invalidate."""
        count, rows = self.apply_rows(cur, rt, args)
        return count, self.tags_for(args, rows)

    def apply_rows(self, cur: Any, rt: Runtime, args: tuple[Any, ...]) -> tuple[int, list[Any]]:
        """Run in the caller's transaction; returns rows affected and the rows looked up before the write."""
        dialect = rt.db.dialect
        rows: list[_Row] = []
        try:
            if self.lookup is not None:
                cur.execute(self.lookup.sql[dialect], rt.db.args([args[i] for i in self.lookup.param_order]))
                rows = [_Row(self.lookup.columns, tuple(r)) for r in cur.fetchall()]
            cur.execute(self.sql[dialect], rt.db.args([args[i] for i in self.param_order]))
            count = int(cur.rowcount)
        except Exception as e:
            raise QueryError(f"{self.name}: the write failed on {rt.db.url.redacted()}: {e}") from e
        return count, rows

    def tags_for(self, args: tuple[Any, ...], rows: list[Any]) -> list[str]:
        names: set[str] = set()
        for t in self.tags:
            if any(isinstance(p, RowField) for p in t):
                names.update(fill(t, args, r) for r in rows)
            else:
                names.add(fill(t, args))
        return sorted(names)

    def invalidate(self, rt: Runtime, tags: list[str], held: Held | None = None, attempts: int = 3) -> None:
        """After commit: drop what depends on the write, update the sets it keeps. Retries, then raises InvalidationError."""
        pause = 0.05
        for attempt in range(attempts):
            try:
                rt.cache.invalidate_tags(tags)
                for name in self.generations:
                    rt.cache.incr(generation_key(name))
                if held is not None:
                    apply_sets(rt, held)
                    held = None  # applied: a retry must not apply it twice
                return
            except Exception as e:  # noqa: BLE001 - retried, then raised as InvalidationError
                if attempt == attempts - 1:
                    raise InvalidationError(
                        f"{self.name}: committed, but invalidating {len(tags)} tag(s) and "
                        f"{len(self.generations)} query generation(s) failed on {rt.cache.url.redacted()}: {e}"
                    ) from e
                time.sleep(pause)
                pause *= 2

    # ---------------------------------------------------------------- behind

    def decode_args(self, data: bytes) -> tuple[Any, ...]:
        """A queued write's parameters, decoded and checked as execute() checks them; InvalidWrite if not."""
        try:
            args = tuple(self._decoder.decode(data))
            self.check(args)
        except (msgspec.DecodeError, TypeError, ValueError) as e:
            raise InvalidWrite(f"{self.name}: a queued write's parameters are invalid: {e}") from e
        return args


def _default() -> Runtime:
    from flughafen.runtime import default_runtime

    return default_runtime()
