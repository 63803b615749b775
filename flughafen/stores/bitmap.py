"""``store: bitmap``: a set of small non-negative integers cached as a Valkey bitmap.

An entry is two keys: the bitmap itself (``<key>``: bit n set when n is a member, as
the seed's ``SETBIT flight:1001:seatmap <n> 1``; an empty set is an empty string, so
it is still there) and ``<key>:meta``, the generation it was stored under. Members
are an int column (the offset itself) or, with ``seats:``, seat labels such as
``"12A"``: row number (1, 2, ... without leading zeros) and one letter of the spec's
alphabet, at offset ``(row - 1) * len(letters) + index(letter)``. The mapping is done
here, in Python, so the SQL stays the same on every database.

Reads are the protocol's (protocol.py), with one script per hit: generation, entry
and answer read together (GETBIT, BITCOUNT or the whole bitmap). ``stale_if_error``
keeps ``<key>:stale`` (and its ``:meta``): the set as the last fill stored it, which
writes do not keep up to date. ``stampede: early`` is refused by the build: a
bitmap keeps no expiry estimate.

The write hook (SetUpdate) keeps entries up to date in place after a write's
commit; it holds the entry's lock from before the commit, so no fill can store what
a write is changing:

1. hold, before the commit: for the set's entry and each counter entry, count this
   write in ``<key>:wip`` and put ``w!`` in its lock. Fills in flight lose their
   lease (their fill script refuses to store), and readers that miss wait for the
   lock, as for any fill.
2. commit.
3. apply, one script per bucket (keys.py), for the entries there: a counter entry
   kept in another bucket than its set is dropped (no script may touch both). If every hold is intact (no invalidation deleted a lock
   meanwhile) and the set's entry is there under its current generation, SETBIT
   (or clear) each member; the number of bits that really changed (0 for a bit
   already set: idempotent) moves each counter field, in entries that are there
   under their generation. An entry that is missing is not created. When the set's
   entry is missing, stale or a hold was broken, or a written row has no member the
   set can hold (NULL, or a label outside the alphabet), the set and its counter
   entries are dropped instead (never a partial entry). Then the holds are
   released; the lock goes when no other write holds it. When a hold was broken,
   a reader may have taken the lock since and be filling from before the commit:
   the locks are deleted whoever holds them, so that fill is dropped too.

A write that fails before its commit releases its holds and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from flughafen import io_sync
from flughafen.accessor import Accessor
from flughafen.convert import converter
from flughafen.db import QueryError
from flughafen.keys import Keyspace, RowField, Template, bucket_of, entry_key, fill, generation_in, lock_key, placement
from flughafen.protocol import MISSING, Effect, Eval, Pipe, Steps, View
from flughafen.scripts import APPLY_SETS, BITMAP, HOLD, LOCK_MS, RELEASE_HOLDS
from flughafen.spec import Col, Param, Trigger

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

RowT = TypeVar("RowT")
MemberT = TypeVar("MemberT")
log = logging.getLogger("flughafen")

MAX_OFFSET = (1 << 20) - 1  # a bitmap of at most 128 KiB
HOLD_MS = LOCK_MS * 2
DROPPED = -1_000_000_000


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


def member_offset(member: Any, seats: str | None) -> int | None:
    """A member's bit offset (a seat label with ``seats``, else the int itself); None when the value cannot be one."""
    if seats is not None:
        return seat_offset(member, seats) if isinstance(member, str) else None
    return member if type(member) is int and 0 <= member <= MAX_OFFSET else None


class BitmapCodec:
    scripts = BITMAP

    def hit_read(self, generation_key: str, key: str, view: View) -> Effect:
        return Eval(BITMAP.hit, [generation_key, key, *(key + s for s in BITMAP.companions)], list(view.read))

    def open(self, entry: Any, gen: int | None) -> Any:
        """The read's reply, {meta, answer}, when current."""
        if not entry[0] or (gen is not None and int(entry[0]) != gen):
            return MISSING
        return entry

    def store_args(self, value: Any, gen: int, stamp: int, seen: Any, ttl_ms: int, delta_ms: int) -> list[Any]:
        return [encode_bitmap(value), gen]

    def refresh_early(self, opened: Any) -> bool:
        return False


