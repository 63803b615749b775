"""Invalidations as steps of effects, run by the sync cache (cache.py) and the async one (cache_async.py).

Invalidation must not be lost silently: errors propagate to the caller (a write
retries, then raises InvalidationError). What failed is remembered (unsettled):
this process's reads of the queries it touches skip the cache until it goes
through. Local copies go after Valkey's: a reader that read the old value before
an invalidation returns saw an older near-cache epoch and cannot keep it.

``cache`` is either cache; only its bookkeeping is used here (``off``,
``unsettled``, ``unsettle``, ``near``, ``keyspace``), never its connection: the steps yield
the commands (protocol.py's Call and Eval) and the cache runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flughafen.protocol import Call, Eval, Steps
from flughafen.scripts import INCR, INVALIDATE_TAGS, MARKER_MS

log = logging.getLogger("flughafen")


def delete(cache: Any, keys: Sequence[str]) -> Steps:
    """Drops entries (with their locks and companion keys): invalidate() of one parameter set."""
    if cache.off:
        return None
    try:
        yield Call("DEL", *keys)
    except Exception:
        cache.unsettle(keys=list(keys))
        raise
    cache.unsettled.settled(keys=keys)
    if cache.near.stores:
        cache.near.drop_keys(list(keys))
    return None


def incr(cache: Any, key: str) -> Steps:
    """Moves a query's generation (``fg:<ns>:<name>:gen``): every entry of it, local copies too."""
    if cache.off:
        return None
    try:
        yield Eval(INCR, [key], [])
    except Exception:
        cache.unsettle(generations=[key])
        raise
    cache.unsettled.settled(generations=[key])
    if cache.near.stores:
        cache.near.drop_queries([cache.keyspace.query_of(key)])
    return None


def tags(cache: Any, names: list[str]) -> Steps:
    """Drops every entry registered under each tag, with its lock; returns how many."""
    if not names or cache.off:
        return 0
    space = cache.keyspace
    keys = [space.sequence]
    for tag in names:
        keys += space.tag_keys(tag)
    try:
        if not cache.near.stores:
            count = int((yield Eval(INVALIDATE_TAGS, keys, [MARKER_MS, 0])))
        else:
            count, *members = yield Eval(INVALIDATE_TAGS, keys, [MARKER_MS, 1])  # and the entries, for local copies
            cache.near.drop_keys([m.decode("utf-8", "surrogateescape") for m in members])
    except Exception:
        cache.unsettle(tags=names)
        raise
    cache.unsettled.settled(tags=names)
    return int(count)


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
        log.warning("cache %s: invalidations made earlier still fail (%s); the queries they touch answer from the database", cache.url.redacted(), type(e).__name__)
        return False
    log.warning("cache %s: invalidations that had failed went through; those queries use the cache again", cache.url.redacted())
    return not cache.unsettled
