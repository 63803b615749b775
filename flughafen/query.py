"""ReadQuery: one generated accessor's cache-aside read, invalidation and key building.

The whole cache-aside race, in one place (as dogpile.cache's get_or_create):

- hit: one round trip, ``MGET generation entry sequence``; the entry counts
  only if it was stored under the current generation (``invalidate_all`` is
  an INCR of the generation: O(1)). One msgspec decode, straight into rows.
- near hit (``cache: near:``, opt-in): the process's own copy, no round
  trip; see near.py for how Valkey's invalidation messages keep it honest.
- miss: ``SET lock token NX PX``; the owner queries the database and stores
  through FILL, a script that stores only if the caller still owns the lock,
  the generation is unchanged and none of the entry's tags was invalidated
  since the read began (leases, as in "Scaling Memcache at Facebook"): a fill
  that raced an invalidation is dropped, never stored stale. Value and tag
  registrations are written together or not at all.
- after recent misses the first read is READ_OR_LOCK, which takes the lock
  in the same round trip when the entry is missing: such a miss sends two
  commands (read-or-lock, fill) instead of three (read, lock, fill), and
  waits for one: the fill's reply is read with the thread's next command
  (see cache.CacheState.fill). A
  hit through the script costs a few microseconds more than MGET, so reads
  go back to MGET once hits dominate again (``MISS_SCORE_*``).
- others wait for the owner's value with short sleeps, bounded by the lock's
  lifetime, then query the database themselves.
- ``stampede: early``: XFetch (Vattani et al., VLDB 2015) refreshes an entry
  before it expires with a probability that rises as expiry nears.
- Valkey unreachable: the database answers; see cache.CacheState.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import math
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import msgspec

from flughafen.convert import Convert, converter
from flughafen.db import QueryError
from flughafen.near import NearStore
from flughafen.params import check_for
from flughafen.keys import (
    RowField,
    Template,
    bounded,
    entry_prefix,
    fill,
    generation_key,
    tag_key,
)

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

RowT = TypeVar("RowT")

SEQUENCE_KEY = "fg:seq"  # bumped by every tag invalidation
_MISSING = object()
_STALE: contextvars.ContextVar[bool] = contextvars.ContextVar("flughafen_stale", default=False)
log = logging.getLogger("flughafen")


def last_read_was_stale() -> bool:
    """True when this thread's (or task's) last accessor read served a stale value (stale_if_error)."""
    return _STALE.get()
LOCK_MS = 5_000
KEY_MEMO_SIZE = 10_000
# A stampede-lock query reads with READ_OR_LOCK (the lock in the same round
# trip as the read, a few microseconds more per hit) while this score is
# above zero: a miss adds the step, a hit takes one off. So it does when more
# than about one read in five missed lately, MGET otherwise.
MISS_SCORE_STEP = 4
MISS_SCORE_MAX = 32
NEAR_SIZE = 10_000
_monotonic = time.monotonic
_ENCODER = msgspec.json.Encoder()
_TOKEN_PREFIX = secrets.token_hex(8) + ":"
_TOKENS = itertools.count()


def _token() -> str:
    """A lock owner token unique across processes: a random prefix and a counter (cheaper than 16 random bytes per miss)."""
    return _TOKEN_PREFIX + str(next(_TOKENS))


def _new_token_prefix() -> None:
    global _TOKEN_PREFIX
    _TOKEN_PREFIX = secrets.token_hex(8) + ":"


os.register_at_fork(after_in_child=_new_token_prefix)

@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    pattern: str | None = None
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    type: str
    nullable: bool = False
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    table: str
    tags: tuple[Template, ...] = ()
    all: bool = False


# A Lua function the fill scripts start with: registers an entry under a tag.
# The set lives as long as its longest entry. It grows only when a new member
# comes; then, past 64 members, every fourth size samples eight members and
# drops those whose entry is gone (two per new member on average, sampled in
# one call). Growth stops once half the set is dead, so a set whose entries
# keep coming and going stays within about twice its live entries (plus 64).
# A fill that re-registers a member pays a SADD and a PTTL (and a PEXPIRE when
# its entry outlives the set).
REGISTER_TAG = """
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