class BitmapQuery(Accessor[RowT], Generic[RowT, MemberT]):
    """A generated bitmap accessor's query: built once at import, used on every call."""

    codec = BitmapCodec()
    companions = (":meta",)

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
        replica_reads: int | None = None,
    ) -> None:
        self.member, self.seats = member, seats
        super().__init__(
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
            replica_reads=replica_reads,
        )
        self.whole = View(("members", 0), self._labels_of_entry, self.labels)
        self._count = View(("count", 0), lambda entry: int(entry[1]), len)

    # ------------------------------------------------------------- members

    def offset(self, member: Any) -> int | None:
        """A member's bit offset; None when the value cannot be one."""
        return member_offset(member, self.seats)

    def describe(self) -> str:
        if self.seats is not None:
            return f"a seat: row 1 and up, no leading zero, then one of {self.seats}"
        return f"an int from 0 to {MAX_OFFSET}"

    def label(self, offset: int) -> Any:
        return seat_label(offset, self.seats) if self.seats is not None else offset

    def labels(self, offsets: set[int]) -> list[Any]:
        return [self.label(n) for n in sorted(offsets)]

    def _labels_of_entry(self, entry: Any) -> list[Any]:
        return [self.label(n) for n in decode_bitmap(entry[1] or b"")]

    # -------------------------------------------------------------- database

    def offsets_of(self, rows: list[RowT]) -> set[int]:
        """The set's offsets from the database's rows; NULL members are no members."""
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
        return offsets

    def offsets_from_database(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[set[int], list[RowT]]:
        """The set's offsets and rows straight from the database."""
        rows = self.rows_from_database(args, runtime)
        return self.offsets_of(rows), rows

    def fresh(self, args: tuple[Any, ...], runtime: Runtime) -> tuple[Any, Any]:
        return self.offsets_from_database(args, runtime)

    async def fresh_async(self, args: tuple[Any, ...], runtime: AsyncRuntime) -> tuple[Any, Any]:
        rows = await self.rows_from_database_async(args, runtime)
        return self.offsets_of(rows), rows

    def result_of(self, rows: list[RowT]) -> list[MemberT]:
        """The members, in offset order (query_database's answer)."""
        return self.labels(self.offsets_of(rows))

    # ----------------------------------------------------------------- reads

    def members(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[MemberT]:
        """Every member, in offset order (for seats: 1A, 1B, ..., 2A, ...)."""
        result: list[MemberT] = self.read(args, runtime, self.whole, None, refresh, cache)
        return result

    async def members_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> list[MemberT]:
        result: list[MemberT] = await self.read_async(args, runtime, self.whole, None, refresh, cache)
        return result

    def contains_view(self, member: MemberT) -> View:
        """GETBIT: whether ``member`` is in the set."""
        offset = self.offset(member)
        if offset is None:
            raise ValueError(f"{self.name}: {member!r} is not a member this set can hold ({self.describe()})")
        return View(("bit", offset), lambda entry: int(entry[1]) == 1, lambda offsets: offset in offsets)

    def contains(self, args: tuple[Any, ...], member: MemberT, runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> bool:
        """GETBIT: whether ``member`` is in the set."""
        return bool(self.read(args, runtime, self.contains_view(member), None, refresh, cache))

    async def contains_async(
        self, args: tuple[Any, ...], member: MemberT, runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True
    ) -> bool:
        return bool(await self.read_async(args, runtime, self.contains_view(member), None, refresh, cache))

    def count(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> int:
        """BITCOUNT: how many members the set has."""
        return int(self.read(args, runtime, self._count, None, refresh, cache))

    async def count_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> int:
        return int(await self.read_async(args, runtime, self._count, None, refresh, cache))

    def many(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> list[MemberT]:
        return self.members(args, runtime, refresh, cache)


# ---------------------------------------------------------------- the write hook


@dataclass(frozen=True, slots=True)
class Counter:
    """An entry of another read spec whose int fields follow the set's size."""

    name: str
    version: str
    key: Template  # its key template; ints index the set's key values
    fields: tuple[tuple[str, int], ...]  # (field, change per member added)


@dataclass(frozen=True, slots=True)
class SetUpdate:
    """One set a write keeps up to date: ``op`` "set" (INSERT) or "clear" (DELETE)."""

    name: str
    version: str
    key: Template  # the set's key template; ints index its key values
    args: tuple[int | RowField, ...]  # each key value: a write parameter's index, or a looked-up column
    arg_types: tuple[str, ...]
    member: int | RowField
    seats: str | None
    op: Literal["set", "clear"]
    counters: tuple[Counter, ...] = ()


@dataclass(slots=True)
class _Group:
    op: str
    key: str
    generation: str
    counters: list[tuple[str, str, tuple[tuple[str, int], ...]]]
    offsets: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Held:
    """What a write holds between its commit and its update."""

    groups: list[_Group]
    holds: list[str]  # lock and write-count keys, in pairs
    applied: bool = False

    def per_bucket(self) -> dict[str, tuple[list[str], list[_Group]]]:
        """Per bucket: its hold keys and the groups whose set lives there."""
        out: dict[str, tuple[list[str], list[_Group]]] = {}
        for i in range(0, len(self.holds), 2):
            out.setdefault(bucket_of(self.holds[i]), ([], []))[0].extend(self.holds[i : i + 2])
        for g in self.groups:
            out.setdefault(bucket_of(g.key), ([], []))[1].append(g)
        return out

    def apply_commands(self) -> tuple[list[tuple[Any, ...]], list[list[int]]]:
        """APPLY_SETS per bucket (its holds, its groups, their counters in that bucket), after
        a DEL of every counter entry kept in another bucket than its set (which no script may
        touch with the set): the commands, and per APPLY_SETS the indexes of its groups."""
        drops: list[tuple[Any, ...]] = []
        applies: list[tuple[Any, ...]] = []
        indexes: list[list[int]] = []
        position = {id(g): i for i, g in enumerate(self.groups)}
        for bucket, (holds, groups) in self.per_bucket().items():
            keys = list(holds)
            args: list[Any] = [len(holds) // 2, len(groups)]
            for g in groups:
                keys += [g.generation, g.key, g.key + ":meta"]
                local = [c for c in g.counters if bucket_of(c[0]) == bucket]
                drops += [("DEL", c[0]) for c in g.counters if bucket_of(c[0]) != bucket]
                args += [g.op, len(g.offsets), *g.offsets, len(local)]
                for entry, gen, fields in local:
                    keys += [gen, entry]
                    args.append(len(fields))
                    for name, change in fields:
                        args += [name, change]
            applies.append(("EVALSHA", APPLY_SETS, keys, args))
            indexes.append([position[id(g)] for g in groups])
        return drops + applies, indexes

    # WriteQuery's pending hook (see write.py): steps of effects, run by either shell.

    def rolled_back(self, cache: Any) -> Steps:
        yield from release_steps(cache, self)

    def committed(self, cache: Any, args: tuple[Any, ...], tags: list[str]) -> Steps:
        yield from ()
        return tags

    def apply(self, cache: Any) -> Steps:
        if not self.applied:
            yield from apply_steps(self)
            self.applied = True  # a retry of the invalidation must not apply it twice

    def unsettled_keys(self) -> list[str]:
        """What to drop when the update never reaches Valkey: each set and its counter entries."""
        if self.applied:
            return []
        return [k for g in self.groups for k in (g.key, g.key + ":meta", *(c[0] for c in g.counters))]


def _counter(entry: str, generation: str, fields: tuple[tuple[str, int], ...]) -> tuple[str, str, tuple[tuple[str, int], ...]]:
    return entry, generation_in(generation, bucket_of(entry)), fields


def _value(source: int | RowField, args: tuple[Any, ...], row: Any, kind: str) -> Any:
    if isinstance(source, int):
        return args[source]
    value = getattr(row, source.name)
    return None if value is None else converter(kind, None)(value)


def changes(sets: tuple[SetUpdate, ...], args: tuple[Any, ...], rows: list[Any], space: Keyspace) -> Held:
    """The entries a write changes (in namespace ``space``), from its parameters and looked-up rows."""
    groups: dict[str, _Group] = {}
    for u in sets:
        looked_up = any(isinstance(s, RowField) for s in (*u.args, u.member))
        member_type = "str" if u.seats is not None else "int"
        for row in rows if looked_up else [None]:
            values = tuple(_value(s, args, row, t) for s, t in zip(u.args, u.arg_types, strict=False))
            member = _value(u.member, args, row, member_type)
            key = entry_key(space.entry_prefix(u.name, u.version), fill(u.key, values), placement(u.key)(values, None))
            group = groups.get(key)
            if group is None:
                counters = [
                    _counter(
                        entry_key(space.entry_prefix(c.name, c.version), fill(c.key, values), placement(c.key)(values, None)),
                        space.generation_key(c.name),
                        c.fields,
                    )
                    for c in u.counters
                ]
                group = groups[key] = _Group(u.op, key, generation_in(space.generation_key(u.name), bucket_of(key)), counters)
            if member is None:
                group.op = "drop"  # a row without a member: the set is right, but counters may count such rows
                continue
            offset = member_offset(member, u.seats)
            if offset is None:
                log.warning("%s: %r is not a member the set can hold; its entry is dropped", u.name, member)
                group.op = "drop"
            else:
                group.offsets.append(offset)
    holds: list[str] = []
    for g in groups.values():
        for entry in [g.key, *(c[0] for c in g.counters)]:
            if lock_key(entry) not in holds:
                holds += [lock_key(entry), entry + ":wip"]
    return Held(list(groups.values()), holds)


def hold_steps(cache: Any, held: Held) -> Steps:
    """Before the commit: mark the entries as being written. A cache failure is remembered, not raised."""
    if held.holds:
        try:
            yield Pipe([("EVALSHA", HOLD, holds, [HOLD_MS]) for holds, _ in held.per_bucket().values() if holds])
        except Exception as e:  # noqa: BLE001 - the update after the commit drops the entries instead
            cache.failed(e)


def release_steps(cache: Any, held: Held) -> Steps:
    """The write failed before its commit: let go of the entries, unchanged."""
    if held.holds:
        try:
            yield Pipe([("EVALSHA", RELEASE_HOLDS, holds, []) for holds, _ in held.per_bucket().values() if holds])
        except Exception as e:  # noqa: BLE001 - the holds expire on their own
            cache.failed(e)


def apply_steps(held: Held) -> Steps:
    """After the commit: one script per bucket updates (or drops) its entries and releases its holds.

    Returns per set entry the members really added (negative: removed), or
    DROPPED. Raises what the cache raised; WriteQuery retries.
    """
    if not held.groups:
        return []
    commands, indexes = held.apply_commands()
    replies = (yield Pipe(commands))[len(commands) - len(indexes) :]
    out = [0] * len(held.groups)
    for at, reply in zip(indexes, replies, strict=True):
        for i, n in zip(at, reply, strict=True):
            out[i] = int(n)
    return out


def hold(rt: Runtime, held: Held) -> None:
    """hold_steps on a sync runtime."""
    io_sync.run_write(rt, hold_steps(rt.cache, held))


def apply(rt: Runtime, held: Held) -> list[int]:
    """apply_steps on a sync runtime."""
    done: list[int] = io_sync.run_write(rt, apply_steps(held))
    return done


class Maintains:
    """WriteQuery's hook for ``sets=``: the entries held from before the commit, updated with its invalidation."""

    def __init__(self, sets: tuple[SetUpdate, ...]):
        self.sets = sets

    def begin(self, cache: Any, args: tuple[Any, ...], rows: list[Any], count: int) -> Steps:
        held = changes(self.sets, args, rows, cache.keyspace)
        yield from hold_steps(cache, held)  # before the commit: no fill stores what this write changes
        return held
