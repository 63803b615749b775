"""Cache-aside for the structured shapes (``store: hash``, ``store: zset``): json's guarantees, other Valkey types.

The protocol is the json shape's (see query.py), with the value held in a
Valkey hash or sorted set instead of one string:

- hit: one round trip, a script that reads the generation and the entry (or
  the part of it asked for: one hash field, the top of a ranking). The entry
  records the generation it was stored under, and a kind: a row/ranking, or
  an empty result (negative caching: empty is told apart from missing).
- miss: the lock (``SET NX PX``) and the read in one script; the owner queries
  the database and stores through a fill script with the json fill's guard
  (lock still ours, generation unchanged, no tag invalidated since the read
  began): a fill that raced an invalidation is dropped. The whole entry, its
  stale copy and its tag registrations are written by that one script, so
  no reader ever sees a partial hash or ranking.
- Valkey unreachable: the database answers (fail-open), as for json.

A shape supplies two Lua functions: ``read(key, args)`` (a table whose first
item is the entry's meta value) and ``store(key, ttl_ms, args, main)``
(returning the keys it wrote, registered under the entry's tags, or false to
refuse the fill), and the Python side that encodes and decodes them.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from flughafen.keys import tag_key
from flughafen.query import _MISSING, _STALE, FILL, LOCK_MS, SEQUENCE_KEY, ReadQuery, _default, lock_key, tag_marker_key, warm_by_reading

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

RowT = TypeVar("RowT")
T = TypeVar("T")
log = logging.getLogger("flughafen")

# The json fill's guard, reused as is: register_tag, then lock owner, generation, tag markers.
# KEYS: entry, lock, generation, stale copy, then (tag set, marker) pairs.
# ARGV: token, (unused), ttl ms, generation, sequence, stale-copy ms, then the shape's arguments.
_GUARD = FILL.split("redis.call('SET', KEYS[1]", 1)[0]
assert "ARGV[5]" in _GUARD and "#KEYS" in _GUARD, "query.FILL changed shape: update shaped.py"

_FILL_TAIL = """
local args = {}
for i = 7, #ARGV do args[#args + 1] = ARGV[i] end
local written = store(KEYS[1], tonumber(ARGV[3]), args, true)
if not written then
  if ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
  return 0
end
if tonumber(ARGV[6]) > 0 then store(KEYS[4], tonumber(ARGV[3]) + tonumber(ARGV[6]), args, false) end
for i = 5, #KEYS, 2 do
  for _, k in ipairs(written) do register_tag(KEYS[i], k, ARGV[3]) end
end
if ARGV[1] ~= '' then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: generation, entry. ARGV: the read's arguments.
_HIT_TAIL = """
return {redis.call('GET', KEYS[1]), read(KEYS[2], ARGV)}
"""

# KEYS: lock, generation, sequence, entry. ARGV: token, lock ms, the read's arguments.
_LOCK_TAIL = """
local got = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local a = {}
for i = 3, #ARGV do a[#a + 1] = ARGV[i] end
return {got and 1 or 0, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), read(KEYS[4], a)}
"""


def meta(gen: int, stamp: int, kind: str) -> str:
    """An entry's bookkeeping: ``"<generation> <stamp> <kind>"``; kind 1 a value, 0 empty, 2 refreshed by a write."""
    return f"{gen} {stamp} {kind}"


def meta_generation(raw: Any) -> tuple[int, bytes] | None:
    """(generation, kind) of a stored meta value; None when absent or unreadable."""
    if not raw:
        return None
    parts = bytes(raw).split(b" ")
    try:
        return int(parts[0]), parts[-1]
    except ValueError:
        return None


