"""Every Lua script the runtime runs on Valkey, and the keys each one touches.

Reads and fills are written once and specialised per store kind: a kind gives
three Lua functions (``kind_scripts``), and the protocol's scripts are built
around them. The other scripts invalidate, or keep entries up to date after a
write; they carry the ``allow-oom`` flag, so a full server (``maxmemory`` with
``noeviction``) still runs them: an invalidation deletes entries and writes
at most a marker per tag, which expires.

Key names come from keys.py. Every script lists its KEYS and ARGV and touches
only the keys it is given, all in one bucket (one hash slot of a cluster): what
needs the members of a tag set reads them first (MARK_TAGS), then names them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LOCK_MS = 5_000  # a stampede lock's, and a lease's, lifetime: no fill stores after it
# A tag's marker must outlive every lease that began before its invalidation, so that
# a fill holding such a lease sees it: twice a lease's lifetime.
MARKER_MS = 2 * LOCK_MS
WRITER = "w!"  # the lock's value while a write keeps an entry up to date (bitmap maintain)
ALLOW_OOM = "#!lua flags=allow-oom\n"


class Script:
    """A Lua script and its SHA-1, computed here: EVALSHA needs no SCRIPT LOAD first."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"Script({self.source.splitlines()[0][:40]!r}...)"


# ----------------------------------------------------------------- reads and fills

# Registers an entry's key under a tag. The set lives as long as its longest entry. It
# grows only when a new member comes; then, past 64 members, every fourth size samples
# eight members and drops those whose entry is gone (two per new member on average, in
# one call). Growth stops once half the set is dead, so a set whose entries keep coming
# and going stays within about twice its live entries (plus 64). A fill that re-registers
# a member pays a SADD and a PTTL (and a PEXPIRE when its entry outlives the set).
_REGISTER_TAG = """
local function register_tag(tag, member, ttl)
  if redis.call('SADD', tag, member) == 1 then
    local size = redis.call('SCARD', tag)
    if size > 64 and size % 4 == 0 then
      for _, m in ipairs(redis.call('SRANDMEMBER', tag, 8)) do
        if redis.call('EXISTS', m) == 0 then redis.call('SREM', tag, m) end
      end
    end
  end
  if redis.call('PTTL', tag) < tonumber(ttl) then redis.call('PEXPIRE', tag, ttl) end
end
"""

# (generation, entry): a hit's read. KEYS: generation, entry. ARGV: the read's arguments.
_HIT = """
return {redis.call('GET', KEYS[1]), read(KEYS[2], 1)}
"""

# The read after recent misses, and every read that waits for a lock. Returns
# {generation, entry} when the entry is current under the generation; else
# {generation, entry, sequence, lease}, the lease being what a fill must present:
# - mode 'lock': the lock if it was free (the caller's token), else '' (wait for it);
# - mode 'lease' (stampede: none and early, warming): the lock's value, set to
#   'l:' and the caller's token if free, shared if another reader holds it; ''
#   while a write holds it. A lease is deleted by every invalidation of its entry
#   and expires after LOCK_MS, never extended: holding it when the fill runs means
#   no invalidation of the entry came since the read, and none of its tags either,
#   whose markers outlive the lease. Fills leave it: readers sharing it all store;
# - mode 'refresh' (an early refresh): the lock even when the entry is current,
#   taking it over from leases; {generation, entry} when another caller holds it.
# KEYS: generation, sequence, lock, entry. ARGV: mode, token, lock ms, the read's arguments.
_READ_OR_LOCK = (
    """
local gs = redis.call('MGET', KEYS[1], KEYS[2])
local gen = gs[1]
local entry = read(KEYS[4], 4)
local mode = ARGV[1]
if mode ~= 'refresh' and current(entry, tonumber(gen or '0')) then return {gen, entry} end
local lease = ''
if mode == 'lock' then
  if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then lease = ARGV[2] end
else
  local held = redis.call('GET', KEYS[3])
  if not held or (mode == 'refresh' and string.sub(held, 1, 2) == 'l:') then
    lease = ARGV[2]
    if mode == 'lease' then lease = 'l:' .. lease end
    redis.call('SET', KEYS[3], lease, 'PX', ARGV[3])
  elseif mode == 'lease' and held ~= '"""
    + WRITER
    + """' then
    lease = held
  end
end
if mode == 'refresh' and lease == '' then return {gen, entry} end
return {gen, entry, gs[2], lease}
"""
)

