"""The near cache on a Valkey Cluster: tracking on every primary, and a topology change drops every local copy.

A node's invalidation messages tell only of the keys it serves, so the thread
of near.py keeps a listener and a tracking connection on each primary of the
slot map (read with CLUSTER SLOTS from the primaries known, then the URL's
seeds), and registers every near-cached query's prefix on each before its
store appears. The whole near cache goes (every store emptied, the epoch
moved) and the thread connects again, to the primaries that serve then, when:

- any node's listener or tracking connection fails, or misses a heartbeat;
- a heartbeat finds a tracked node no longer a primary (ROLE: a failover), or
  the slot map naming other primaries (CLUSTER SLOTS: a primary added or gone);
- the runtime's own commands meet a topology change (MOVED, ASK, a node
  failing, CLUSTERDOWN...: ``moved()`` of cluster.py and cluster_async.py).

Until every primary tracks again no store exists, so every near-cached query
reads Valkey. Between a failover and the heartbeat that notices it (one
second at most, HEARTBEAT), a change written to the new primary may not be
heard: the old primary, now its replica, still tells of the changes it copies,
so what is missed is the replication delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import valkey

from flughafen.config import CacheUrl
from flughafen.keys import Keyspace
from flughafen.near import Link, NearCache, TopologyChanged
from flughafen.tls import connection_class, tls_kwargs

PRIMARY_ROLES = (b"master", b"primary")


def node_opener(url: CacheUrl, socket_timeout: float) -> Callable[[str], Any]:
    """A function making a new (unconnected) valkey-py connection to a node ``host:port`` of ``url``'s cluster."""
    kwargs: dict[str, Any] = {
        "username": url.username,
        "password": url.password,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
    }
    kind = connection_class(url)
    kwargs.update(tls_kwargs(url))
    kwargs.pop("ssl", None)  # the class brings TLS

    def open_node(name: str) -> Any:
        host, port = name.rsplit(":", 1)
        return kind(host=host.strip("[]"), port=int(port), **kwargs)

    return open_node


def primaries_of(reply: list[Any], default_host: str) -> tuple[str, ...]:
    """The ``host:port`` of every primary in a CLUSTER SLOTS reply, sorted (a node naming no host is ``default_host``).

    >>> primaries_of([[0, 1, [b"10.0.0.2", 7001, b"id"], [b"10.0.0.9", 7009, b"id"]], [2, 3, [b"", 7000, b"id"]]], "h")
    ('10.0.0.2:7001', 'h:7000')
    """
    names = set()
    for _start, _end, primary, *_replicas in reply:
        host = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        names.add(f"{host or default_host}:{primary[1]}")
    return tuple(sorted(names))


class ClusterNearCache(NearCache):
    """NearCache tracking every primary of a Valkey Cluster (see the module's docstring)."""

    def __init__(self, open_node: Callable[[str], Any], url: CacheUrl, keyspace: Keyspace):
        super().__init__(None, url.redacted(), keyspace)
        self._open_node = open_node
        self._seeds = [f"{host}:{port}" for host, port in url.nodes]
        self.primaries: tuple[str, ...] = ()  # the nodes tracked (or last tracked)

    def _targets(self) -> list[str]:
        """The primaries of the slot map, asked of the primaries known, then of the URL's seeds."""
        error: Exception = valkey.exceptions.ConnectionError("no node of the cluster to ask")
        for name in dict.fromkeys([*self.primaries, *self._seeds]):
            conn = self._open_node(name)
            try:
                conn.send_command("CLUSTER", "SLOTS")
                reply = conn.read_response()
            except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError, valkey.exceptions.ResponseError, OSError) as e:
                error = e
                continue
            finally:
                conn.disconnect()
            primaries = primaries_of(reply, name.rsplit(":", 1)[0])
            if primaries:
                self.primaries = primaries
                return list(primaries)
            error = valkey.exceptions.ConnectionError(f"node {name} serves no slot map yet")
        raise error

    def _open(self, node: str) -> Any:
        return self._open_node(node)

    def _check(self, links: list[Link]) -> None:
        """Every tracked node still a primary, and the slot map naming the same primaries."""
        for link in links:
            link.tracker.send_command("ROLE")
        for link in links:
            role = link.tracker.read_response()
            if role[0] not in PRIMARY_ROLES:
                raise TopologyChanged(f"node {link.node} of {self._url_text} is a replica now")
        tracker = links[0].tracker
        tracker.send_command("CLUSTER", "SLOTS")
        primaries = primaries_of(tracker.read_response(), links[0].node.rsplit(":", 1)[0])
        if primaries != self.primaries:
            raise TopologyChanged(f"the primaries of {self._url_text} are now {', '.join(primaries)}")
