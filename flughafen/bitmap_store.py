"""BitmapQuery: ``store: bitmap``, a set of small non-negative integers cached as a Valkey bitmap.

An entry is two keys: the bitmap itself (``<key>``: bit n set when n is a
member, as the seed's ``SETBIT flight:1001:seatmap <n> 1``; an empty set is
an empty string, so it is still there) and ``<key>:meta``, the generation it
was stored under. Members are an int column (the offset itself) or, with
``seats:``, seat labels such as ``"12A"``: row number (1, 2, ... without
leading zeros) and one letter of the spec's alphabet, at offset
``(row - 1) * len(letters) + index(letter)``. The mapping is done here, in
Python, so the SQL stays the same on every database.

The guarantees are the json shape's (runtime/query.py): one script per hit
(generation, entry and answer read together: GETBIT, BITCOUNT or the whole
bitmap), a lock with an owner token on a miss, fills dropped when the lock
was lost, the generation moved or a tag was invalidated since the read began,
TTL with jitter, tags registered with the entry, and answers from the
database when Valkey is down. ``stampede: early`` and ``stale_if_error`` are
not offered for this store.

Writes keep entries up to date in place (runtime/bitmap_writes.py); they
hold the entry's lock while they run, so no fill can store what a write is
changing.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from flughafen.db import QueryError
from flughafen.keys import Template, tag_key
from flughafen.query import LOCK_MS, MAY_STORE, REGISTER_TAG, SEQUENCE_KEY, Col, Param, ReadQuery, Trigger, lock_key, tag_marker_key, warm_by_reading

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

RowT = TypeVar("RowT")
MemberT = TypeVar("MemberT")

MAX_OFFSET = (1 << 20) - 1  # a bitmap of at most 128 KiB
Op = Literal["members", "bit", "count"]

# Reads an entry, taking the lock first when given a token. KEYS: generation,
# entry, meta, lock, sequence. ARGV: op (members | bit | count), offset,
# token ('' takes no lock), lock ms. Returns {got lock, found, generation,
# sequence, answer}; the answer is left out when not found.
READ = """
local got = 0
if ARGV[3] ~= '' and redis.call('SET', KEYS[4], ARGV[3], 'NX', 'PX', ARGV[4]) then got = 1 end
local gen = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(redis.call('GET', KEYS[5]) or '0')
local meta = redis.call('GET', KEYS[3])
if not meta or tonumber(meta) ~= gen or redis.call('EXISTS', KEYS[2]) == 0 then
  return {got, 0, gen, seq}
end
local answer
if ARGV[1] == 'bit' then answer = redis.call('GETBIT', KEYS[2], ARGV[2])
elseif ARGV[1] == 'count' then answer = redis.call('BITCOUNT', KEYS[2])
else answer = redis.call('GET', KEYS[2]) end
return {got, 1, gen, seq, answer}
"""

# Stores a bitmap and its meta if may_store (query.MAY_STORE). KEYS: entry,
# lock, generation, meta, then per tag: the tag set and its marker. ARGV:
# token, bitmap, ttl ms, generation, sequence read before the query.
FILL = REGISTER_TAG + MAY_STORE + """
local ok, owned = may_store()
if not ok then
  if owned and ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
