"""The cache-aside protocol, written once for every store kind: hit, lock-and-wait, fill,
stale-if-error, leases (as dogpile.cache's get_or_create: the whole race in one place).

A read is a generator of effects. It yields what it needs done (an awaited Valkey
command, the database's result, a fill sent without waiting, a lock released, a pause,
a warning logged) and is sent the outcome; a failure is thrown into it where it yielded.
It does no I/O itself: io_sync.py runs it on a thread's connection, and an asyncio
shell can run the same generators with awaits. A store kind plugs in a codec (how to
read its entry, whether an entry is current, what its fill stores; stores/*.py) and
the Lua of kind_scripts (scripts.py).

The race, for one entry:

- hit: one round trip reads the query's generation and the entry; the entry counts only
  if it was stored under that generation (``invalidate_all`` is an INCR: O(1)).
- after recent misses the first read is READ_OR_LOCK, which takes the lock in the same
  round trip when the entry is not current: a miss then sends two commands (that read,
  the fill) and waits for one. A hit through the script costs a few microseconds more,
  so reads go back to the plain read once hits dominate (``miss_score``).
- miss, ``stampede: lock``: the lock (``SET NX PX`` with an owner token); the owner
  queries the database and sends the fill; others wait for its value with short
  pauses, bounded by the lock's lifetime, then query the database themselves.
- miss, ``stampede: none`` and ``early``, and warming: a lease instead of the lock:
  the same key, shared by the readers that miss together, never waited for.
- fill: one script, stored only while the lease holds (see scripts.py): every
  invalidation of the entry deletes its lock, tag invalidations leave a marker that
  outlives any lease taken before them, and a lease expires, never extended. So no
  read is stored after an invalidation that began after its query began, whatever the
  stampede mode or the query's time (leases, as in "Scaling Memcache at Facebook").
- ``stampede: early``: XFetch (Vattani et al., VLDB 2015) refreshes an entry before
  it expires, with a probability that rises as expiry nears; the refresher takes the
  lock, and callers that find it taken get the current value.
- the database fails and ``stale_if_error`` kept a copy: that copy, flagged.
- Valkey fails: the database answers (fail-open); the shell backs off.
- a refresh (``fetch(..., refresh=True)``) skips the hit: it takes the lock as an early
  refresh does, queries the database and fills, so a fill's rules hold for it too;
  when another caller holds the lock, it answers from the database and leaves the
  store to that caller. ``cache=False`` (and ``runtime.bypass()``) asks the cache
  nothing and stores nothing.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

from flughafen.db import QueryError
from flughafen.keys import Keyspace, bucket_of, generation_in, lock_key, stale_key
from flughafen.scripts import LOCK_MS, KindScripts, Script

MISSING: Any = object()  # no current entry (or no stale copy)
# A stampede-lock query reads with READ_OR_LOCK (the lock in the same round trip as the
# read, a few microseconds more per hit) while its miss score is above zero: a miss
# adds the step, a hit takes one off. So it does when more than about one read in five
# missed lately, the plain read otherwise.
MISS_SCORE_STEP = 4
MISS_SCORE_MAX = 32
FIRST_PAUSE = 0.002  # seconds a waiter sleeps first; doubled up to MAX_PAUSE
MAX_PAUSE = 0.02
STALE: contextvars.ContextVar[bool] = contextvars.ContextVar("flughafen_stale", default=False)


def last_read_was_stale() -> bool:
    """True when this thread's (or task's) last accessor read served a stale value (stale_if_error)."""
    return STALE.get()


# ------------------------------------------------------------------------ tokens

_TOKEN_PREFIX = secrets.token_hex(8) + ":"
_TOKENS = itertools.count()


def new_token() -> str:
    """A lock owner token unique across processes: a random prefix and a counter (cheaper than random bytes per miss)."""
    return _TOKEN_PREFIX + str(next(_TOKENS))


def _new_token_prefix() -> None:
    global _TOKEN_PREFIX
    _TOKEN_PREFIX = secrets.token_hex(8) + ":"


os.register_at_fork(after_in_child=_new_token_prefix)


# ----------------------------------------------------------------------- effects


class Call:
    """One Valkey command, its reply awaited."""

    __slots__ = ("args",)

    def __init__(self, *args: Any):
        self.args = args


class Pipe:
    """Several commands (each a tuple; a script as ``("EVALSHA", Script, keys, args)``) in one round trip.

    Each command touches one bucket (one hash slot); on a cluster the shell sends
    one pipeline per node, all at once, and returns when every node answered.
    ``wait``: the last commands of an invalidation; the shell then has each
    connection's replicas confirm them (replication.py), if the runtime asks for it."""

    __slots__ = ("commands", "wait")

    def __init__(self, commands: list[tuple[Any, ...]], wait: bool = False):
        self.commands, self.wait = commands, wait


