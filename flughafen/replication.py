"""Invalidations confirmed by replicas: ``WAIT numreplicas timeout`` after an invalidation's commands.

Valkey copies writes to replicas after it answered them. A primary lost right after
an invalidation returned may take the invalidation with it, and the replica promoted
in its place then serves the entries it meant to drop. With ``cache_wait_replicas``
(config.py) an invalidation returns only once that many replicas of each primary it
wrote to confirmed its commands (``WAIT``, on the connection the commands went down,
so it covers them); too few within the timeout is a failed invalidation, as a lost
connection is: it raises (a write retries, then raises InvalidationError), and this
process's reads of what it touched skip the cache until it is made again.

``ALL`` waits for every replica connected to the primary when the connection first
needed the count (``ROLE``); a confirmation that falls short asks again next time,
so a replica that left stops being waited for after one failed invalidation.
"""

from __future__ import annotations

from typing import Any

import valkey

ALL = -1  # every replica the primary has
TIMEOUT_SHARE = 0.8  # of the socket timeout: WAIT's own bound, so that its reply comes before the socket gives up


class ReplicationTimeout(valkey.exceptions.TimeoutError):
    """Fewer replicas than required confirmed an invalidation in time."""


def connected(role: Any) -> int:
    """How many replicas a ``ROLE`` reply lists (0 for a server that is not a primary).

    >>> connected([b"master", 10, [[b"127.0.0.1", b"7001", b"10"]]]), connected([b"slave", b"h", 1, b"connected", 5])
    (1, 0)
    """
    if isinstance(role, list) and role and role[0] == b"master":
        return len(role[2])
    return 0


def wait_ms(socket_timeout: float) -> int:
    """WAIT's timeout in milliseconds: a share of the socket timeout (at least 1 ms; WAIT 0 would wait forever)."""
    return max(1, int(socket_timeout * TIMEOUT_SHARE * 1000))


def check(acked: Any, needed: int, where: str, timeout_ms: int) -> None:
    """Raises ReplicationTimeout when WAIT's reply ``acked`` is fewer than ``needed`` replicas."""
    if isinstance(acked, Exception):
        raise acked
    if int(acked) < needed:
        raise ReplicationTimeout(
            f"cache {where}: {acked} of {needed} replica(s) confirmed the invalidation within {timeout_ms} ms (cache_wait_replicas); "
            "it may not survive a failover, so it counts as failed"
        )
