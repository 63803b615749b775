"""The nodes of a Valkey Cluster as ``flughafen-gen stats`` and ``cache status`` show them.

The node list is CLUSTER NODES from the first of the URL's seed nodes that
answers; each node is then asked PING on a connection of its own, so a node
the cluster still lists but that does not answer shows as unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import valkey
from valkey.cluster import ClusterNode, ValkeyCluster

from flughafen.config import CacheUrl
from flughafen.near_cluster import node_opener
from flughafen.tls import cluster_kwargs

SLOTS = 16384


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # host:port
    role: str  # "primary" or "replica"
    slots: int  # slots served (a primary's)
    follows: str  # a replica's primary (host:port); "" for a primary
    reachable: bool
    problem: str  # why not reachable, or the cluster's own flag (fail, fail?)


def slot_count(ranges: list[str]) -> int:
    """Slots in CLUSTER NODES' ranges (a slot being moved, ``[n->-id]``, is counted where it is served).

    >>> slot_count(["0-5460", "5462", "[5461->-abc]"])
    5462
    """
    total = 0
    for each in ranges:
        if each.startswith("["):
            continue
        start, _, end = each.partition("-")
        total += int(end or start) - int(start) + 1
    return total


def parse_nodes(text: str) -> list[tuple[str, str, str, str, int, str]]:
    """(id, host:port, role, id of the primary followed, slots, flags) of each line of a CLUSTER NODES reply.

    >>> parse_nodes("a1 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\\nb2 10.0.0.2:7001@17001 slave a1 0 0 1 connected")
    [('a1', '10.0.0.1:7000', 'primary', '', 16384, ''), ('b2', '10.0.0.2:7001', 'replica', 'a1', 0, '')]
    """
    nodes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        node_id, address, flags, primary = fields[0], fields[1].split("@")[0], fields[2].split(","), fields[3]
        role = "replica" if "slave" in flags or "replica" in flags else "primary"
        marks = ",".join(f for f in flags if f in ("fail", "fail?", "noaddr", "handshake"))
        nodes.append((node_id, address, role, primary if primary != "-" else "", slot_count(fields[8:]), marks))
    return nodes


def cluster_nodes(url: CacheUrl, timeout: float = 2.0) -> list[Node]:
    """Every node of ``url``'s cluster, primaries first (sorted by name), each with its replicas after it."""
    open_node = node_opener(url, timeout)
    text = None
    error: Exception | None = None
    for host, port in url.nodes:
        conn = open_node(f"{host}:{port}")
        try:
            conn.send_command("CLUSTER", "NODES")
            reply = conn.read_response()
            text = reply.decode() if isinstance(reply, bytes) else str(reply)
            break
        except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError, valkey.exceptions.ResponseError, OSError) as e:
            error = e
        finally:
            conn.disconnect()
    if text is None:
        raise valkey.exceptions.ConnectionError(f"no seed node of {url.redacted()} answered CLUSTER NODES ({error})")
    parsed = parse_nodes(text)
    names = {node_id: address for node_id, address, *_ in parsed}
    nodes = []
    for _id, address, role, primary, slots, marks in parsed:
        reachable, problem = _ping(open_node, address)
        nodes.append(Node(address, role, slots, names.get(primary, primary), reachable, problem or marks))
    primaries = sorted((n for n in nodes if n.role == "primary"), key=lambda n: n.name)
    order = {n.name: i for i, n in enumerate(primaries)}
    replicas = sorted((n for n in nodes if n.role == "replica"), key=lambda n: (order.get(n.follows, len(order)), n.name))
    return [n for p in primaries for n in [p, *(r for r in replicas if r.follows == p.name)]] + [r for r in replicas if r.follows not in order]


def _ping(open_node: Any, name: str) -> tuple[bool, str]:
    conn = open_node(name)
    try:
        conn.send_command("PING")
        conn.read_response()
        return True, ""
    except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError, valkey.exceptions.ResponseError, OSError) as e:
        return False, f"{type(e).__name__}: {e}"
    finally:
        conn.disconnect()


def served(nodes: list[Node]) -> int:
    """Slots served by a primary that answers."""
    return sum(n.slots for n in nodes if n.role == "primary" and n.reachable)


def print_nodes(nodes: list[Node]) -> None:
    primaries = sum(n.role == "primary" for n in nodes)
    ok = served(nodes)
    coverage = "every slot served" if ok == SLOTS else f"{SLOTS - ok} of {SLOTS} slots not served by a reachable primary"
    print(f"cluster nodes ({primaries} primaries, {len(nodes) - primaries} replicas; {coverage}):")
    for n in nodes:
        what = f"{n.slots:>5} slots" if n.role == "primary" else f"of {n.follows}"
        state = "reachable" if n.reachable else "unreachable"
        print(f"  {n.name:<21} {n.role:<7} {what:<28} {state}" + (f" ({n.problem})" if n.problem else ""))


def cluster_client(url: CacheUrl, timeout: float = 5.0) -> Any:
    """A valkey-py cluster client of ``url`` (for the commands: SCAN over every primary, each key to its node)."""
    kwargs: dict[str, Any] = {"username": url.username, "password": url.password, **cluster_kwargs(url)}
    startup = [ClusterNode(host, port) for host, port in url.nodes]  # type: ignore[no-untyped-call]
    return ValkeyCluster(startup_nodes=startup, socket_timeout=timeout, socket_connect_timeout=timeout, **kwargs)