class Eval:
    """A script, its reply awaited."""

    __slots__ = ("args", "keys", "script")

    def __init__(self, script: Script, keys: list[str], args: list[Any]):
        self.script, self.keys, self.args = script, keys, args

    def command(self) -> tuple[Any, ...]:
        return ("EVALSHA", self.script, self.keys, self.args)


class OnReplica:
    """A hit's read (``read``: a Call, Pipe or Eval) sent to a replica at most ``bound_ms`` behind its primary (replicas.py).

    Its outcome is the read's reply, or None when no replica may answer (none fit the
    bound, one failed, a single server): the read then goes to the primary as usual."""

    __slots__ = ("bound_ms", "key", "read")

    def __init__(self, read: Any, key: str, bound_ms: int):
        self.read, self.key, self.bound_ms = read, key, bound_ms


class Query:
    """The database's result for these parameters: (value, rows the tags come from)."""

    __slots__ = ("args",)

    def __init__(self, args: tuple[Any, ...]):
        self.args = args


class Fill:
    """A fill script, sent without waiting for its reply (the shell accounts for the reply)."""

    __slots__ = ("args", "keys", "script")

    def __init__(self, script: Script, keys: list[str], args: list[Any]):
        self.script, self.keys, self.args = script, keys, args


class Release:
    """A lock let go, if it is still the owner's; never fails."""

    __slots__ = ("lock", "token")

    def __init__(self, lock: str, token: str):
        self.lock, self.token = lock, token


class Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds


class Warn:
    """A line for the log."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


Effect = Call | Pipe | Eval | OnReplica | Query | Fill | Release | Sleep | Warn


# A write's effects (write.py), besides Call, Eval and Sleep: its database transaction.


class Begin:
    """Opens the write's transaction."""

    __slots__ = ()


class Statement:
    """A statement in the open transaction (``sql`` per dialect); its outcome is (row count, rows if ``fetch``)."""

    __slots__ = ("fetch", "sql", "values")

    def __init__(self, sql: dict[str, str], values: list[Any], fetch: bool):
        self.sql, self.values, self.fetch = sql, values, fetch


class Commit:
    __slots__ = ()


class Rollback:
    """Rolls the open transaction back (nothing, if it already ended)."""

    __slots__ = ()


Steps = Generator[Any, Any, Any]  # yields effects (these, and a write's: write.py), is sent their outcomes


def drive(steps: Steps, perform: Callable[[Any], Any]) -> Any:
    """Runs ``steps`` to the end with ``perform`` doing each effect; a failure is thrown back into them.
    Returns what they return, raises what they raise. (io_async.drive is the same with awaits.)"""
    try:
        effect = next(steps)
        while True:
            try:
                result = perform(effect)
            except BaseException as e:  # noqa: BLE001 - the steps decide: fail open, release, re-raise
                effect = steps.throw(e)
                continue
            effect = steps.send(result)
    except StopIteration as done:
        return done.value


async def drive_async(steps: Steps, perform: Callable[[Any], Awaitable[Any]]) -> Any:
    """``drive`` with awaits (the async shell's): ``perform`` returns an awaitable per effect."""
    try:
        effect = next(steps)
        while True:
            try:
                result = await perform(effect)
            except BaseException as e:  # noqa: BLE001 - the steps decide: fail open, release, re-raise
                effect = steps.throw(e)
                continue
            effect = steps.send(result)
    except StopIteration as done:
        return done.value


# ------------------------------------------------------------- what a read needs


class View:
    """What one read asks of an entry: all of it, or a part (a hash field, the top of a ranking, one bit).

    ``read``: the arguments of the kind's Lua ``read`` (and of its hit command);
    ``answer``: the answer from an opened entry; ``from_fresh``: the answer from the
    database's value, when the entry had to be filled.
    """

    __slots__ = ("answer", "from_fresh", "read")

    def __init__(self, read: tuple[Any, ...], answer: Callable[[Any], Any], from_fresh: Callable[[Any], Any]):
        self.read, self.answer, self.from_fresh = read, answer, from_fresh


