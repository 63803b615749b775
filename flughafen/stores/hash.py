"""``store: hash``: a ``returns: one`` row as a Valkey hash, one field per column.

    HGETALL fg:<ns>:airport_by_iata:<version>:airport:JFK
    ~ "0 17 1"   airport_id 3797   iata JFK   name "JOHN F KENNEDY INTL"   latitude 40.63980103 ...

Values are text, exact for every type, in their shortest form, since every
byte counts toward the hash's size (a listpack; integer-looking text is stored as
an integer): a decimal column with a scale drops trailing zeros (``40.639722``;
reading it back restores the scale, ``40.63972200``), other decimals keep their
digits, date/datetime/time are ISO 8601, bool is ``1``/``0``, a whole float is an
integer (``6076``), any other float is ``repr``. A NULL column has no field. The field ``~`` holds the entry's bookkeeping (stores/meta.py);
an empty result is a hash with ``~`` alone, so "no such row" is cached and told
apart from "not cached".

A hit is ``GET`` of the generation and ``HMGET`` of the fields, pipelined (no script).
Single fields are readable (``HMGET key ~ city``: one round trip, generation
checked), and a write that sets columns the hash shows refreshes them in place
(HashRefresh, the write hook below) instead of dropping the entry.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from flughafen import io_sync
from flughafen.accessor import Accessor
from flughafen.convert import Convert, converter
from flughafen.keys import Keyspace, Template, buckets, fill, generation_in, lock_key
from flughafen.protocol import MISSING, Effect, Pipe, Steps, View
from flughafen.scripts import HASH, INCR, MARK_TAGS, MARKER_MS, REFRESH_HASH
from flughafen.stores.meta import kind_under, meta

if TYPE_CHECKING:
    from flughafen.runtime import Runtime
    from flughafen.runtime_async import AsyncRuntime

RowT = TypeVar("RowT")
log = logging.getLogger("flughafen")

META = "~"  # never a column name: columns are identifiers


def encode_field(value: Any) -> str:
    """A column value as hash field text, read back exactly by the column's converter.

    >>> [encode_field(v) for v in (True, 7, 0.1, 6076.0, -0.0, Decimal("40.63980100"), datetime.date(2024, 12, 15), "JFK")]
    ['1', '7', '0.1', '6076', '-0.0', '40.63980100', '2024-12-15', 'JFK']
    """
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, float):
        negative_zero = value == 0 and math.copysign(1.0, value) < 0
        whole = value.is_integer() and abs(value) < 1e15 and not negative_zero
        return str(int(value)) if whole else repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def scaled_decimal_field(value: Any) -> str:
    """A decimal column with a scale: no trailing zeros (its converter restores the scale on reading).

    >>> [scaled_decimal_field(Decimal(t)) for t in ("40.63980100", "-73.00", "100.00", "0.00")]
    ['40.639801', '-73', '100', '0']
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        return encode_field(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class HashCodec:
    scripts = HASH

    def hit_read(self, generation_key: str, key: str, view: View) -> Effect:
        return Pipe([("GET", generation_key), ("HMGET", key, *view.read)])

    def open(self, entry: Any, gen: int | None) -> Any:
        """(kind, the HMGET reply) when current."""
        kind = kind_under(entry[0] if entry else None, gen)
        return MISSING if kind is None else (kind, entry)

    def store_args(self, value: Any, gen: int, stamp: int, seen: Any, ttl_ms: int, delta_ms: int) -> list[Any]:
        if value is None:
            return [META, meta(gen, stamp, "0")]
        out: list[Any] = [META, meta(gen, stamp, "1")]
        for name, encode in zip(self.names, self.encoders, strict=False):
            field_value = getattr(value, name)
            if field_value is not None:
                out += [name, encode(field_value)]
        return out

    def refresh_early(self, opened: Any) -> bool:
        return False

    def __init__(self, names: list[str], encoders: list[Callable[[Any], str]]):
        self.names, self.encoders = names, encoders


def _same(value: Any) -> Any:
    return value


class HashQuery(Accessor[RowT]):
    """A generated ``store: hash`` accessor's query: ``one`` reads the row, ``field`` one column."""

    def _prepare(self) -> None:
        names = [c.name for c in self.columns]
        decoders = tuple(_from_bytes(c.type, c.scale) for c in self.columns)
        self.codec = HashCodec(names, [scaled_decimal_field if c.type == "decimal" and c.scale is not None else encode_field for c in self.columns])
        make: Any = self.row

        def row(opened: Any) -> Any:
            kind, reply = opened
            return None if kind == b"0" else make(*[None if v is None else d(v) for d, v in zip(decoders, reply[1:], strict=False)])

        self.whole = View((META, *names), row, _same)
        self._fields: dict[str, View] = {}
        for name, to_value in zip(names, decoders, strict=False):

            def one_field(opened: Any, to_value: Convert = to_value) -> Any:
                kind, reply = opened
                return None if kind == b"0" or reply[1] is None else to_value(reply[1])

            def from_row(row: Any, get: Callable[[Any], Any] = attrgetter(name)) -> Any:
                return None if row is None else get(row)

            self._fields[name] = View((META, name), one_field, from_row)

    def one(self, args: tuple[Any, ...], runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> RowT | None:
        result: RowT | None = self.read(args, runtime, self.whole, None, refresh, cache)
        return result

    async def one_async(self, args: tuple[Any, ...], runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> RowT | None:
        result: RowT | None = await self.read_async(args, runtime, self.whole, None, refresh, cache)
        return result

    def field(self, args: tuple[Any, ...], name: str, runtime: Runtime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        """One column of the row (None: no such row, or NULL): one HMGET on a hit; a miss fills the whole row."""
        return self.read(args, runtime, self._fields[name], None, refresh, cache)

    async def field_async(self, args: tuple[Any, ...], name: str, runtime: AsyncRuntime | None = None, refresh: bool = False, cache: bool = True) -> Any:
        return await self.read_async(args, runtime, self._fields[name], None, refresh, cache)


def _from_bytes(type_name: str, scale: int | None) -> Convert:
    """A stored field's bytes -> the column's value: ints and floats parse bytes as they are."""
    if type_name == "str":
        return bytes.decode
    if type_name in ("int", "float"):
        return int if type_name == "int" else float
    if type_name == "bool":
        return lambda v: v == b"1"
    text = converter(type_name, scale)
    return lambda v: text(v.decode())


# ---------------------------------------------------------------- the write hook


@dataclass(frozen=True, slots=True)
class HashRefresh:
    """A write that sets columns a ``store: hash`` read spec shows: its entries under ``tag`` get the new values.

    ``fields`` pairs each hash field with the write parameter (by index) that
    sets it. The build makes one only for an UPDATE whose WHERE binds the
    tag's columns (so two writes of one tag lock the same rows and commit in
    ticket order), setting plain projected columns the query uses nowhere else.
    """

    spec: str
    version: str
    tag: Template
    fields: tuple[tuple[str, int], ...]

    def tag_for(self, args: tuple[Any, ...]) -> str:
        return fill(self.tag, args)


def take_ticket(cache: Any, refresh: tuple[HashRefresh, ...]) -> Steps:
    """In the write's transaction, after its statement (its rows locked): a number ordering it among writes of those rows."""
    if not refresh:
        return None
    try:
        tickets = yield Pipe([("EVALSHA", INCR, [cache.keyspace.sequence_in(b)], []) for b in buckets()])
        return [int(t) for t in tickets]
    except Exception as e:  # noqa: BLE001 - no ticket: the entries are dropped instead
        cache.failed(e)
        return None


def refresh_steps(refresh: tuple[HashRefresh, ...], args: tuple[Any, ...], tags: list[str], ticket: list[int] | None, space: Keyspace) -> Steps:
    """After commit: refresh the hash entries under each refresh's tag (in namespace ``space``); returns the tags still to drop.

    Any failure leaves those tags in the list: the caller drops them (the
    json path), so a failed refresh never leaves an old value behind.
    """
    if ticket is None:
        return tags
    remaining = list(tags)
    for r in refresh:
        tag = r.tag_for(args)
        if tag not in remaining:
            continue
        pairs: list[Any] = []
        for name, index in r.fields:
            value = args[index]
            if value is None:
                break  # a NULL removes a field: drop the entry instead
            pairs += [name, encode_field(value)]
        else:
            try:
                yield from _refresh_tag(r, tag, ticket, pairs, space)
            except Exception as e:  # noqa: BLE001 - the tag is dropped by the caller instead
                log.warning("%s: refreshing %s in place failed (%s); dropping it", r.spec, tag, type(e).__name__)
                continue
            remaining.remove(tag)
    return remaining


def _refresh_tag(r: HashRefresh, tag: str, ticket: list[int], pairs: list[Any], space: Keyspace) -> Steps:
    """One tag's refresh in every bucket: its markers move and its sets are read, then each bucket's members are refreshed."""
    marks = [("EVALSHA", MARK_TAGS, [space.sequence_in(b), *space.tag_keys(tag, b)], [MARKER_MS]) for b in buckets()]
    replies = yield Pipe(marks)
    prefix, generation = space.entry_prefix(r.spec, r.version), space.generation_key(r.spec)
    refreshes = []
    for b, t, reply in zip(buckets(), ticket, replies, strict=True):
        members = [m.decode("utf-8", "surrogateescape") for m in reply[1:]]
        if members:
            keys = [generation_in(generation, b), space.tag_key(tag, b), *(k for m in members for k in (m, lock_key(m)))]
            refreshes.append(("EVALSHA", REFRESH_HASH, keys, [t, prefix, *pairs]))
    if refreshes:
        yield Pipe(refreshes)


def refresh_in_place(rt: Runtime, refresh: tuple[HashRefresh, ...], args: tuple[Any, ...], tags: list[str], ticket: list[int] | None) -> list[str]:
    """refresh_steps on a sync runtime."""
    remaining: list[str] = io_sync.run_write(rt, refresh_steps(refresh, args, tags, ticket, rt.keyspace))
    return remaining


class Refreshes:
    """WriteQuery's hook for ``refresh=``: a ticket in the transaction, the refresh after the commit."""

    def __init__(self, refresh: tuple[HashRefresh, ...]):
        self.refresh = refresh

    def begin(self, cache: Any, args: tuple[Any, ...], rows: list[Any], count: int) -> Steps:
        if not count:
            return None
        return Refreshing(self.refresh, (yield from take_ticket(cache, self.refresh)))


class Refreshing:
    def __init__(self, refresh: tuple[HashRefresh, ...], ticket: list[int] | None):
        self.refresh, self.ticket = refresh, ticket

    def rolled_back(self, cache: Any) -> Steps:
        yield from ()

    def committed(self, cache: Any, args: tuple[Any, ...], tags: list[str]) -> Steps:
        remaining: list[str] = yield from refresh_steps(self.refresh, args, tags, self.ticket, cache.keyspace)
        return remaining

    def apply(self, cache: Any) -> Steps:
        yield from ()

    def unsettled_keys(self) -> list[str]:
        return []
