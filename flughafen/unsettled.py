"""Invalidations Valkey refused, kept until one goes through.

A write commits, then tells Valkey what it changed. When that fails (the server is
unreachable, or refuses), entries it should have dropped may still be there. The
process remembers what was not dropped (tags, query generations, entry keys), and
its reads of the queries these can touch skip the cache, answering from the
database, until the invalidation is made again and succeeds (cache.CacheState
retries with the fail-open backoff). Other processes cannot know: their copies
are stale until their TTL, and the write raised InvalidationError to say so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from flughafen.keys import RowField, Template


class Unsettled:
    """Tags, generation keys and entry keys whose invalidation has not gone through."""

    def __init__(self) -> None:
        self.tags: set[str] = set()
        self.generations: set[str] = set()
        self.keys: set[str] = set()
        self.lock = threading.Lock()
        self.any = False  # read on every read: an attribute, not a method

    def __bool__(self) -> bool:
        return self.any

    def add(self, tags: Iterable[str] = (), generations: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        with self.lock:
            self.tags.update(tags)
            self.generations.update(generations)
            self.keys.update(keys)
            self.any = bool(self.tags or self.generations or self.keys)

    def settled(self, tags: Iterable[str] = (), generations: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        """These went through: a later invalidation of the same tag, generation or key covers an earlier one."""
        if not self.any:
            return
        with self.lock:
            self.tags.difference_update(tags)
            self.generations.difference_update(generations)
            self.keys.difference_update(keys)
            self.any = bool(self.tags or self.generations or self.keys)

    def snapshot(self) -> tuple[list[str], list[str], list[str]]:
        with self.lock:
            return sorted(self.tags), sorted(self.generations), sorted(self.keys)

    def touches(self, q: Any) -> bool:
        """Whether an unsettled invalidation may concern entries of accessor ``q`` (by name, key prefix or tag)."""
        with self.lock:
            if q.generation_key in self.generations or any(k.startswith(q.prefix) for k in self.keys):
                return True
            pattern = tag_pattern(q.tags)
            return pattern is not None and any(pattern.fullmatch(t) for t in self.tags)


_FIELD = "[A-Za-z0-9._~%-]*"  # what keys.encode_value writes


def tag_pattern(templates: tuple[Template, ...]) -> re.Pattern[str] | None:
    """A pattern matching every tag these templates can fill (None: no tags).

    >>> tag_pattern((("route:", 0, ":", 1),)).fullmatch("route:JFK:LAX") is not None
    True
    """
    if not templates:
        return None
    return re.compile("|".join("".join(re.escape(p) if isinstance(p, str) else _FIELD for p in t if isinstance(p, (str, int, RowField))) for t in templates))