class Codec(Protocol):
    """How a store kind reads, checks and stores its entries."""

    scripts: KindScripts

    def hit_read(self, generation_key: str, key: str, view: View) -> Effect:
        """The hit's round trip; its reply is (generation, entry)."""

    def open(self, entry: Any, gen: int | None) -> Any:
        """The entry, ready for views, if it is stored under ``gen`` (None: any); else MISSING."""

    def store_args(self, value: Any, gen: int, stamp: int, seen: Any, ttl_ms: int, delta_ms: int) -> list[Any]:
        """The arguments of the kind's Lua ``store``; ``seen``: the entry as read with the lease."""

    def refresh_early(self, opened: Any) -> bool:
        """Whether an opened entry should be refreshed before it expires (XFetch; False for kinds that keep no estimate)."""


class Reader(Protocol):
    """What the protocol needs of an accessor in one namespace (accessor.Scope)."""

    miss_score: int  # above zero after recent misses (see MISS_SCORE_STEP)
    replica_ms: int  # > 0: a hit may be read from a replica at most this stale (cache: replica_reads)

    @property
    def name(self) -> str: ...

    @property
    def space(self) -> Keyspace: ...

    @property
    def stampede(self) -> str: ...

    @property
    def generation_key(self) -> str: ...

    @property
    def codec(self) -> Codec: ...

    def ttl_ms(self, empty: bool) -> int: ...

    def tag_names(self, args: tuple[Any, ...], rows: Any) -> list[str]: ...


# ------------------------------------------------------------------------- reads


def read(
    q: Reader,
    args: tuple[Any, ...],
    key: str,
    view: View,
    counters: Any,
    stale_ms: int,
    usable: bool,
    on_hit: Callable[[Any], None] | None = None,
    refresh: bool = False,
) -> Steps:
    """One read of ``key``, the whole race: its answer. ``usable``: whether the cache may be asked at all.

    1. the first read: the plain hit read, or (misses lately) READ_OR_LOCK;
    2. a current entry is the answer (or, XFetch says so, refreshed under the lock);
    3. else the lock or a lease: taken with the first read, or by READ_OR_LOCK, again
       after a pause while another caller holds the lock, until its lifetime is over;
    4. the database's value, sent as a fill; on a database failure, the stale copy.

    ``refresh``: no hit; the lock as in 2, then 4.
    """
    if STALE.get():
        STALE.set(False)
    if not usable:
        counters.misses += 1
        return view.from_fresh((yield Query(args))[0])
    if refresh:
        counters.refreshes += 1
        return (yield from _refresh(q, args, key, view, counters, stale_ms))
    codec = q.codec
    if q.replica_ms:
        opened = yield from _replica_hit(q, key, view)
        if opened is not MISSING:
            counters.hits += 1
            counters.replica_hits += 1
            if on_hit is not None:
                on_hit(opened)
            return view.answer(opened)
    lock = q.stampede == "lock"
    mode = "lock" if lock else "lease"
    token = ""
    try:
        if q.miss_score:  # misses lately: the lock (or lease) in this round trip if the entry is missing
            token = new_token()
            reply = yield _read_or_lock(q, key, view, mode, token)
        else:
            reply = yield codec.hit_read(generation_in(q.generation_key, bucket_of(key)), key, view)
    except Exception:  # noqa: BLE001 - the shell counted it: answer from the database
        counters.misses += 1
        return view.from_fresh((yield Query(args))[0])
    except GeneratorExit:
        raise
    except BaseException:  # cancelled (or interrupted) before the reply: the lock may be ours
        if token and lock:
            yield Release(lock_key(key), token)
        raise
    opened = codec.open(reply[1], int(reply[0] or 0))
    if opened is not MISSING:
        if q.stampede != "early" or not codec.refresh_early(opened):
            counters.hits += 1
            if token:
                q.miss_score = max(q.miss_score - 1, 0)
            if on_hit is not None:
                on_hit(opened)
            return view.answer(opened)
        counters.early_refreshes += 1  # XFetch: refresh it, under the lock; whoever finds it taken gets this value
        counters.misses += 1
        try:
            reply = yield _read_or_lock(q, key, view, "refresh", new_token())
        except Exception:  # noqa: BLE001 - the shell counted it; the value read is still good
            return view.answer(opened)
        if len(reply) < 4:
            return view.answer(opened)
        lease, owner = reply[3], True
    else:
        counters.misses += 1
        if token:
            q.miss_score = min(q.miss_score + MISS_SCORE_STEP, MISS_SCORE_MAX)
        else:
            q.miss_score = MISS_SCORE_STEP
            token = new_token()
        lease, owner = (reply[3] if len(reply) > 3 else b""), lock
        # The lock (or a lease) and the entry, read together until one of them comes: a value
        # stored between a waiter's last look and its lock is seen, not filled again.
        deadline = time.monotonic() + LOCK_MS / 1000
        pause = FIRST_PAUSE
        waited = len(reply) > 3  # READ_OR_LOCK found the lock taken: pause before asking again
        while not lease:
            if waited:
                if not lock or time.monotonic() > deadline:  # a write holds the entry, or its owner took too long
                    return (yield from _fresh_or_stale(q, args, key, view, counters, stale_ms))
                counters.lock_waits += 1
                yield Sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
            waited = True
            try:
                reply = yield _read_or_lock(q, key, view, mode, token)
            except Exception:  # noqa: BLE001 - the shell counted it
                return view.from_fresh((yield Query(args))[0])
            except GeneratorExit:
                raise
            except BaseException:  # cancelled (or interrupted) before the reply: the lock may be ours
                if lock:
                    yield Release(lock_key(key), token)
                raise
            opened = codec.open(reply[1], int(reply[0] or 0))
            if opened is not MISSING:
                return view.answer(opened)
            if len(reply) > 3:
                lease = reply[3]
            elif lock:
                mode = "refresh"  # current by the script's check, unreadable here: take the lock and store anew
    return (yield from _query_and_fill(q, args, key, view, counters, stale_ms, reply, lease, owner))