for i = 5, #KEYS, 2 do register_tag(KEYS[i], KEYS[1], ARGV[3]) end
if ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
return 1
"""


def seat_offset(label: str, letters: str) -> int | None:
    """A seat label's bit offset, or None when it is not a seat of this alphabet.

    >>> [seat_offset(s, "ABCDEF") for s in ["1A", "1F", "2A", "12C", "0A", "01A", "1G", "A", ""]]
    [0, 5, 6, 68, None, None, None, None, None]
    """
    if len(label) < 2 or not label[:-1].isdigit() or not label[:-1].isascii() or label[0] == "0":
        return None
    index = letters.find(label[-1])
    if index < 0 or len(label[-1]) != 1:
        return None
    offset = (int(label[:-1]) - 1) * len(letters) + index
    return offset if offset <= MAX_OFFSET else None


def seat_label(offset: int, letters: str) -> str:
    """The seat at a bit offset: ``seat_label(68, "ABCDEF") == "12C"``."""
    return f"{offset // len(letters) + 1}{letters[offset % len(letters)]}"


def encode_bitmap(offsets: set[int]) -> bytes:
    """The bitmap Valkey's SETBIT would build: bit n is the (n % 8)-th highest bit of byte n // 8.

    >>> encode_bitmap({0, 9}), encode_bitmap(set())
    (b'\\x80@', b'')
    """
    if not offsets:
        return b""
    out = bytearray(max(offsets) // 8 + 1)
    for n in offsets:
        out[n >> 3] |= 0x80 >> (n & 7)
    return bytes(out)


def decode_bitmap(data: bytes) -> list[int]:
    """The set bits of a bitmap, ascending: ``decode_bitmap(b"\\x80@") == [0, 9]``."""
    return [i * 8 + b for i, byte in enumerate(data) if byte for b in range(8) if byte & (0x80 >> b)]


class BitmapQuery(Generic[RowT, MemberT]):
    """A generated bitmap accessor's query: built once at import, used on every call."""

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
        member: str,
        seats: str | None = None,
        key: Template,
        tags: tuple[Template, ...] = (),
        ttl: int,
        jitter: float = 0.0,
        negative_ttl: int | None = None,
        stampede: Literal["lock", "none"] = "lock",
        tables: tuple[str, ...] = (),
        triggers: tuple[Trigger, ...] = (),
    ) -> None:
        # Keys, parameter checks, typed database reads and tags are the json shape's.
        self.rows: ReadQuery[RowT] = ReadQuery(
            name=name,
            version=version,
            sql=sql,
            params=params,
            param_order=param_order,
            row=row,
            columns=columns,
            returns="many",
            key=key,
            tags=tags,
            ttl=ttl,
            jitter=jitter,
            negative_ttl=negative_ttl,
            stampede=stampede,
            tables=tables,
            triggers=triggers,
        )
        self.name, self.version, self.params = name, version, params
        self.sql, self.param_order = sql, param_order  # for explain and verify, as a ReadQuery's
        self.member, self.seats = member, seats
        self.returns: Literal["many"] = "many"
        self.generation_key = self.rows.generation_key

    # ------------------------------------------------------------- members

    def key(self, args: tuple[Any, ...]) -> str:
        return self.rows.key(args)

    def offset(self, member: Any) -> int | None:
        """A member's bit offset; None when the value cannot be one."""
        if self.seats is not None:
            return seat_offset(member, self.seats) if isinstance(member, str) else None
        if type(member) is int and 0 <= member <= MAX_OFFSET:
            return member
        return None

    def _offset_of_argument(self, member: Any) -> int:
        offset = self.offset(member)
        if offset is None:
            raise ValueError(f"{self.name}: {member!r} is not a member this set can hold ({self.describe()})")
        return offset

    def describe(self) -> str:
        if self.seats is not None:
            return f"a seat: row 1 and up, no leading zero, then one of {self.seats}"
        return f"an int from 0 to {MAX_OFFSET}"

    def label(self, offset: int) -> Any:
        return seat_label(offset, self.seats) if self.seats is not None else offset

    # -------------------------------------------------------------- database

    def offsets_from_database(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[set[int], list[RowT]]:
        """The set's offsets and rows straight from the database; NULL members are no members."""
        rows = self.rows.query_database(args, runtime)
        offsets: set[int] = set()
        column = self.member
        for r in rows:
            value = getattr(r, column)
            if value is None:
                continue
            offset = self.offset(value)
            if offset is None:
                raise QueryError(f"{self.name}: the database holds {column} {value!r}, which this set cannot hold ({self.describe()})")
            offsets.add(offset)
        return offsets, rows

    def query_database(self, args: tuple[Any, ...], runtime: Runtime) -> list[MemberT]:
        """The members straight from the database, in offset order; no cache involved."""
        offsets, _ = self.offsets_from_database(args, runtime)
        return [self.label(n) for n in sorted(offsets)]

    # ----------------------------------------------------------------- reads

    def members(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> list[MemberT]:
        """Every member, in offset order (for seats: 1A, 1B, ..., 2A, ...)."""
        result: list[MemberT] = self._read(args, "members", 0, runtime)
        return result

    def contains(self, args: tuple[Any, ...], member: MemberT, runtime: Runtime | None = None) -> bool:
        """GETBIT: whether ``member`` is in the set."""
        return bool(self._read(args, "bit", self._offset_of_argument(member), runtime))

    def count(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> int:
        """BITCOUNT: how many members the set has."""
        return int(self._read(args, "count", 0, runtime))

    def many(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> list[MemberT]:
        return self.members(args, runtime)

    def many_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> list[list[MemberT]]:
        """Many parameter sets, one read each (for ``flughafen-gen warm``)."""
        return [self.members(args, runtime) for args in batch]

    def warm_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> int:
        """Fill the missing entries of many parameter sets ahead of traffic, each as a read; returns how many were filled."""
        return warm_by_reading(self.name, self.many_batch, batch, runtime)

    def _answer(self, op: Op, offset: int, offsets: set[int]) -> Any:
        if op == "bit":
            return int(offset in offsets)
        if op == "count":
            return len(offsets)
        return [self.label(n) for n in sorted(offsets)]

    def _decode(self, op: Op, answer: Any) -> Any:
        if op == "members":
            return [self.label(n) for n in decode_bitmap(answer or b"")]
        return int(answer)

    def _read(self, args: tuple[Any, ...], op: Op, offset: int, runtime: Runtime | None) -> Any:
        rt = runtime if runtime is not None else _default()
        key = self.key(args)
        cache = rt.cache
        counters = rt.metrics.of(self.name)
        if not cache.usable():
            counters.misses += 1
            return self._answer(op, offset, self.offsets_from_database(args, rt)[0])
        keys = [self.generation_key, key, key + ":meta", lock_key(key), SEQUENCE_KEY]
        try:
            start = time.perf_counter()
            _, found, gen, seq, *answer = cache.script(READ, keys, [op, offset, "", 0])
            counters.cache_seconds += time.perf_counter() - start
            cache.ok()
        except Exception as e:  # noqa: BLE001 - any cache failure: answer from the database
            cache.failed(e, counters)
            counters.misses += 1
            return self._answer(op, offset, self.offsets_from_database(args, rt)[0])
        if found:
            counters.hits += 1
            return self._decode(op, answer[0])
        counters.misses += 1
        if self.rows.stampede != "lock":
            return self._fill(rt, args, key, int(gen), int(seq), "", op, offset)
        return self._miss_with_lock(rt, args, key, keys, op, offset)

    def _miss_with_lock(self, rt: Runtime, args: tuple[Any, ...], key: str, keys: list[str], op: Op, offset: int) -> Any:
        """Take the lock and fill, or wait for the owner's entry; bounded by the lock's lifetime."""
        cache = rt.cache
        counters = rt.metrics.of(self.name)
        token = secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_MS / 1000
        pause = 0.002
        while True:
            try:
                got, found, gen, seq, *answer = cache.script(READ, keys, [op, offset, token, LOCK_MS])
            except Exception as e:  # noqa: BLE001
                cache.failed(e, counters)
                return self._answer(op, offset, self.offsets_from_database(args, rt)[0])
            if found:
                if got:
                    cache.release(lock_key(key), token)
                return self._decode(op, answer[0])
            if got:
                return self._fill(rt, args, key, int(gen), int(seq), token, op, offset)
            if time.monotonic() > deadline:
                return self._answer(op, offset, self.offsets_from_database(args, rt)[0])
            counters.lock_waits += 1
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _fill(self, rt: Runtime, args: tuple[Any, ...], key: str, gen: int, seq: int, token: str, op: Op, offset: int) -> Any:
        try:
            offsets, rows = self.offsets_from_database(args, rt)
        except BaseException:
            if token:
                rt.cache.release(lock_key(key), token)
            raise
        q = self.rows
        ttl_ms = q.ttl_ms(not offsets)
        keys = [key, lock_key(key), self.generation_key, key + ":meta"]
        for tag in self.rows._tag_names(args, rows):
            keys += [tag_key(tag), tag_marker_key(tag)]
        rt.cache.fill(FILL, keys, [token, encode_bitmap(offsets), ttl_ms, gen, seq], rt.metrics.of(self.name))
        return self._answer(op, offset, offsets)

    # ---------------------------------------------------------- invalidation

    def invalidate(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> None:
        rt = runtime if runtime is not None else _default()
        key = self.key(args)
        rt.cache.delete(key, key + ":meta", lock_key(key))

    def invalidate_all(self, runtime: Runtime | None = None) -> None:
        rt = runtime if runtime is not None else _default()
        rt.cache.incr(self.generation_key)


def _default() -> Runtime:
    from flughafen.runtime import default_runtime

    return default_runtime()
