"""The local cluster and sentinel the tests run on: real valkey-server processes, formed, failed and stopped."""

from __future__ import annotations

import valkey
from valkey.cluster import ValkeyCluster

from flughafen.local_cluster import LocalCluster, LocalSentinel


def test_a_cluster_forms_serves_every_slot_and_stops() -> None:
    cluster = LocalCluster(primaries=3).start()
    try:
        assert cluster.url.startswith("valkey+cluster://") and cluster.url.count(",") == 2
        client = ValkeyCluster(host=cluster.host, port=cluster.ports[0])
        try:
            for i in range(50):  # keys all over the slot space
                client.set(f"k{i}", i)
            assert [int(client.get(f"k{i}")) for i in range(50)] == list(range(50))
            owners = {client.get_node_from_key(f"k{i}").port for i in range(50)}
            assert owners == set(cluster.ports)
        finally:
            client.close()
        info = cluster.client(cluster.ports[1]).execute_command("CLUSTER", "INFO")
        assert b"cluster_state:ok" in info and b"cluster_slots_assigned:16384" in info
    finally:
        cluster.stop()
    assert all(p.poll() is not None for p in cluster.processes.values())
    try:
        valkey.Valkey(host=cluster.host, port=cluster.ports[0], socket_connect_timeout=0.5).ping()
        raise AssertionError("a node still answers after stop()")
    except valkey.ConnectionError:
        pass


def test_the_session_cluster_has_a_replica_per_primary(valkey_cluster: LocalCluster) -> None:
    nodes = valkey_cluster.client(valkey_cluster.ports[0]).execute_command("CLUSTER", "NODES").decode()
    assert nodes.count("master") == 3 and nodes.count("slave") == 3


def test_a_local_sentinel_promotes_the_replica_when_the_primary_is_killed() -> None:
    with LocalSentinel() as sentinel:
        first = sentinel.ports["primary"]
        assert sentinel.primary_port() == first
        new = sentinel.kill_primary()
        assert new == sentinel.ports["replica"]
        assert sentinel.client(new).set("after", "kill")  # a primary: it takes writes
        assert sentinel.by_port[first].poll() is not None
    assert sentinel.by_port[new].poll() is not None  # stop() ended the rest