def _replica_hit(q: Reader, key: str, view: View) -> Steps:
    """A current entry read from a replica, or MISSING: then the primary is asked as usual (a replica never takes a lock or a fill)."""
    codec = q.codec
    read = codec.hit_read(generation_in(q.generation_key, bucket_of(key)), key, view)
    reply = yield OnReplica(read, key, q.replica_ms)
    if reply is None:
        return MISSING
    opened = codec.open(reply[1], int(reply[0] or 0))
    if opened is not MISSING and q.stampede == "early" and codec.refresh_early(opened):
        return MISSING  # XFetch asks for a refresh: the primary's path takes the lock
    return opened


def _refresh(q: Reader, args: tuple[Any, ...], key: str, view: View, counters: Any, stale_ms: int) -> Steps:
    """A refresh asked for: the lock taken even over a current entry, then the database's value filled."""
    token = new_token()
    try:
        reply = yield _read_or_lock(q, key, view, "refresh", token)
    except Exception:  # noqa: BLE001 - the shell counted it: the database answers, nothing is stored
        return view.from_fresh((yield Query(args))[0])
    except GeneratorExit:
        raise
    except BaseException:  # cancelled (or interrupted) before the reply: the lock may be ours
        yield Release(lock_key(key), token)
        raise
    if len(reply) < 4:  # another caller holds the lock and stores: the database's answer, not stored by this one
        return (yield from _fresh_or_stale(q, args, key, view, counters, stale_ms))
    return (yield from _query_and_fill(q, args, key, view, counters, stale_ms, reply, reply[3], True))


def _query_and_fill(q: Reader, args: tuple[Any, ...], key: str, view: View, counters: Any, stale_ms: int, reply: Any, lease: Any, owner: bool) -> Steps:
    """The database's value under the lock or a lease (``reply``: READ_OR_LOCK's), sent as a fill; the stale copy if the database fails."""
    start = time.perf_counter()
    try:
        value, rows = yield Query(args)
    except QueryError:
        if owner:
            yield Release(lock_key(key), lease)
        stale = yield from _stale_copy(q, key, view, counters, stale_ms)
        if stale is MISSING:
            raise
        return stale
    except GeneratorExit:
        raise
    except BaseException:
        if owner:
            yield Release(lock_key(key), lease)
        raise
    delta_ms = int((time.perf_counter() - start) * 1000)
    yield fill(q, args, key, value, rows, int(reply[0] or 0), int(reply[2] or 0), lease, owner, reply[1], stale_ms, delta_ms)
    return view.from_fresh(value)


def fill(
    q: Reader, args: tuple[Any, ...], key: str, value: Any, rows: Any, gen: int, seq: int, lease: Any, owner: bool, seen: Any, stale_ms: int, delta_ms: int
) -> Fill:
    """The fill of ``key`` with the database's ``value``: the entry, its stale copy and its tags, if the lease holds."""
    ttl_ms = q.ttl_ms(value is None or ((type(value) is list or type(value) is set) and not value))
    bucket = bucket_of(key)
    keys = [key, lock_key(key), generation_in(q.generation_key, bucket), stale_key(key)]
    tag_keys = q.space.tag_keys
    for tag in q.tag_names(args, rows):
        keys += tag_keys(tag, bucket)
    companions = q.codec.scripts.companions
    if companions:
        keys += [key + s for s in companions] + [keys[3] + s for s in companions]
    store = q.codec.store_args(value, gen, seq, seen, ttl_ms, delta_ms)
    return Fill(q.codec.scripts.fill, keys, [lease, 1 if owner else 0, ttl_ms, gen, seq, stale_ms, *store])


