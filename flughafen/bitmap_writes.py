"""A write keeps ``store: bitmap`` sets and their counters up to date, atomically, after its commit.

The build gives a ``write: through`` INSERT or DELETE one ``SetUpdate`` per
set it maintains (bitmaps.py): where the set's key values and the member come
from (the write's parameters, or the rows looked up before a DELETE), and
which counters (int fields of other read specs' json entries) follow the
set's size.

The protocol, so that no fill stores what a write is changing:

1. hold, before the commit: for the set's entry and each counter entry,
   count this write in ``<key>:wip`` and put ``w!`` in its lock (``lock_key``). Fills
   in flight lose their lock (their fill script refuses to store), and
   readers that miss wait for the lock, as for any fill.
2. commit.
3. apply, one script: if every hold is intact (no invalidation deleted a
   lock meanwhile) and the set's entry is there under its current
   generation, SETBIT (or clear) each member; the number of bits that
   really changed (0 for a bit already set: idempotent) moves each counter
   field, in entries that are there under their generation. An entry that
   is missing is not created. When the set's entry is missing, stale or a
   hold was broken, or a written row has no member the set can hold (NULL,
   or a label outside the alphabet), the set and its counter entries are
   dropped instead
   (never a partial entry). Then the holds are released; the lock goes when
   no other write holds it. When a hold was broken (an invalidation deleted
   the lock while the write ran), a reader may have taken the lock since and
   be filling from before the commit: the locks are deleted whoever holds
   them, so that fill is dropped too.

A write that fails before its commit releases its holds and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from flughafen.bitmap_store import MAX_OFFSET, seat_offset
from flughafen.convert import converter
from flughafen.keys import RowField, Template, bounded, entry_prefix, fill, generation_key
from flughafen.query import LOCK_MS, lock_key

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen")

HOLD_MS = LOCK_MS * 2
WRITER = "w!"

# KEYS: per held entry, its lock and its write count. ARGV: hold ms.
HOLD = """
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
  redis.call('SET', KEYS[i], 'w!', 'PX', ARGV[1])
end
return 1
"""

# Releases the holds among the first HOLDS keys (lock, write count pairs).
_RELEASE = """
for i = 1, HOLDS, 2 do
  if redis.call('DECR', KEYS[i + 1]) <= 0 then
    redis.call('DEL', KEYS[i + 1])
    if redis.call('GET', KEYS[i]) == 'w!' then redis.call('DEL', KEYS[i]) end
  end
end
"""

# KEYS: 2 * H hold keys (lock, write count), then per group: the set's
# generation, entry and meta, then per counter: its generation and entry.
# ARGV: H, number of groups, then per group: op (set | clear | drop), number
# of offsets, the offsets, number of counters, then per counter: number of
# fields, then (field, change per member) pairs. Returns per group the
# members really added (negative: removed), or -1000000000 when dropped.
APPLY = """
local h, g = tonumber(ARGV[1]), tonumber(ARGV[2])
local intact = true
for i = 1, h do
  if redis.call('GET', KEYS[2 * i - 1]) ~= 'w!' then intact = false end
end
local a, k, out = 3, 2 * h + 1, {}
for gi = 1, g do
  local op, n = ARGV[a], tonumber(ARGV[a + 1])
  local offsets = {}
  for j = 1, n do offsets[j] = ARGV[a + 1 + j] end
  a = a + 2 + n
  local nc = tonumber(ARGV[a])
  a = a + 1
  local gen, bitmap, meta = tonumber(redis.call('GET', KEYS[k]) or '0'), KEYS[k + 1], KEYS[k + 2]
  k = k + 3
  local stored = redis.call('GET', meta)
  local current = intact and op ~= 'drop' and stored and tonumber(stored) == gen and redis.call('EXISTS', bitmap) == 1
  local moved = 0
  if current then
    for j = 1, n do
      local old = redis.call('SETBIT', bitmap, offsets[j], op == 'set' and 1 or 0)
      if op == 'set' and old == 0 then moved = moved + 1 end
      if op == 'clear' and old == 1 then moved = moved - 1 end
    end
  else
    redis.call('DEL', bitmap, meta)
  end
  for c = 1, nc do
    local cgen, entry = tonumber(redis.call('GET', KEYS[k]) or '0'), KEYS[k + 1]
    k = k + 2
    local nf = tonumber(ARGV[a])
    local changes = {}
    for f = 1, nf do changes[f] = {ARGV[a + 2 * f - 1], tonumber(ARGV[a + 2 * f])} end
    a = a + 1 + 2 * nf
    if not current then
      redis.call('DEL', entry)
    elseif moved ~= 0 then
      local value = redis.call('GET', entry)
      local egen = value and string.match(value, '^%[(%-?%d+),')
      if egen and tonumber(egen) == cgen then
        local ok = true
        for _, ch in ipairs(changes) do
          local found
          value, found = string.gsub(value, '([{,]"' .. ch[1] .. '":)(%-?%d+)', function(head, num)
            return head .. string.format('%d', tonumber(num) + ch[2] * moved)
          end, 1)
          if found ~= 1 then ok = false end
        end
        if ok then redis.call('SET', entry, value, 'KEEPTTL') else redis.call('DEL', entry) end
      end
    end
  end
  out[gi] = current and moved or -1000000000