# Whether a fill may store, read in one MGET: the caller still owns the lock
# (or holds none), the generation is the one read before the query, and no
# tag of the entry was invalidated since then. Returns ok, and whether the
# lock is the caller's (to release when not ok). KEYS: entry, lock,
# generation, any, then per tag: the tag set and its marker. ARGV[1]: token,
# ARGV[4]: generation, ARGV[5]: sequence read before the query.
MAY_STORE = """
local function may_store()
  local read = {KEYS[2], KEYS[3]}
  for i = 6, #KEYS, 2 do read[#read + 1] = KEYS[i] end
  local v = redis.call('MGET', unpack(read))
  if ARGV[1] ~= '' and v[1] ~= ARGV[1] then return false, false end
  if tonumber(v[2] or '0') ~= tonumber(ARGV[4]) then return false, true end
  for i = 3, #v do
    if v[i] and tonumber(v[i]) > tonumber(ARGV[5]) then return false, true end
  end
  return true, true
end
"""

# Stores the entry if may_store. KEYS: entry, lock, generation, stale copy,
# then per tag: the tag set and its last-invalidation marker. ARGV: token,
# envelope, ttl ms, generation, sequence read before the query, stale-copy
# ms (0: none).
FILL = REGISTER_TAG + MAY_STORE + """
local ok, owned = may_store()
if not ok then
  if owned and ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if tonumber(ARGV[6]) > 0 then
  redis.call('SET', KEYS[4], ARGV[2], 'PX', tonumber(ARGV[3]) + tonumber(ARGV[6]))
end
for i = 5, #KEYS, 2 do register_tag(KEYS[i], KEYS[1], ARGV[3]) end
if ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
return 1
"""

# Drops every entry under each tag, with its lock, and records when. KEYS:
# the sequence key, then per tag: the tag set and its marker. ARGV: marker ms,
# then 1 to return {count, every member} (for near caches), 0 for the count.
INVALIDATE_TAGS = """
local seq = redis.call('INCR', KEYS[1])
local out = {0}
for i = 2, #KEYS, 2 do
  local members = redis.call('SMEMBERS', KEYS[i])
  for _, m in ipairs(members) do
    out[1] = out[1] + redis.call('DEL', m)
    redis.call('DEL', 'fg:~lock:' .. m)
    if ARGV[2] == '1' then out[#out + 1] = m end
  end
  redis.call('DEL', KEYS[i])
  redis.call('SET', KEYS[i + 1], seq, 'PX', ARGV[1])
end
if ARGV[2] == '1' then return out end
return out[1]
"""

# Takes the lock if free and reads the keys, atomically, so a value stored
# between a waiter's last look and its lock is seen. KEYS: lock, then the keys
# to read. ARGV: token, lock ms.
LOCK_AND_READ = """
local got = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local keys = {}
for i = 2, #KEYS do keys[#keys + 1] = KEYS[i] end
return {got and 1 or 0, redis.call('MGET', unpack(keys))}
"""

# The first read after recent misses: returns {generation, entry} when the
# entry exists under the current generation; else takes the lock if free and
# returns {generation, entry or false, sequence, 1 if the lock is now the
# caller's else 0}. KEYS: generation, entry, lock, sequence. ARGV: token, lock ms.
READ_OR_LOCK = """
local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[4])
if v[2] then
  local g = string.match(v[2], '^%[(%d+),')
  if g and tonumber(g) == tonumber(v[1] or '0') then return v end
end
local got = redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2])
return {v[1], v[2], v[3], got and 1 or 0}
"""

# Releases a lock only for its owner.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def tag_marker_key(tag: str) -> str:
    return bounded("fg:tagseq:", tag)