def _fresh_or_stale(q: Reader, args: tuple[Any, ...], key: str, view: View, counters: Any, stale_ms: int) -> Steps:
    """The database's answer, without filling; on a database failure the stale copy, if kept."""
    try:
        return view.from_fresh((yield Query(args))[0])
    except QueryError:
        stale = yield from _stale_copy(q, key, view, counters, stale_ms)
        if stale is MISSING:
            raise
        return stale


def _stale_copy(q: Reader, key: str, view: View, counters: Any, stale_ms: int) -> Steps:
    """With stale_if_error on: the last value stored for ``key`` (any generation), flagged as stale; else MISSING."""
    if not stale_ms:
        return MISSING
    try:
        stale = stale_key(key)
        keys = [generation_in(q.generation_key, bucket_of(key)), stale, *(stale + s for s in q.codec.scripts.companions)]
        reply = yield Eval(q.codec.scripts.hit, keys, list(view.read))
    except Exception:  # noqa: BLE001 - no cache, no stale copy
        return MISSING
    opened = q.codec.open(reply[1], None)
    if opened is MISSING:
        return MISSING
    counters.stale_served += 1
    STALE.set(True)
    yield Warn(f"{q.name}: the database failed; served the last cached value (stale)")
    return view.answer(opened)


def refresh_early(delta_ms: int, expires_ms: int, beta: float = 1.0) -> bool:
    """XFetch: refresh when now - delta * beta * ln(U) >= expiry."""
    now_ms = time.time() * 1000
    return now_ms - delta_ms * beta * math.log(random.random() or 1e-12) >= expires_ms


# ------------------------------------------------------------ many entries at once


def batch(q: Reader, keys: list[str]) -> Steps:
    """The current entries of many keys in one round trip (store: json), opened; MISSING for the others.

    One MGET per bucket (the bucket's generation, then its entries), pipelined."""
    where: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        where.setdefault(bucket_of(key), []).append(i)
    try:
        replies = yield Pipe([("MGET", generation_in(q.generation_key, b), *(keys[i] for i in at)) for b, at in where.items()])
    except Exception:  # noqa: BLE001 - the shell counted it: every entry is read on its own
        return [MISSING] * len(keys)
    out: list[Any] = [MISSING] * len(keys)
    for at, reply in zip(where.values(), replies, strict=True):
        gen = int(reply[0] or 0)
        for i, raw in zip(at, reply[1:], strict=True):
            out[i] = q.codec.open(raw, gen)
    return out


def _read_or_lock(q: Reader, key: str, view: View, mode: str, token: str) -> Eval:
    bucket = bucket_of(key)
    keys = [generation_in(q.generation_key, bucket), q.space.sequence_in(bucket), lock_key(key), key]
    companions = q.codec.scripts.companions
    if companions:
        keys += [key + s for s in companions]
    return Eval(q.codec.scripts.read_or_lock, keys, [mode, token, LOCK_MS, *view.read])


def warm(q: Reader, batch: list[tuple[Any, ...]], keys: list[str], view: View, counters: Any, stale_ms: int) -> Steps:
    """Fill the missing entries of many parameter sets ahead of traffic; returns how many were stored.

    One round trip reads every entry and takes a lease for each missing one; the
    database answers each; one round trip sends every fill and reads whether it stored.
    """
    token = new_token()
    reads = [_read_or_lock(q, key, view, "lease", token).command() for key in keys]
    replies = yield Pipe(reads)
    fills: list[tuple[Any, ...]] = []
    for args, key, reply in zip(batch, keys, replies, strict=False):
        gen = int(reply[0] or 0)
        if q.codec.open(reply[1], gen) is not MISSING:
            counters.hits += 1
            continue
        counters.misses += 1
        lease = reply[3] if len(reply) > 3 else b""
        if not lease:
            continue  # a write holds the entry: the next read fills it
        start = time.perf_counter()
        value, rows = yield Query(args)
        made = fill(q, args, key, value, rows, gen, int(reply[2] or 0), lease, False, reply[1], stale_ms, int((time.perf_counter() - start) * 1000))
        fills.append(("EVALSHA", made.script, made.keys, made.args))
    if not fills:
        return 0
    stored = [bool(r) for r in (yield Pipe(fills))]
    counters.stale_fills_dropped += stored.count(False)
    return stored.count(True)