end
local HOLDS = 2 * h
""" + _RELEASE + """
if not intact then
  -- An invalidation took a lock from under this write: a reader may since hold it and be
  -- filling from before the commit. Its lock goes too, so its fill is dropped.
  for i = 1, HOLDS, 2 do redis.call('DEL', KEYS[i]) end
end
return out
"""

RELEASE = "local HOLDS = #KEYS\n" + _RELEASE + "return 1\n"
DROPPED = -1_000_000_000


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

    def apply_keys_and_args(self) -> tuple[list[str], list[Any]]:
        keys = list(self.holds)
        args: list[Any] = [len(self.holds) // 2, len(self.groups)]
        for g in self.groups:
            keys += [g.generation, g.key, g.key + ":meta"]
            args += [g.op, len(g.offsets), *g.offsets, len(g.counters)]
            for entry, gen, fields in g.counters:
                keys += [gen, entry]
                args.append(len(fields))
                for name, change in fields:
                    args += [name, change]
        return keys, args


def _value(source: int | RowField, args: tuple[Any, ...], row: Any, kind: str) -> Any:
    if isinstance(source, int):
        return args[source]
    value = getattr(row, source.name)
    return None if value is None else converter(kind, None)(value)


def _offset(update: SetUpdate, member: Any) -> int | None:
    if update.seats is not None:
        return seat_offset(member, update.seats) if isinstance(member, str) else None
    return member if type(member) is int and 0 <= member <= MAX_OFFSET else None


def changes(sets: tuple[SetUpdate, ...], args: tuple[Any, ...], rows: list[Any]) -> Held:
    """The entries a write changes, from its parameters and looked-up rows."""
    groups: dict[str, _Group] = {}
    for u in sets:
        looked_up = any(isinstance(s, RowField) for s in (*u.args, u.member))
        member_type = "str" if u.seats is not None else "int"
        for row in rows if looked_up else [None]:
            values = tuple(_value(s, args, row, t) for s, t in zip(u.args, u.arg_types))
            member = _value(u.member, args, row, member_type)
            key = bounded(entry_prefix(u.name, u.version), fill(u.key, values))
            group = groups.get(key)
            if group is None:
                counters = [
                    (bounded(entry_prefix(c.name, c.version), fill(c.key, values)), generation_key(c.name), c.fields) for c in u.counters
                ]
                group = groups[key] = _Group(u.op, key, generation_key(u.name), counters)
            if member is None:
                group.op = "drop"  # a row without a member: the set is right, but counters may count such rows
                continue
            offset = _offset(u, member)
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


def hold(rt: Runtime, held: Held) -> None:
    """Before the commit: mark the entries as being written. A cache failure is remembered, not raised."""
    if held.holds:
        try:
            rt.cache.script(HOLD, held.holds, [HOLD_MS])
        except Exception as e:  # noqa: BLE001 - the update after the commit drops the entries instead
            rt.cache.failed(e)


def release(rt: Runtime, held: Held) -> None:
    """The write failed before its commit: let go of the entries, unchanged."""
    if held.holds:
        try:
            rt.cache.script(RELEASE, held.holds, [])
        except Exception as e:  # noqa: BLE001 - the holds expire on their own
            rt.cache.failed(e)


def apply(rt: Runtime, held: Held) -> list[int]:
    """After the commit: one script updates (or drops) every entry and releases the holds.

    Returns per set entry the members really added (negative: removed), or
    DROPPED. Raises what the cache raised; WriteQuery retries.
    """
    if not held.groups:
        return []
    keys, args = held.apply_keys_and_args()
    return [int(n) for n in rt.cache.script(APPLY, keys, args)]
