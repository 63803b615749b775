"""``store: hash``: a ``returns: one`` row as a Valkey hash, one field per column.

    HGETALL fg:airport_by_iata:<version>:airport:JFK
    ~ "0 17 1"   airport_id 3797   iata JFK   name "JOHN F KENNEDY INTL"   latitude 40.63980103 ...

Values are text, exact for every type: Decimal keeps its digits (``40.63980103``),
date/datetime/time are ISO 8601, bool is ``1``/``0``, float is ``repr``. A
NULL column has no field. The field ``~`` holds the entry's bookkeeping
(generation, stamp, kind: see shaped.meta); an empty result is a hash with
``~`` alone, so "no such row" is cached and told apart from "not cached".

Single fields are readable (``HMGET key ~ city``: one round trip, generation
checked), and a write that sets columns the hash shows refreshes them in
place (HashRefresh), instead of dropping the entry.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from flughafen.convert import Convert, converter
from flughafen.keys import Template, entry_prefix, fill, generation_key, tag_key
from flughafen.query import _MISSING, LOCK_MS, SEQUENCE_KEY, tag_marker_key
from flughafen.shaped import ShapedQuery, meta, meta_generation

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

RowT = TypeVar("RowT")
log = logging.getLogger("flughafen")

META = "~"  # never a column name: columns are identifiers

READ_HASH = """
local function read(key, fields)
  return redis.call('HMGET', key, unpack(fields))
end
"""

# args: field, value, field, value, ... (the meta field first).
STORE_HASH = """
local function store(key, ttl, args, main)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(args))
  redis.call('PEXPIRE', key, ttl)
  return {key}
end
"""


def encode_field(value: Any) -> str:
    """A column value as hash field text, read back exactly by the column's converter.

    >>> [encode_field(v) for v in (True, 7, 0.1, Decimal("40.63980103"), datetime.date(2024, 12, 15), "JFK")]
    ['1', '7', '0.1', '40.63980103', '2024-12-15', 'JFK']
    """
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


class HashQuery(ShapedQuery[RowT]):
    """A generated ``store: hash`` accessor's query: ``one`` reads the row, ``field`` one column."""

    READ_LUA = READ_HASH
    STORE_LUA = STORE_HASH

    @cached_property
    def _names(self) -> list[str]:
        return [c.name for c in self.columns]

    @cached_property
    def _decoders(self) -> tuple[Convert, ...]:
        """Per column: stored bytes (never None) -> the typed value."""
        return tuple(_from_bytes(c.type, c.scale) for c in self.columns)

    @cached_property
    def _fields(self) -> dict[str, tuple[list[Any], Any, Any]]:
        """Per column: its read arguments, its hit decoder and its value from a whole row."""
        out: dict[str, tuple[list[Any], Any, Any]] = {}
        for name, to_value in zip(self._names, self._decoders):

            def decode(reply: Any, gen: int, to_value: Convert = to_value) -> Any:
                kind = _kind(reply[0], gen)
                if kind is None:
                    return _MISSING
                return None if kind == b"0" or reply[1] is None else to_value(reply[1])

            out[name] = ([META, name], decode, attrgetter(name))
        return out

    @cached_property
    def _full(self) -> list[Any]:
        return [META, *self._names]

    def full_args(self) -> list[Any]:
        return self._full

    def hit_read(self, cache: Any, key: str, read: list[Any]) -> Any:
        """GET generation and HMGET, pipelined: no script on the hit path (a hash is read in one command)."""
        return cache.pipelined(("GET", self.generation_key), ("HMGET", key, *read))

    def decode(self, reply: Any, gen: int) -> Any:
        kind = _kind(reply[0], gen)
        if kind is None:
            return _MISSING
        if kind == b"0":
            return None
        return self.row(*[None if v is None else d(v) for d, v in zip(self._decoders, reply[1:])])

    def store_args(self, result: Any, gen: int, stamp: int, seen: Any) -> list[Any]:
        if result is None:
            return [META, meta(gen, stamp, "0")]
        out: list[Any] = [META, meta(gen, stamp, "1")]
        for name in self._names:
            value = getattr(result, name)
            if value is not None:
                out += [name, encode_field(value)]
        return out

    def field(self, args: tuple[Any, ...], name: str, runtime: Runtime | None = None) -> Any:
        """One column of the row (None: no such row, or NULL): one HMGET on a hit."""
        read, decode, get = self._fields[name]
        return self.partial(args, runtime, read, decode, lambda row: None if row is None else get(row))


def _kind(raw: Any, gen: int) -> bytes | None:
    """The kind of a meta value stored under generation ``gen``; None when absent or of another generation."""
    found = meta_generation(raw)
    return found[1] if found is not None and found[0] == gen else None


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


# A write's refresh of hash entries under one tag. KEYS: sequence, tag set,
# marker, generation of the read spec. ARGV: ticket, entry prefix, marker ms,
# then field, value pairs. Each member of the tag set that is a current entry
# of the spec, holding a row, is updated in place when nothing newer reached
# it; anything else under the tag is dropped, as INVALIDATE_TAGS would. The
# marker moves on, so a fill that read the database before this write is
# dropped.
REFRESH_HASH = """
local ticket = tonumber(ARGV[1])
local prefix = ARGV[2]
local gen = tonumber(redis.call('GET', KEYS[4]) or '0')
local pairs = {}
for i = 4, #ARGV do pairs[#pairs + 1] = ARGV[i] end
local refreshed = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local keep = false
  if string.sub(m, 1, #prefix) == prefix then
    local meta = redis.call('HGET', m, '~')
    local g, s, k
    if meta then g, s, k = string.match(meta, '^(%d+) (%d+) (%d)$') end
    if g and tonumber(g) == gen and k ~= '0' then
      if k == '2' and tonumber(s) > ticket then
        keep = true
      elseif k == '2' or tonumber(s) < ticket then
        redis.call('HSET', m, unpack(pairs))
        redis.call('HSET', m, '~', g .. ' ' .. ticket .. ' 2')
        refreshed = refreshed + 1
        keep = true
      end
    end
  end
  if not keep then
    redis.call('DEL', m, 'fg:~lock:' .. m)
    redis.call('SREM', KEYS[2], m)
  end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[3], seq, 'PX', ARGV[3])
return refreshed
"""


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


def take_ticket(rt: Runtime, refresh: tuple[HashRefresh, ...]) -> int | None:
    """In the write's transaction, after its statement (its rows locked): a number ordering it among writes of those rows."""
    if not refresh:
        return None
    try:
        ticket: Any = rt.cache.client.incr(SEQUENCE_KEY)
        return int(ticket)
    except Exception as e:  # noqa: BLE001 - no ticket: the entries are dropped instead
        rt.cache.failed(e)
        return None


def refresh_in_place(rt: Runtime, refresh: tuple[HashRefresh, ...], args: tuple[Any, ...], tags: list[str], ticket: int | None) -> list[str]:
    """After commit: refresh the hash entries under each refresh's tag; returns the tags still to drop.

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
            keys = [SEQUENCE_KEY, tag_key(tag), tag_marker_key(tag), generation_key(r.spec)]
            try:
                rt.cache.script(REFRESH_HASH, keys, [ticket, entry_prefix(r.spec, r.version), LOCK_MS * 2, *pairs])
            except Exception as e:  # noqa: BLE001 - the tag is dropped by the caller instead
                log.warning("%s: refreshing %s in place failed (%s); dropping it", r.spec, tag, type(e).__name__)
                continue
            remaining.remove(tag)
    return remaining
