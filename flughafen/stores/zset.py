"""``store: zset``: a ranking (member, score) as a Valkey sorted set.

    ZRANGE fg:<ns>:hub_route_counts:<version>:hub:routes:outbound 0 2 REV WITHSCORES
    GET    fg:<ns>:hub_route_counts:<version>:hub:routes:outbound:meta      -> "0 17 1"

The sorted set holds the members and their scores; ``<key>:meta`` holds the
entry's bookkeeping (stores/meta.py; kind 0 is an empty ranking, which a sorted
set cannot be). Both are written by one script and registered together under
the entry's tags. Reads: the whole ranking, the top n, a member's rank (0 =
highest score) and score, each one round trip on a hit. The order is Valkey's:
score descending, ties by member bytes descending; a ranking read from the
database is returned in that order too.

Score moves (ScoreMove, the write hook below): a write that adds or removes rows
of a counted table moves one member's score with ZINCRBY. It announces itself
before its commit (``<key>:w``: writes pending, and a version), and moves the
score after it, in a script that checks the entry's generation: never into a
dropped or stale ranking. A fill stores only if no write was pending and none
finished while it read the database, so a ranking never counts a row twice or
misses one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flughafen import invalidation
from flughafen.accessor import Accessor
from flughafen.convert import Convert
from flughafen.keys import Keyspace, RowField, bucket_of, entry_key, generation_in
from flughafen.protocol import MISSING, Effect, Eval, Steps, View
from flughafen.scripts import BEGIN_MOVE, FINISH_MOVE, ZSET
from flughafen.stores.meta import kind_under, meta

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

RowT = TypeVar("RowT")
log = logging.getLogger("flughafen")
WRITE_GUARD_MS = 60_000  # a pending mark of a write that died mid-way heals after this


def encode_member(value: Any) -> str:
    return str(value)


class ZsetCodec:
    scripts = ZSET

    def hit_read(self, generation_key: str, key: str, view: View) -> Effect:
        return Eval(ZSET.hit, [generation_key, key, *(key + s for s in ZSET.companions)], list(view.read))

    def open(self, entry: Any, gen: int | None) -> Any:
        """(kind, the read's reply: {meta, write version, ...}) when current."""
        kind = kind_under(entry[0], gen)
        return MISSING if kind is None else (kind, entry)

    def store_args(self, value: Any, gen: int, stamp: int, seen: Any, ttl_ms: int, delta_ms: int) -> list[Any]:
        version = seen[1] if seen and seen[1] is not None else b"0"
        out: list[Any] = [version, meta(gen, stamp, "1" if value else "0")]
        for r in value:
            score = getattr(r, self.score)
            out += [encode_member(getattr(r, self.member)), repr(score) if isinstance(score, float) else str(score)]
        return out

    def refresh_early(self, opened: Any) -> bool:
        return False

    def __init__(self, member: str, score: str):
        self.member, self.score = member, score


class ZsetQuery(Accessor[RowT]):
    """A generated ``store: zset`` accessor's query: a ranking of ``member`` by ``score``."""

    companions = (":meta",)
    member = ""
    score = ""

    def ranked_by(self, member: str, score: str) -> ZsetQuery[RowT]:
        """Names the member and score columns (called once, where the accessor is built)."""
        self.member, self.score = member, score
        cols = {c.name: c for c in self.columns}
        to_member: Convert = int if cols[member].type == "int" else bytes.decode
        to_score: Convert = (lambda v: int(float(v))) if cols[score].type == "int" else float
        member_first = self.columns[0].name == member
        make: Any = self.row

        def rows(flat: Any) -> list[RowT]:
            members, scores = map(to_member, flat[::2]), map(to_score, flat[1::2])
            if member_first:
                return [make(m, s) for m, s in zip(members, scores, strict=False)]
            return [make(s, m) for m, s in zip(members, scores, strict=False)]

        def ranking(opened: Any) -> list[RowT]:
            kind, reply = opened
            return [] if kind == b"0" else rows(reply[2])

        self._ranking, self._to_score = ranking, to_score
        self.codec = ZsetCodec(member, score)
        self.whole = View(("top", 0), ranking, _same)
        return self

    def result_of(self, rows: list[RowT]) -> Any:
        """The ranking from the database's rows, in Valkey's order: score, then member bytes, descending."""
        unique = {encode_member(getattr(r, self.member)): r for r in rows}
        return sorted(unique.values(), key=lambda r: (getattr(r, self.score), encode_member(getattr(r, self.member)).encode()), reverse=True)

    # ---------------------------------------------------------------- reads

    def many(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        rows: list[RowT] = self.read(args, runtime, self.whole, None, refresh, cache)
        return rows

    async def many_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        rows: list[RowT] = await self.read_async(args, runtime, self.whole, None, refresh, cache)
        return rows

    def top_view(self, n: int) -> View:
        return View(("top", n), self._ranking, lambda full: list(full[:n]))

    def top(self, args: tuple[Any, ...], n: int, runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        """The ``n`` members with the highest scores, highest first."""
        if n <= 0:
            return []
        rows: list[RowT] = self.read(args, runtime, self.top_view(n), None, refresh, cache)
        return rows

    async def top_async(self, args: tuple[Any, ...], n: int, runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> list[RowT]:
        if n <= 0:
            return []
        rows: list[RowT] = await self.read_async(args, runtime, self.top_view(n), None, refresh, cache)
        return rows

    def rank_view(self, member: Any) -> View:
        """The member's place (0: the highest score), or None when it is not ranked."""

        def answer(opened: Any) -> int | None:
            kind, reply = opened
            return None if kind == b"0" or reply[2] is None else int(reply[2])

        def from_full(full: Any) -> int | None:
            names = [getattr(r, self.member) for r in full]
            return names.index(member) if member in names else None

        return View(("rank", encode_member(member)), answer, from_full)

    def rank(self, args: tuple[Any, ...], member: Any, runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> int | None:
        """The member's place (0: the highest score), or None when it is not ranked."""
        found: int | None = self.read(args, runtime, self.rank_view(member), None, refresh, cache)
        return found

    async def rank_async(
        self, args: tuple[Any, ...], member: Any, runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True
    ) -> int | None:
        found: int | None = await self.read_async(args, runtime, self.rank_view(member), None, refresh, cache)
        return found

    def score_view(self, member: Any) -> View:
        """The member's score, or None when it is not ranked."""
        to_score = self._to_score

        def answer(opened: Any) -> Any:
            kind, reply = opened
            return None if kind == b"0" or reply[3] is None else to_score(reply[3])

        def from_full(full: Any) -> Any:
            return next((getattr(r, self.score) for r in full if getattr(r, self.member) == member), None)

        return View(("rank", encode_member(member)), answer, from_full)

    def score_of(self, args: tuple[Any, ...], member: Any, runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        """The member's score, or None when it is not ranked."""
        return self.read(args, runtime, self.score_view(member), None, refresh, cache)

    async def score_of_async(self, args: tuple[Any, ...], member: Any, runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        return await self.read_async(args, runtime, self.score_view(member), None, refresh, cache)


def _same(value: Any) -> Any:
    return value


# ---------------------------------------------------------------- the write hook


@dataclass(frozen=True, slots=True)
class ScoreMove:
    """A write that adds (INSERT: +by) or removes (DELETE: -by) rows counted by a zset read spec.

    ``member`` is filled from the write's parameters (an int: its index) or
    from the rows looked up before the write (row_field). ``key`` is the
    ranking's key body (the spec's key has no parameters).
    """

    spec: str
    version: str
    key: str
    member: int | RowField
    by: float

    def entry(self, space: Keyspace) -> str:
        """The ranking's key in namespace ``space``."""
        return entry_key(space.entry_prefix(self.spec, self.version), self.key)


@dataclass(frozen=True, slots=True)
class PendingMove:
    move: ScoreMove
    member: str
    marked: bool
    entry: str  # the ranking's key
    generation: str  # its query's generation key


def begin_moves(cache: Any, moves: tuple[ScoreMove, ...], args: tuple[Any, ...], rows: list[Any]) -> Steps:
    """In the write's transaction, before its commit: mark each ranking the write moves."""
    pending: list[PendingMove] = []
    space = cache.keyspace
    for m in moves:
        values = [args[m.member]] if isinstance(m.member, int) else [getattr(r, m.member.name) for r in rows]
        entry, generation = m.entry(space), space.generation_key(m.spec)
        for member in map(encode_member, values):
            try:
                yield Eval(BEGIN_MOVE, [entry + ":w"], [WRITE_GUARD_MS])
                pending.append(PendingMove(m, member, True, entry, generation))
            except Exception as e:  # noqa: BLE001 - unmarked: the ranking is dropped after the commit
                cache.failed(e)
                pending.append(PendingMove(m, member, False, entry, generation))
    return pending


def finish_moves(cache: Any, pending: list[PendingMove], committed: bool) -> Steps:
    """After the commit (or a rollback): move the scores; a ranking that cannot be moved is dropped whole.

    When Valkey cannot even be told to drop it, the write's own invalidation
    (which follows) fails too and raises InvalidationError; the pending mark
    expires after WRITE_GUARD_MS.
    """
    for p in pending:
        m = p.move
        try:
            if not p.marked:
                if committed:
                    yield from invalidation.incr(cache, p.generation)
                continue
            keys = [p.entry + ":w", p.entry, p.entry + ":meta", generation_in(p.generation, bucket_of(p.entry))]
            yield Eval(FINISH_MOVE, keys, [1 if committed else 0, p.member, repr(m.by)])
        except Exception as e:  # noqa: BLE001 - becomes a drop of the whole ranking
            log.warning("%s: moving a score failed (%s); dropping the ranking", m.spec, type(e).__name__)
            try:
                if committed:
                    yield from invalidation.incr(cache, p.generation)
            except Exception as again:  # noqa: BLE001
                log.error("%s: the ranking may be stale until its TTL: %s", m.spec, type(again).__name__)


class Moves:
    """WriteQuery's hook for ``scores=``: rankings marked before the commit, scores moved after it."""

    def __init__(self, scores: tuple[ScoreMove, ...]):
        self.scores = scores

    def begin(self, cache: Any, args: tuple[Any, ...], rows: list[Any], count: int) -> Steps:
        if not count:
            return None
        return Moving((yield from begin_moves(cache, self.scores, args, rows)))


class Moving:
    def __init__(self, pending: list[PendingMove]):
        self.pending = pending

    def rolled_back(self, cache: Any) -> Steps:
        yield from finish_moves(cache, self.pending, committed=False)

    def committed(self, cache: Any, args: tuple[Any, ...], tags: list[str]) -> Steps:
        yield from finish_moves(cache, self.pending, committed=True)
        return tags

    def apply(self, cache: Any) -> Steps:
        yield from ()

    def unsettled_keys(self) -> list[str]:
        return []