def lock_key(key: str) -> str:
    """The stampede lock of an entry. Outside the entry's ``fg:<name>:`` prefix, so taking
    and releasing locks sends no message to near caches tracking that prefix.

    >>> lock_key("fg:airport_by_iata:0a1b2c3d4e5f:airport:JFK")
    'fg:~lock:fg:airport_by_iata:0a1b2c3d4e5f:airport:JFK'
    """
    return "fg:~lock:" + key


class ReadQuery(Generic[RowT]):
    """A generated accessor's query: built once at import, used on every call."""

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
        returns: Literal["one", "many", "scalar"],
        key: Template,
        tags: tuple[Template, ...] = (),
        ttl: int,
        jitter: float = 0.0,
        negative_ttl: int | None = None,
        stampede: Literal["lock", "early", "none"] = "lock",
        tables: tuple[str, ...] = (),
        triggers: tuple[Trigger, ...] = (),
        near: float | None = None,
        near_size: int = NEAR_SIZE,
    ) -> None:
        self.name = name
        self.version = version
        self.sql = sql
        self.params = params
        self.param_order = param_order
        self.row = row
        self.columns = columns
        self.returns = returns
        self.key_template = key
        self.tags = tags
        self.ttl = ttl
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self.stampede = stampede
        self.tables = tables
        self.triggers = triggers
        self.near = near  # seconds a local copy may be served (cache: near:), None: no near cache
        self.near_size = near_size
        self._miss_score = 0
        self.prefix = entry_prefix(name, version)
        self.generation_key = generation_key(name)
        self._row_tags = any(isinstance(p, RowField) for t in tags for p in t)
        self._param_tags = tuple(t for t in tags if not any(isinstance(p, RowField) for p in t))
        self._checks = tuple(check_for(name, p) for p in params)
        self._converters: dict[str, tuple[Convert, ...]] = {}
        self._keys: dict[tuple[Any, ...], tuple[str, tuple[type, ...]]] = {}
        row_type: Any = row
        payload: Any = list[row_type] if returns == "many" else (row_type | None)
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(tuple[int, int, int, payload])

    # ------------------------------------------------------------------ keys

    def key(self, args: tuple[Any, ...]) -> str:
        """The entry's key; remembered per parameter tuple, so a hot key is built and checked once."""
        known = self._keys.get(args)
        types = tuple(map(type, args))
        if known is not None and known[1] == types:
            return known[0]
        for check, value in zip(self._checks, args):
            check(value)
        key = bounded(self.prefix, fill(self.key_template, args))
        if len(self._keys) >= KEY_MEMO_SIZE:
            self._keys.clear()
        self._keys[args] = (key, types)
        return key

    def _tag_names(self, args: tuple[Any, ...], result: Any) -> list[str]:
        names = {fill(t, args) for t in self._param_tags}
        if self._row_tags:
            rows = result if isinstance(result, list) else ([] if result is None else [result])
            row_templates = [t for t in self.tags if t not in self._param_tags]
            for r in rows:
                for t in row_templates:
                    names.add(fill(t, args, r))
        return sorted(names)

    # -------------------------------------------------------------- database

    def _convert(self, dialect: str) -> tuple[Convert, ...]:
        conv = self._converters.get(dialect)
        if conv is None:
            conv = tuple(converter(c.type, c.scale) for c in self.columns)
            self._converters[dialect] = conv
        return conv

    def query_database(self, args: tuple[Any, ...], runtime: Runtime) -> Any:
        """The result straight from the database, typed; no cache involved."""
        db = runtime.db
        values = [args[i] for i in self.param_order]
        counters = runtime.metrics.of(self.name)
        start = time.perf_counter()
        try:
            rows = db.query(self.sql[db.dialect], values)
        except Exception as e:
            raise QueryError(f"{self.name}: the query failed on {db.url.redacted()}: {e}") from e
        finally:
            counters.db_queries += 1
            counters.db_seconds += time.perf_counter() - start
        conv = self._convert(db.dialect)
        make = self.row
        typed = [make(*[c(v) for c, v in zip(conv, r)]) for r in rows]
        if self.returns == "many":
            return typed
        return typed[0] if typed else None

    def _result(self, payload: Any) -> Any:
        if self.returns == "scalar":
            return None if payload is None else getattr(payload, self.columns[0].name)
        return payload

    # ----------------------------------------------------------------- reads

    def many(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> list[RowT]:
        result: list[RowT] = self._read(args, runtime)
        return result

    def one(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> RowT | None:
        result: RowT | None = self._read(args, runtime)
        return result

    def scalar(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> Any:
        return self._result(self._read(args, runtime))

    def _read(self, args: tuple[Any, ...], runtime: Runtime | None) -> Any:
        rt = runtime if runtime is not None else _default()
        if _STALE.get():
            _STALE.set(False)
        key = self.key(args)
        cache = rt.cache
        counters = rt.metrics.of(self.name)
        store: NearStore | None = None
        epoch = 0
        if self.near is not None and cache.near_enabled:
            near = cache.near
            store = near.stores.get(self.name)
            if store is not None:
                local = store.entries.get(key)
                if local is not None and local[1] > _monotonic():
                    counters.hits += 1
                    counters.near_hits += 1
                    try:
                        store.entries.move_to_end(key)  # least recently used goes first
                    except KeyError:
                        pass  # dropped by an invalidation meanwhile
                    return list(local[0]) if store.copy else local[0]
                epoch = near.epoch  # before the Valkey read: a change after it stops the local store
            elif self.name not in near.wanted:
                near.want(self.name, self.generation_key, self.near, self.near_size, self.returns == "many")
        if cache.down and not cache.usable():
            counters.misses += 1
            return self.query_database(args, rt)
        token = ""
        try:
            start = time.perf_counter()
            if self._miss_score:  # misses lately: take the lock in this round trip if the entry is missing
                token = _token()
                reply = cache.script(READ_OR_LOCK, [self.generation_key, key, lock_key(key), SEQUENCE_KEY], [token, LOCK_MS])
            else:
                reply = cache.call("MGET", self.generation_key, key, SEQUENCE_KEY)
            counters.cache_seconds += time.perf_counter() - start
            if cache.down:
                cache.ok()
        except Exception as e:  # noqa: BLE001 - any cache failure: answer from the database
            cache.failed(e, counters)
            counters.misses += 1
            return self.query_database(args, rt)
        gen = int(reply[0] or 0)
        raw = reply[1]
        if raw is not None:
            try:
                env = self._decoder.decode(raw)
            except msgspec.DecodeError:
                env = None
            if env is not None and env[0] == gen:
                if self.stampede != "early" or not _refresh_early(env[1], env[2]):
                    counters.hits += 1
                    if token:
                        self._miss_score = max(self._miss_score - 1, 0)
                        if len(reply) > 3 and reply[3]:
                            cache.release(lock_key(key), token)
                    if store is not None:
                        cache.near.put(store, key, env[3], env[2], epoch)
                    return env[3]
                counters.early_refreshes += 1
                counters.misses += 1
                return self._fill(rt, args, key, gen, int(reply[2] or 0), token="")
        counters.misses += 1
        if self.stampede != "lock":
            return self._fill(rt, args, key, gen, int(reply[2] or 0), token="")
        if not token:
            self._miss_score = MISS_SCORE_STEP
            return self._miss_with_lock(rt, args, key)
        self._miss_score = min(self._miss_score + MISS_SCORE_STEP, MISS_SCORE_MAX)
        if len(reply) > 3 and reply[3]:  # the lock is ours
            return self._fill(rt, args, key, gen, int(reply[2] or 0), token)
        return self._miss_with_lock(rt, args, key)

    def _miss_with_lock(self, rt: Runtime, args: tuple[Any, ...], key: str) -> Any:
        """Take the lock and fill, or wait for the owner's value; bounded by the lock's lifetime.

        Taking the lock and reading the entry are one transaction, so a value
        stored between a waiter's last look and its lock is seen, not refilled.
        """
        cache = rt.cache
        counters = rt.metrics.of(self.name)
        token = _token()
        lock = lock_key(key)
        deadline = time.monotonic() + LOCK_MS / 1000
        pause = 0.002
        while True:
            try:
                acquired, (generation, raw, sequence) = cache.lock_and_read(lock, token, LOCK_MS, self.generation_key, key, SEQUENCE_KEY)
            except Exception as e:  # noqa: BLE001
                cache.failed(e, counters)
                return self.query_database(args, rt)
            gen, seq = int(generation or 0), int(sequence or 0)
            if raw is not None:
                try:
                    env = self._decoder.decode(raw)
                except msgspec.DecodeError:
                    env = None
                if env is not None and env[0] == gen:
                    if acquired:
                        cache.release(lock, token)
                    return env[3]
            if acquired:
                return self._fill(rt, args, key, gen, seq, token)
            if time.monotonic() > deadline:
                return self.query_database(args, rt)
            counters.lock_waits += 1
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _fill(self, rt: Runtime, args: tuple[Any, ...], key: str, gen: int, seq: int, token: str) -> Any:
        start = time.perf_counter()
        fresh, result = self._query_for_fill(rt, args, key, token)
        if not fresh:
            return result
        delta_ms = int((time.perf_counter() - start) * 1000)
        keys, fill_args = self._fill_call(rt, args, key, gen, seq, token, result, delta_ms)
        rt.cache.fill(FILL, keys, fill_args, rt.metrics.of(self.name))
        return result

    def _query_for_fill(self, rt: Runtime, args: tuple[Any, ...], key: str, token: str) -> tuple[bool, Any]:
        """(True, the database's result); or, when the query failed and stale_if_error kept a
        copy, (False, that copy). On any failure the lock ``token`` holds is released."""
        try:
            return True, self.query_database(args, rt)
        except QueryError:
            if token:
                rt.cache.release(lock_key(key), token)
            stale = self._stale_copy(rt, key)
            if stale is _MISSING:
                raise
            return False, stale
        except BaseException:
            if token:
                rt.cache.release(lock_key(key), token)
            raise

    def ttl_ms(self, empty: bool) -> int:
        """An entry's lifetime in ms: the ttl (negative_ttl for an empty result), spread by the jitter."""
        ttl = self.negative_ttl if empty and self.negative_ttl is not None else self.ttl
        return int(ttl * 1000 * (1 + random.random() * self.jitter))

    def _fill_call(self, rt: Runtime, args: tuple[Any, ...], key: str, gen: int, seq: int, token: str, result: Any, delta_ms: int) -> tuple[list[str], list[Any]]:
        """FILL's keys (entry, lock, generation, stale copy, then each tag's set and marker) and arguments for ``result``."""
        ttl_ms = self.ttl_ms(result is None or result == [])
        expires_ms = int(time.time() * 1000) + ttl_ms
        envelope = _ENCODER.encode((gen, delta_ms, expires_ms, result))
        keys = [key, lock_key(key), self.generation_key, key + ":stale"]
        for tag in self._tag_names(args, result):
            keys += [tag_key(tag), tag_marker_key(tag)]
        return keys, [token, envelope, ttl_ms, gen, seq, rt.stale_if_error * 1000]

    def _stale_copy(self, rt: Runtime, key: str) -> Any:
        """With stale_if_error on: the last value stored for ``key``, flagged as stale; else _MISSING."""
        if not rt.stale_if_error:
            return _MISSING
        try:
            raw = rt.cache.client.get(key + ":stale")
            env = self._decoder.decode(raw) if raw is not None else None  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - no cache, no stale copy
            return _MISSING
        if env is None:
            return _MISSING
        rt.metrics.of(self.name).stale_served += 1
        _STALE.set(True)
        log.warning("%s: the database failed; served the last cached value (stale)", self.name)
        return env[3]

    def many_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> list[list[RowT]]:
        """Many parameter sets: one MGET for all, then the misses filled one by one."""
        rt = runtime if runtime is not None else _default()
        keys = [self.key(args) for args in batch]
        counters = rt.metrics.of(self.name)
        found: list[Any] = [None] * len(batch)
        if rt.cache.usable() and keys:
            try:
                values = rt.cache.mget(self.generation_key, *keys)
                rt.cache.ok()
                gen = int(values[0] or 0)
                found = [self._current(raw, gen) for raw in values[1:]]
            except Exception as e:  # noqa: BLE001
                rt.cache.failed(e, counters)
        out: list[list[RowT]] = []
        for i, args in enumerate(batch):
            env = found[i]
            if env is not None:
                counters.hits += 1
                out.append(env[3])
            else:
                out.append(self._read(args, rt))
        return out

    def _current(self, raw: bytes | None, gen: int) -> Any:
        """The decoded envelope of a stored entry if it is of generation ``gen``, else None."""
        if raw is None:
            return None
        try:
            env = self._decoder.decode(raw)
        except msgspec.DecodeError:
            return None
        return env if env[0] == gen else None

    def warm_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> int:
        """Fill the missing entries of many parameter sets ahead of traffic; returns how many were stored.

        One MGET reads the generation, the tag sequence and every entry; the
        database answers each missing one; one pipeline of FILL scripts stores
        them all. No lock is taken, and the leases still hold: an entry whose
        query raced an invalidation (generation or tag) is not stored.
        """
        rt = runtime if runtime is not None else _default()
        keys = [self.key(args) for args in batch]
        if not keys:
            return 0
        counters = rt.metrics.of(self.name)
        values = rt.cache.mget(self.generation_key, SEQUENCE_KEY, *keys)
        gen, seq = int(values[0] or 0), int(values[1] or 0)
        calls: list[tuple[list[str], list[Any]]] = []
        for args, key, raw in zip(batch, keys, values[2:]):
            if self._current(raw, gen) is not None:
                counters.hits += 1
                continue
            counters.misses += 1
            start = time.perf_counter()
            result = self.query_database(args, rt)
            calls.append(self._fill_call(rt, args, key, gen, seq, "", result, int((time.perf_counter() - start) * 1000)))
        stored = rt.cache.fill_many(calls) if calls else []
        counters.stale_fills_dropped += stored.count(False)
        return stored.count(True)

    # ---------------------------------------------------------- invalidation

    def invalidate(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> None:
        rt = runtime if runtime is not None else _default()
        key = self.key(args)
        rt.cache.delete(key, lock_key(key))

    def invalidate_all(self, runtime: Runtime | None = None) -> None:
        rt = runtime if runtime is not None else _default()
        rt.cache.incr(self.generation_key)


def _refresh_early(delta_ms: int, expires_ms: int, beta: float = 1.0) -> bool:
    """XFetch: refresh when now - delta * beta * ln(U) >= expiry."""
    now_ms = time.time() * 1000
    return now_ms - delta_ms * beta * math.log(random.random() or 1e-12) >= expires_ms


def _default() -> Runtime:
    from flughafen.runtime import default_runtime

    return default_runtime()


def warm_by_reading(name: str, many_batch: Callable[[list[tuple[Any, ...]], Runtime], object], batch: list[tuple[Any, ...]], runtime: Runtime | None) -> int:
    """Warming for stores without a pipelined fill (hash, zset, bitmap): each missing entry filled as a read."""
    rt = runtime if runtime is not None else _default()
    counters = rt.metrics.of(name)
    before = counters.misses
    many_batch(batch, rt)
    return counters.misses - before


def invalidate_tag(tag: str, runtime: Runtime | None = None) -> int:
    """Drop every entry registered under ``tag``, across all queries. Returns how many."""
    return invalidate_tags([tag], runtime)


def invalidate_tags(tags: list[str], runtime: Runtime | None = None) -> int:
    rt = runtime if runtime is not None else _default()
    return rt.cache.invalidate_tags(sorted(set(tags)))
