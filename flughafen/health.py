"""Fail-open bookkeeping, the same for the sync cache (cache.py) and the async one (cache_async.py).

After a failure the cache is skipped for a backoff period (50 ms doubling to
500 ms), so an outage costs the application nothing but cache hits, and hits
resume within a second of Valkey coming back. A fill the server refuses is
logged at most once every REFUSALS_LOGGED_EVERY seconds.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flughafen.config import CacheUrl, find_project_dir
from flughafen.keys import Keyspace
from flughafen.tls import certificate_refused
from flughafen.unsettled import Unsettled

if TYPE_CHECKING:
    from flughafen.metrics import Counters

log = logging.getLogger("flughafen")

BACKOFF_START = 0.05
BACKOFF_MAX = 0.5
REFUSALS_LOGGED_EVERY = 10.0  # seconds: one log line at most for fills the server refuses

# Eviction policies that keep invalidation sound: none at all, or keys with a TTL, nearest
# expiry first (Valkey samples, so roughly). The generation and sequence keys have no TTL
# and never go; a tag set goes only when it is near expiry, and its entries expire no later
# than it, so an entry that an invalidation misses for want of its set is about to expire.
SAFE_POLICIES = ("noeviction", "volatile-ttl")


def eviction_risk(url: CacheUrl, conf: dict[str, Any]) -> str | None:
    """What is wrong with a server whose ``CONFIG GET maxmemory*`` is ``conf``, or None: one that may
    evict a tag set or a generation key before the entries it guards (an invalidation would then
    miss those entries until their TTL)."""
    policy = str(conf.get("maxmemory-policy", "noeviction"))
    if int(conf.get("maxmemory", 0) or 0) == 0 or policy in SAFE_POLICIES:
        return None
    return (
        f"cache {url.redacted()} evicts keys (maxmemory-policy {policy}): it may evict a tag set or a"
        " query's generation before the entries they guard, and an invalidation would then miss those"
        " entries until their TTL; set maxmemory-policy volatile-ttl (or noeviction)"
    )


class Health:
    """Whether the cache may be asked now, and what failed (see the module's docstring)."""

    def __init__(self, url: CacheUrl, keyspace: Keyspace, project_dir: Path | None = None):
        self.url = url
        self.keyspace = keyspace  # the runtime's namespace: every key name (keys.py)
        # embedded: a failure may mean the project's server died; it is checked, and replaced if so.
        self._project = (project_dir if project_dir is not None else find_project_dir()) if url.embedded else None
        self.down_until = 0.0
        self._backoff = BACKOFF_START
        self.down = False
        self.errors = 0
        # Invalidations that failed: reads of the queries they touch skip the cache until they go through.
        self.unsettled = Unsettled()
        self._settle_at = 0.0
        # cache_url = "off": never usable, so every read queries the database and nothing is stored.
        self.off = url.off
        if url.off:
            self.down, self.down_until = True, math.inf
        self._refusals = 0  # refused fills not yet reported in the log
        self._refusals_logged_at = -REFUSALS_LOGGED_EVERY
        # Replicas that must confirm each invalidation (replication.py): 0 none, WAIT_ALL every connected one.
        self.wait_replicas = 0
        self.wait_timeout_ms = 200

    def wait_for_replicas(self, count: int, socket_timeout: float) -> None:
        """Invalidations return once ``count`` replicas (-1: every connected one) confirmed them, within a share of ``socket_timeout``."""
        from flughafen.replication import wait_ms

        self.wait_replicas, self.wait_timeout_ms = count, wait_ms(socket_timeout)

    @property
    def waits(self) -> bool:
        """Whether invalidations wait for replicas (cache_wait_replicas is not 0)."""
        return self.wait_replicas != 0

    def usable(self) -> bool:
        return not self.down or time.monotonic() >= self.down_until

    def ok(self) -> None:
        if self.down:
            self.down = False
            self._backoff = BACKOFF_START
            log.warning("cache %s is answering again", self.url.redacted())

    def failed(self, error: BaseException, counters: Counters | None = None) -> None:
        self.errors += 1
        if counters is not None:
            counters.cache_errors += 1
        if not self.down:
            what = type(error).__name__
            if certificate_refused(error):  # a setting to fix: say which
                what += f": {error}"
            log.warning("cache %s unavailable (%s); answering from the database", self.url.redacted(), what)
        self.down = True
        self.down_until = time.monotonic() + self._backoff
        if self._project is not None:
            from flughafen.embedded import revive_soon

            revive_soon(self._project)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _refused(self, key: str, error: Exception) -> None:
        """Logs a fill the server refused; once every REFUSALS_LOGGED_EVERY seconds at most, with the
        count of those since, so a refusal on every miss (a wrong-type key, a full server) does not
        flood the log. Each one is counted in its accessor's cache_errors."""
        self._refusals += 1
        now = time.monotonic()
        if now - self._refusals_logged_at < REFUSALS_LOGGED_EVERY:
            return
        more = f" (and {self._refusals - 1} more since the last report)" if self._refusals > 1 else ""
        log.warning("cache %s refused a fill of %s: %s%s", self.url.redacted(), key, error, more)
        self._refusals = 0
        self._refusals_logged_at = now

    def settle_due(self) -> bool:
        """Whether failed invalidations may be tried again now (at most once per BACKOFF_MAX)."""
        now = time.monotonic()
        if now < self._settle_at:
            return False
        self._settle_at = now + BACKOFF_MAX
        return True