# Stores an entry if the caller's lease still holds: the lock holds the lease, the
# generation is the one read with it, and no tag of the entry was invalidated since
# (its marker is not past the sequence read with the lease). The entry, its stale copy
# and its tag registrations are written together or not at all.
# KEYS: entry, lock, generation, stale copy, then per tag: its set and its marker, then the
# NC companion keys of the entry and of its stale copy (see kind_scripts). ARGV: lease, owner (1: the lease is the caller's lock, deleted once done), ttl ms,
# generation, sequence, stale-copy ms (0: none), then the store's arguments.
_FILL = """
local read = {KEYS[2], KEYS[3]}
for i = 6, #KEYS - NC, 2 do read[#read + 1] = KEYS[i] end
local v = redis.call('MGET', unpack(read))
local ok = v[1] == ARGV[1] and tonumber(v[2] or '0') == tonumber(ARGV[4])
local seq = tonumber(ARGV[5])
for i = 3, #v do
  if ok and v[i] and tonumber(v[i]) > seq then ok = false end
end
local written = false
if ok then
  local ttl = tonumber(ARGV[3])
  written = store(KEYS[1], ttl, 7, true)
  if written then
    if tonumber(ARGV[6]) > 0 then store(KEYS[4], ttl + tonumber(ARGV[6]), 7, false) end
    for i = 5, #KEYS - NC, 2 do
      for _, k in ipairs(written) do register_tag(KEYS[i], k, ttl) end
    end
  end
end
if ARGV[2] == '1' and v[1] == ARGV[1] then redis.call('DEL', KEYS[2]) end
if written then return 1 end
return 0
"""


@dataclass(frozen=True)
class KindScripts:
    """The read and fill scripts of one store kind, and the suffixes of the keys its ``read``
    and ``store`` touch beside an entry (``<entry>:meta``): every script is given them, after
    its other KEYS (the hit's and READ_OR_LOCK's read, then the fill's for the entry and its
    stale copy), so that it names every key it touches."""

    hit: Script
    read_or_lock: Script
    fill: Script
    companions: tuple[str, ...] = ()


def kind_scripts(read: str, current: str, store: str, companions: tuple[str, ...] = ()) -> KindScripts:
    """A store kind's scripts, from its Lua functions:

    - ``read(key, i)``: the entry as the kind's codec decodes it (false or a
      table whose first item is false when absent), the read's arguments being
      ``ARGV[i]`` onwards;
    - ``current(entry, generation)``: whether that entry is stored under the generation;
    - ``store(key, ttl_ms, i, main)``: writes the entry from ``ARGV[i]`` onwards
      (``main``: the entry itself, not its stale copy); returns the keys written,
      registered under the entry's tags, or false to refuse the fill.
    """
    return KindScripts(
        hit=Script(read + _HIT),
        read_or_lock=Script(read + current + _READ_OR_LOCK),
        fill=Script(f"local NC = {2 * len(companions)}\n" + _REGISTER_TAG + store + _FILL),
        companions=companions,
    )


# store: json, one string: the envelope [generation, fill ms, expiry ms, value].
JSON = kind_scripts(
    read="""
local function read(key, i)
  return redis.call('GET', key)
end
""",
    current="""
local function current(entry, gen)
  local g = entry and string.match(entry, '^%[(%d+),')
  return g and tonumber(g) == gen or false
end
""",
    store="""
local function store(key, ttl, i, main)
  redis.call('SET', key, ARGV[i], 'PX', ttl)
  return {key}
end
""",
)

# Hash and zset entries: current when their meta ("<generation> <stamp> <kind>", first in the read) says so.
_META_CURRENT = """
local function current(entry, gen)
  local g = entry[1] and string.match(entry[1], '^(%d+) ')
  return g and tonumber(g) == gen or false
end
"""

# store: hash: field '~' holds "<generation> <stamp> <kind>", then one field per column.
# The read's arguments are the fields to read, '~' first.
HASH = kind_scripts(
    read="""
local function read(key, i)
  return redis.call('HMGET', key, unpack(ARGV, i))
end
""",
    current=_META_CURRENT,
    store="""
local function store(key, ttl, i, main)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, i))
  redis.call('PEXPIRE', key, ttl)
  return {key}
end
""",
)

