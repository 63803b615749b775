"""Invalidations as steps of effects, run by the sync cache (cache.py) and the async one (cache_async.py).

Invalidation must not be lost silently: errors propagate to the caller (a write
retries, then raises InvalidationError). What failed is remembered (unsettled):
this process's reads of the queries it touches skip the cache until it goes
through. Local copies go after Valkey's: a reader that read the old value before
an invalidation returns saw an older near-cache epoch and cannot keep it.

``cache`` is either cache; only its bookkeeping is used here (``off``,
``unsettled``, ``unsettle``, ``near``, ``keyspace``), never its connection: the steps yield
the commands (protocol.py's Pipe: one command per bucket, on a cluster one
pipeline per node, sent together) and the cache runs them. An invalidation
returns once every bucket answered, or raises; with ``cache_wait_replicas``,
once the replicas of every primary it wrote to confirmed it too (replication.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flughafen.keys import bucket_of, buckets, generation_in, lock_key
from flughafen.protocol import Pipe, Steps
from flughafen.scripts import DROP_MEMBERS, INCR, MARK_TAGS, MARKER_MS

log = logging.getLogger("flughafen")


def delete(cache: Any, keys: Sequence[str]) -> Steps:
    """Drops entries (with their locks and companion keys): invalidate() of one parameter set."""
    if cache.off:
        return None
    per_bucket: dict[str, list[str]] = {}
    for key in keys:
        per_bucket.setdefault(bucket_of(key), []).append(key)
    try:
        yield Pipe([("DEL", *same) for same in per_bucket.values()], wait=True)
    except Exception:
        cache.unsettle(keys=list(keys))
        raise
    cache.unsettled.settled(keys=keys)
    if cache.near.stores:
        cache.near.drop_keys(list(keys))
    return None


def incr(cache: Any, key: str) -> Steps:
    """Moves a query's generation (``fg:<ns>:<name>:gen``) in every bucket: every entry of it, local copies too."""
    if cache.off:
        return None
    try:
        yield Pipe([("EVALSHA", INCR, [generation_in(key, b)], []) for b in buckets()], wait=True)
    except Exception:
        cache.unsettle(generations=[key])
        raise
    cache.unsettled.settled(generations=[key])
    if cache.near.stores:
        cache.near.drop_queries([cache.keyspace.query_of(key)])
    return None


def tags(cache: Any, names: list[str]) -> Steps:
    """Drops every entry registered under each tag, with its lock, in every bucket; returns how many.

    Two round trips: each bucket's markers move and its tag sets are read
    (MARK_TAGS), then the members found are deleted (DROP_MEMBERS)."""
    if not names or cache.off:
        return 0
    space = cache.keyspace
    marks = []
    for b in buckets():
        keys = [space.sequence_in(b)]
        for tag in names:
            keys += space.tag_keys(tag, b)
        marks.append(("EVALSHA", MARK_TAGS, keys, [MARKER_MS]))
    try:
        replies = yield Pipe(marks)
        drops, dropped = [], []
        for mark, reply in zip(marks, replies, strict=True):
            members = [m.decode("utf-8", "surrogateescape") for m in reply[1:]]
            if members:
                sets = mark[2][1::2]
                keys = [*sets, *(k for m in members for k in (m, lock_key(m)))]
                drops.append(("EVALSHA", DROP_MEMBERS, keys, [len(sets)]))
                dropped += members
        # Replicas confirm the markers' moves too, on every node the marks went to: a read per bucket carries the WAIT there.
        confirm = [("EXISTS", mark[2][0]) for mark in marks] if cache.waits else []
        replies = (yield Pipe(drops + confirm, wait=True)) if drops or confirm else []
        count = sum(int(n) for n in replies[: len(drops)])
        if cache.near.stores:
            cache.near.drop_keys(dropped)
    except Exception:
        cache.unsettle(tags=names)
        raise
    cache.unsettled.settled(tags=names)
    return count


def settle(cache: Any) -> Steps:
    """Makes the failed invalidations again; returns True when none is left."""
    names, generations, keys = cache.unsettled.snapshot()
    try:
        if keys:
            yield from delete(cache, keys)
        for key in generations:
            yield from incr(cache, key)
        yield from tags(cache, names)
    except Exception as e:  # noqa: BLE001 - still failing: reads keep skipping the cache
        log.warning(
            "cache %s: invalidations made earlier still fail (%s); the queries they touch answer from the database", cache.url.redacted(), type(e).__name__
        )
        return False
    log.warning("cache %s: invalidations that had failed went through; those queries use the cache again", cache.url.redacted())
    return not cache.unsettled
