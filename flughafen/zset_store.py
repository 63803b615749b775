"""``store: zset``: a ranking (member, score) as a Valkey sorted set.

    ZRANGE fg:hub_route_counts:<version>:hub:routes:outbound 0 2 REV WITHSCORES
    GET    fg:hub_route_counts:<version>:hub:routes:outbound:meta      -> "0 17 1"

The sorted set holds the members and their scores; ``<key>:meta`` holds the
entry's bookkeeping (generation, stamp, kind; kind 0 is an empty ranking,
which a sorted set cannot be). Both are written by one script and registered
together under the entry's tags. Reads: the whole ranking, the top n, a
member's rank (0 = highest score) and score, each one round trip on a hit.
The order is Valkey's: score descending, ties by member bytes descending; a
ranking read from the database is returned in that order too.

Score moves (ScoreMove): a write that adds or removes rows of a counted table
moves one member's score with ZINCRBY. It announces itself before its commit
(``<key>:w``: writes pending, and a version), and moves the score after it,
in a script that checks the entry's generation: never into a dropped or
stale ranking. A fill stores only if no write was pending and none finished
while it read the database, so a ranking never counts a row twice or misses
one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from flughafen.convert import Convert
from flughafen.keys import RowField, bounded, entry_prefix, generation_key
from flughafen.query import _MISSING
from flughafen.shaped import ShapedQuery, meta, meta_generation

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

RowT = TypeVar("RowT")
log = logging.getLogger("flughafen")
WRITE_GUARD_MS = 60_000  # a pending mark of a write that died mid-way heals after this

# a: op ('top', n | 'rank', member). Returns {meta, write version, ...}.
READ_ZSET = """
local function read(key, a)
  local meta = redis.call('GET', key .. ':meta')
  local w = redis.call('HGET', key .. ':w', 'v') or '0'
  if not meta then return {false, w} end
  if string.sub(meta, -1) ~= '0' and redis.call('EXISTS', key) == 0 then return {false, w} end
  if a[1] == 'rank' then
    return {meta, w, redis.call('ZREVRANK', key, a[2]), redis.call('ZSCORE', key, a[2])}
  end
  return {meta, w, redis.call('ZRANGE', key, 0, tonumber(a[2]) - 1, 'REV', 'WITHSCORES')}