# store: zset: the ranking, and <key>:meta ("<generation> <stamp> <kind>", kind 0 an empty
# ranking). The read returns {meta, write version, ...}: the top n ('top', n; 0: all), or
# a member's rank and score ('rank', member). The store's arguments: the write version
# seen with the lease, meta, then member, score pairs; it refuses while a score move is
# pending or when one finished since the lease was taken.
ZSET = kind_scripts(
    read="""
local function read(key, i)
  local meta = redis.call('GET', key .. ':meta')
  local w = redis.call('HGET', key .. ':w', 'v') or '0'
  if not meta then return {false, w} end
  if string.sub(meta, -1) ~= '0' and redis.call('EXISTS', key) == 0 then return {false, w} end
  if ARGV[i] == 'rank' then
    return {meta, w, redis.call('ZREVRANK', key, ARGV[i + 1]), redis.call('ZSCORE', key, ARGV[i + 1])}
  end
  return {meta, w, redis.call('ZRANGE', key, 0, tonumber(ARGV[i + 1]) - 1, 'REV', 'WITHSCORES')}
end
""",
    current=_META_CURRENT,
    store="""
local function store(key, ttl, i, main)
  if main then
    local w = redis.call('HMGET', key .. ':w', 'p', 'v')
    if tonumber(w[1] or '0') > 0 or (w[2] or '0') ~= ARGV[i] then return false end
  end
  redis.call('DEL', key)
  for s = i + 2, #ARGV, 1000 do
    local z = {}
    for j = s, math.min(s + 998, #ARGV - 1), 2 do
      z[#z + 1] = ARGV[j + 1]
      z[#z + 1] = ARGV[j]
    end
    redis.call('ZADD', key, unpack(z))
  end
  if #ARGV > i + 1 then redis.call('PEXPIRE', key, ttl) end
  redis.call('SET', key .. ':meta', ARGV[i + 1], 'PX', ttl)
  return {key, key .. ':meta'}
end
""",
    companions=(":meta", ":w"),
)

# store: bitmap: the bitmap (an empty set is an empty string), and <key>:meta (the
# generation). The read returns {meta, answer}: the bitmap ('members'), one bit
# ('bit', offset) or the count ('count'); {false} when absent.
BITMAP = kind_scripts(
    read="""
local function read(key, i)
  local meta = redis.call('GET', key .. ':meta')
  if not meta or redis.call('EXISTS', key) == 0 then return {false} end
  if ARGV[i] == 'bit' then return {meta, redis.call('GETBIT', key, ARGV[i + 1])} end
  if ARGV[i] == 'count' then return {meta, redis.call('BITCOUNT', key)} end
  return {meta, redis.call('GET', key)}
end
""",
    current="""
local function current(entry, gen)
  return entry[1] and tonumber(entry[1]) == gen or false
end
""",
    store="""
local function store(key, ttl, i, main)
  redis.call('SET', key, ARGV[i], 'PX', ttl)
  redis.call('SET', key .. ':meta', ARGV[i + 1], 'PX', ttl)
  return {key}
end
""",
    companions=(":meta",),
)

# Releases a lock only for its owner. KEYS: the lock. ARGV: the owner's token.
RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

# -------------------------------------------------------------------- invalidation

# Moves a query's generation (invalidate_all), or takes a ticket (the sequence). KEYS: the key.
INCR = Script(ALLOW_OOM + "return redis.call('INCR', KEYS[1])\n")

# A tag invalidation in one bucket, first step: the bucket's sequence moves and each tag's
# marker records it (so a fill whose lease was read before now is dropped), and the
# members of each tag's set are returned, for DROP_MEMBERS to delete. Entries filled
# after this step hold a lease read after it: they are current.
# KEYS: the bucket's sequence, then per tag: its set and its marker. ARGV: marker ms.
# Returns {sequence, every member of the sets}.
MARK_TAGS = Script(
    ALLOW_OOM
    + """
local seq = redis.call('INCR', KEYS[1])
local out = {seq}
for i = 2, #KEYS, 2 do
  redis.call('SET', KEYS[i + 1], seq, 'PX', ARGV[1])
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do out[#out + 1] = m end
end
return out
"""
)