class ShapedQuery(ReadQuery[RowT]):
    """A ReadQuery whose entries are a Valkey structure; subclasses give the Lua and the codec."""

    READ_LUA = ""
    STORE_LUA = ""
    COMPANIONS: tuple[str, ...] = ()  # suffixes of keys stored beside the entry (dropped with it)
    ALWAYS_LOCK = False  # fills must read under the lock (its reply carries what the store checks)

    _hit = ""
    _lock = ""
    _fill_script = ""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._hit = cls.READ_LUA + _HIT_TAIL
        cls._lock = cls.READ_LUA + _LOCK_TAIL
        cls._fill_script = cls.STORE_LUA + _GUARD + _FILL_TAIL

    # ---------------------------------------------------------- the shape

    def full_args(self) -> list[Any]:
        """The read arguments that fetch the whole entry."""
        raise NotImplementedError

    def decode(self, reply: Any, gen: int) -> Any:
        """The value of a read reply (full or partial), or _MISSING when the entry is absent or of another generation."""
        raise NotImplementedError

    def store_args(self, result: Any, gen: int, stamp: int, seen: Any) -> list[Any]:
        """The store function's arguments; ``seen`` is the reply read with the lock (None without one)."""
        raise NotImplementedError

    def hit_read(self, cache: Any, key: str, read: list[Any]) -> Any:
        """(generation, the read's reply) in one round trip; a shape may do better than the script."""
        return cache.script(self._hit, [self.generation_key, key], read)

    def canonical(self, result: Any) -> Any:
        """The result as a hit would return it (a ranking in Valkey's order)."""
        return result

    def query_database(self, args: tuple[Any, ...], runtime: Runtime) -> Any:
        return self.canonical(super().query_database(args, runtime))

    # ---------------------------------------------------------------- reads

    def _read(self, args: tuple[Any, ...], runtime: Runtime | None) -> Any:
        rt = runtime if runtime is not None else _default()
        _STALE.set(False)
        key = self.key(args)
        value = self._hit_or_missing(rt, key, self.full_args(), self.decode)
        if value is not _MISSING:
            return value
        rt.metrics.of(self.name).misses += 1
        if not rt.cache.usable():
            return self.query_database(args, rt)
        if self.stampede == "none" and not self.ALWAYS_LOCK:
            return self._fill_unlocked(rt, args, key, -1)
        return self._miss_with_lock(rt, args, key)

    def partial(self, args: tuple[Any, ...], runtime: Runtime | None, read: list[Any], decode: Callable[[Any, int], Any], from_full: Callable[[Any], T]) -> T:
        """A part of the entry (a hash field, the top of a ranking); on a miss, the whole entry is filled."""
        rt = runtime if runtime is not None else _default()
        value = self._hit_or_missing(rt, self.key(args), read, decode)
        if value is not _MISSING:
            found: T = value
            return found
        return from_full(self._read(args, rt))

    def _hit_or_missing(self, rt: Runtime, key: str, read: list[Any], decode: Callable[[Any, int], Any]) -> Any:
        cache = rt.cache
        if not cache.usable():
            return _MISSING
        counters = rt.metrics.of(self.name)
        try:
            start = time.perf_counter()
            generation, reply = self.hit_read(cache, key, read)
            counters.cache_seconds += time.perf_counter() - start
            cache.ok()
        except Exception as e:  # noqa: BLE001 - any cache failure: answer from the database
            cache.failed(e, counters)
            return _MISSING
        value = decode(reply, int(generation or 0))
        if value is not _MISSING:
            counters.hits += 1
        return value

    def _fill_unlocked(self, rt: Runtime, args: tuple[Any, ...], key: str, gen: int) -> Any:
        try:
            generation, seq = rt.cache.mget(self.generation_key, SEQUENCE_KEY)
        except Exception as e:  # noqa: BLE001
            rt.cache.failed(e, rt.metrics.of(self.name))
            return self.query_database(args, rt)
        return self._fill(rt, args, key, int(generation or 0), int(seq or 0), token="", seen=None)

    def _miss_with_lock(self, rt: Runtime, args: tuple[Any, ...], key: str) -> Any:
        """Take the lock and fill, or wait for the owner's value; bounded by the lock's lifetime."""
        cache = rt.cache
        counters = rt.metrics.of(self.name)
        token = secrets.token_hex(8)
        lock = lock_key(key)
        deadline = time.monotonic() + LOCK_MS / 1000
        pause = 0.002
        while True:
            try:
                got, generation, sequence, reply = cache.script(self._lock, [lock, self.generation_key, SEQUENCE_KEY, key], [token, LOCK_MS, *self.full_args()])
            except Exception as e:  # noqa: BLE001
                cache.failed(e, counters)
                return self.query_database(args, rt)
            gen, seq = int(generation or 0), int(sequence or 0)
            value = self.decode(reply, gen)
            if value is not _MISSING:
                if got:
                    cache.release(lock, token)
                return value
            if got:
                return self._fill(rt, args, key, gen, seq, token, reply)
            if time.monotonic() > deadline:
                return self.query_database(args, rt)
            counters.lock_waits += 1
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _fill(self, rt: Runtime, args: tuple[Any, ...], key: str, gen: int, seq: int, token: str, seen: Any = None) -> Any:
        fresh, result = self._query_for_fill(rt, args, key, token)
        if not fresh:
            return result
        ttl_ms = self.ttl_ms(result is None or result == [])
        keys = [key, lock_key(key), self.generation_key, key + ":stale"]
        for tag in self._tag_names(args, result):
            keys += [tag_key(tag), tag_marker_key(tag)]
        fill_args = [token, "", ttl_ms, gen, seq, rt.stale_if_error * 1000, *self.store_args(result, gen, seq, seen)]
        rt.cache.fill(self._fill_script, keys, fill_args, rt.metrics.of(self.name))
        return result

    def _stale_copy(self, rt: Runtime, key: str) -> Any:
        """With stale_if_error on: the last value stored for ``key`` (any generation), flagged; else _MISSING."""
        if not rt.stale_if_error:
            return _MISSING
        try:
            _, reply = rt.cache.script(self._hit, [self.generation_key, key + ":stale"], self.full_args())
        except Exception:  # noqa: BLE001 - no cache, no stale copy
            return _MISSING
        found = meta_generation(reply[0] if reply else None)
        value = self.decode(reply, found[0]) if found is not None else _MISSING
        if value is _MISSING:
            return _MISSING
        rt.metrics.of(self.name).stale_served += 1
        _STALE.set(True)
        log.warning("%s: the database failed; served the last cached value (stale)", self.name)
        return value

    def many_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> list[list[RowT]]:
        return [self.many(args, runtime) for args in batch]

    # ---------------------------------------------------------- invalidation

    def warm_batch(self, batch: list[tuple[Any, ...]], runtime: Runtime | None = None) -> int:
        """Fill the missing entries of many parameter sets ahead of traffic, each as a read; returns how many were filled."""
        return warm_by_reading(self.name, self.many_batch, batch, runtime)

    def invalidate(self, args: tuple[Any, ...], runtime: Runtime | None = None) -> None:
        rt = runtime if runtime is not None else _default()
        key = self.key(args)
        rt.cache.delete(key, lock_key(key), *(key + s for s in self.COMPANIONS))