end
"""

# args: write version seen with the lock, meta, then member, score pairs.
STORE_ZSET = """
local function store(key, ttl, args, main)
  if main then
    local w = redis.call('HMGET', key .. ':w', 'p', 'v')
    if tonumber(w[1] or '0') > 0 or (w[2] or '0') ~= args[1] then return false end
  end
  redis.call('DEL', key)
  for i = 3, #args, 1000 do
    local z = {}
    for j = i, math.min(i + 998, #args - 1), 2 do
      z[#z + 1] = args[j + 1]
      z[#z + 1] = args[j]
    end
    redis.call('ZADD', key, unpack(z))
  end
  if #args > 2 then redis.call('PEXPIRE', key, ttl) end
  redis.call('SET', key .. ':meta', args[2], 'PX', ttl)
  return {key, key .. ':meta'}
end
"""


def encode_member(value: Any) -> str:
    return str(value)


class ZsetQuery(ShapedQuery[RowT]):
    """A generated ``store: zset`` accessor's query: a ranking of ``member`` by ``score``."""

    READ_LUA = READ_ZSET
    STORE_LUA = STORE_ZSET
    COMPANIONS = (":meta",)
    ALWAYS_LOCK = True

    member = ""
    score = ""

    def ranked_by(self, member: str, score: str) -> ZsetQuery[RowT]:
        """Names the member and score columns (called once, where the accessor is built)."""
        self.member, self.score = member, score
        return self

    @cached_property
    def _layout(self) -> tuple[bool, Convert, Convert]:
        """(member first among the row's columns?, member decoder, score decoder), both from reply bytes."""
        cols = {c.name: c for c in self.columns}
        to_member: Convert = int if cols[self.member].type == "int" else bytes.decode
        to_score: Convert = (lambda v: int(float(v))) if cols[self.score].type == "int" else float
        return self.columns[0].name == self.member, to_member, to_score

    def _rows(self, flat: Any) -> list[RowT]:
        member_first, to_member, to_score = self._layout
        make: Any = self.row
        members, scores = map(to_member, flat[::2]), map(to_score, flat[1::2])
        if member_first:
            return [make(m, s) for m, s in zip(members, scores)]
        return [make(s, m) for m, s in zip(members, scores)]

    def full_args(self) -> list[Any]:
        return ["top", 0]

    def _valid(self, reply: Any, gen: int) -> bytes | None:
        found = meta_generation(reply[0])
        return None if found is None or found[0] != gen else found[1]

    def decode(self, reply: Any, gen: int) -> Any:
        kind = self._valid(reply, gen)
        if kind is None:
            return _MISSING
        return [] if kind == b"0" else self._rows(reply[2])

    def canonical(self, result: Any) -> Any:
        unique = {encode_member(getattr(r, self.member)): r for r in result}
        return sorted(unique.values(), key=lambda r: (getattr(r, self.score), encode_member(getattr(r, self.member)).encode()), reverse=True)

    def store_args(self, result: Any, gen: int, stamp: int, seen: Any) -> list[Any]:
        version = seen[1] if seen is not None and seen[1] is not None else b"0"
        out: list[Any] = [version, meta(gen, stamp, "1" if result else "0")]
        for r in result:
            score = getattr(r, self.score)
            out += [encode_member(getattr(r, self.member)), repr(score) if isinstance(score, float) else str(score)]
        return out

    # ---------------------------------------------------------------- reads

    def top(self, args: tuple[Any, ...], n: int, runtime: Runtime | None = None) -> list[RowT]:
        """The ``n`` members with the highest scores, highest first."""
        if n <= 0:
            return []

        def decode(reply: Any, gen: int) -> Any:
            kind = self._valid(reply, gen)
            return _MISSING if kind is None else ([] if kind == b"0" else self._rows(reply[2]))

        rows: list[RowT] = self.partial(args, runtime, ["top", n], decode, lambda full: list(full[:n]))
        return rows

    def rank(self, args: tuple[Any, ...], member: Any, runtime: Runtime | None = None) -> int | None:
        """The member's place (0: the highest score), or None when it is not ranked."""

        def decode(reply: Any, gen: int) -> Any:
            kind = self._valid(reply, gen)
            return _MISSING if kind is None else (None if kind == b"0" or reply[2] is None else int(reply[2]))

        def from_full(full: Any) -> int | None:
            names = [getattr(r, self.member) for r in full]
            return names.index(member) if member in names else None

        found: int | None = self.partial(args, runtime, ["rank", encode_member(member)], decode, from_full)
        return found

    def score_of(self, args: tuple[Any, ...], member: Any, runtime: Runtime | None = None) -> Any:
        """The member's score, or None when it is not ranked."""
        to_score = self._layout[2]

        def decode(reply: Any, gen: int) -> Any:
            kind = self._valid(reply, gen)
            return _MISSING if kind is None else (None if kind == b"0" or reply[3] is None else to_score(reply[3]))

        def from_full(full: Any) -> Any:
            return next((getattr(r, self.score) for r in full if getattr(r, self.member) == member), None)

        return self.partial(args, runtime, ["rank", encode_member(member)], decode, from_full)


# Before the write's commit: the ranking is being written; fills stop storing.
BEGIN_MOVE = """
redis.call('HINCRBY', KEYS[1], 'p', 1)
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# After the commit (ARGV[1] = 1) or a rollback (0): the mark is lifted and, if
# the write committed and the ranking is current, the member's score moves.
# KEYS: write mark, entry, meta, generation. ARGV: committed, member, delta.
FINISH_MOVE = """
redis.call('HINCRBY', KEYS[1], 'p', -1)
redis.call('HINCRBY', KEYS[1], 'v', 1)
if ARGV[1] ~= '1' then return 0 end
local meta = redis.call('GET', KEYS[3])
if not meta then return 0 end
local g, s, k = string.match(meta, '^(%d+) (%d+) (%d)$')
if not g or tonumber(g) ~= tonumber(redis.call('GET', KEYS[4]) or '0') then return 0 end
if k == '0' or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
  return 0
end
local score = tonumber(redis.call('ZINCRBY', KEYS[2], ARGV[3], ARGV[2]))
if score <= 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
end
return 1
"""


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

    @property
    def entry(self) -> str:
        return bounded(entry_prefix(self.spec, self.version), self.key)


@dataclass(frozen=True, slots=True)
class PendingMove:
    move: ScoreMove
    member: str
    marked: bool


def begin_moves(rt: Runtime, moves: tuple[ScoreMove, ...], args: tuple[Any, ...], rows: list[Any]) -> list[PendingMove]:
    """In the write's transaction, before its commit: mark each ranking the write moves."""
    pending: list[PendingMove] = []
    for m in moves:
        values = [args[m.member]] if isinstance(m.member, int) else [getattr(r, m.member.name) for r in rows]
        for member in map(encode_member, values):
            try:
                rt.cache.script(BEGIN_MOVE, [m.entry + ":w"], [WRITE_GUARD_MS])
                pending.append(PendingMove(m, member, True))
            except Exception as e:  # noqa: BLE001 - unmarked: the ranking is dropped after the commit
                rt.cache.failed(e)
                pending.append(PendingMove(m, member, False))
    return pending


def finish_moves(rt: Runtime, pending: list[PendingMove], committed: bool) -> None:
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
                    rt.cache.incr(generation_key(m.spec))
                continue
            rt.cache.script(FINISH_MOVE, [m.entry + ":w", m.entry, m.entry + ":meta", generation_key(m.spec)], [1 if committed else 0, p.member, repr(m.by)])
        except Exception as e:  # noqa: BLE001 - becomes a drop of the whole ranking
            log.warning("%s: moving a score failed (%s); dropping the ranking", m.spec, type(e).__name__)
            try:
                if committed:
                    rt.cache.incr(generation_key(m.spec))
            except Exception as again:  # noqa: BLE001
                log.error("%s: the ranking may be stale until its TTL: %s", m.spec, type(again).__name__)