# The second step: the members MARK_TAGS returned are deleted with their locks (so fills
# in flight lose their lease) and leave the tag sets. KEYS: the n tag sets, then per
# member: the member and its lock. ARGV: n. Returns how many members existed.
DROP_MEMBERS = Script(
    ALLOW_OOM
    + """
local n = tonumber(ARGV[1])
local count = 0
for i = n + 1, #KEYS, 2 do
  count = count + redis.call('DEL', KEYS[i])
  redis.call('DEL', KEYS[i + 1])
  for s = 1, n do redis.call('SREM', KEYS[s], KEYS[i]) end
end
return count
"""
)

# ------------------------------------------------------------ writes kept in place

# store: hash. A write's refresh of hash entries under one tag in one bucket, after
# MARK_TAGS moved the tag's marker there (a fill that read the database before this
# write is dropped even if this script never runs) and returned the tag's members.
# KEYS: generation of the read spec, tag set, then per member: the member and its lock.
# ARGV: ticket, entry prefix, then field, value pairs. Each member
# that is a current entry of the spec, holding a row, is updated in place when nothing
# newer reached it; anything else is dropped, as DROP_MEMBERS would, with its lock.
REFRESH_HASH = Script(
    ALLOW_OOM
    + """
local ticket = tonumber(ARGV[1])
local prefix = ARGV[2]
local gen = tonumber(redis.call('GET', KEYS[1]) or '0')
local pairs = {}
for i = 3, #ARGV do pairs[#pairs + 1] = ARGV[i] end
local refreshed = 0
for i = 3, #KEYS, 2 do
  local m = KEYS[i]
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
    redis.call('DEL', m, KEYS[i + 1])
    redis.call('SREM', KEYS[2], m)
  end
end
return refreshed
"""
)

# store: zset. Before the write's commit: the ranking is being written; fills stop
# storing. KEYS: the ranking's write mark (<key>:w). ARGV: the mark's lifetime ms.
BEGIN_MOVE = Script(
    ALLOW_OOM
    + """
redis.call('HINCRBY', KEYS[1], 'p', 1)
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
)

# store: zset. After the commit (ARGV[1] = 1) or a rollback (0): the mark is lifted and,
# if the write committed and the ranking is current, the member's score moves.
# KEYS: write mark, entry, meta, generation. ARGV: committed, member, delta.
FINISH_MOVE = Script(
    ALLOW_OOM
    + """
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
)

# store: bitmap. Before the commit: each held entry's write count goes up and its lock
# becomes the writer's, so fills in flight lose their lease and readers that miss wait.
# KEYS: per held entry, its lock and its write count. ARGV: hold ms.
HOLD = Script(
    ALLOW_OOM
    + """
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
  redis.call('SET', KEYS[i], '"""
    + WRITER
    + """', 'PX', ARGV[1])
end
return 1
"""
)

# Releases the holds among the first HOLDS keys (lock, write count pairs).
_RELEASE_HOLDS = (
    """
for i = 1, HOLDS, 2 do
  if redis.call('DECR', KEYS[i + 1]) <= 0 then
    redis.call('DEL', KEYS[i + 1])
    if redis.call('GET', KEYS[i]) == '"""
    + WRITER
    + """' then redis.call('DEL', KEYS[i]) end
  end
end
"""
)

# store: bitmap. The write failed before its commit: its holds released. KEYS: as HOLD's.
RELEASE_HOLDS = Script(ALLOW_OOM + "local HOLDS = #KEYS\n" + _RELEASE_HOLDS + "return 1\n")

# store: bitmap. After the commit: every set the write keeps is updated, with its
# counters, or dropped with them; then the holds are released.
# KEYS: 2 * H hold keys (lock, write count), then per group: the set's generation,
# entry and meta, then per counter: its generation and entry.
# ARGV: H, number of groups, then per group: op (set | clear | drop), number of offsets,
# the offsets, number of counters, then per counter: number of fields, then (field,
# change per member) pairs. Returns per group the members really added (negative:
# removed), or -1000000000 when dropped.
APPLY_SETS = Script(
    ALLOW_OOM
    + """
local h, g = tonumber(ARGV[1]), tonumber(ARGV[2])
local intact = true
for i = 1, h do
  if redis.call('GET', KEYS[2 * i - 1]) ~= '"""
    + WRITER
    + """' then intact = false end
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
"""
    + _RELEASE_HOLDS
    + """
if not intact then
  -- An invalidation took a lock from under this write: a reader may since hold it and be
  -- filling from before the commit. Its lock goes too, so its fill is dropped.
  for i = 1, HOLDS, 2 do redis.call('DEL', KEYS[i]) end
end
return out
"""
)
