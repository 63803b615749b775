"""Faults on a real Valkey Cluster: a primary killed while readers run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot

from flughafen import Runtime
from flughafen.keys import bucket_of
from flughafen.local_cluster import LocalCluster
from generated import airport_by_iata
from tests.integration.readers import Readers

CODES = ["JFK", "LAX", "SFO", "ORD", "ATL", "DFW", "SEA", "BOS", "FRA", "CDG", "LHR", "MUC"]


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own (3 primaries, a replica each): this test kills one of its nodes."""
    with LocalCluster(primaries=3, replicas=1) as own:
        yield own


def _owner(cluster: LocalCluster, key: str) -> int:
    client = ValkeyCluster(host=cluster.host, port=cluster.ports[0])
    try:
        return int(client.nodes_manager.get_node_from_slot(key_slot(bucket_of(key)[1:-1].encode())).port)
    finally:
        client.close()


def test_reads_keep_answering_from_the_database_while_a_killed_primary_s_slots_move(cluster: LocalCluster, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
        expected = {code: airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
        assert any(expected.values())
        victim = _owner(cluster, airport_by_iata.key(iata="JFK", runtime=rt))
        readers = Readers(lambda code: airport_by_iata.fetch(iata=code, runtime=rt), expected, 3)
        time.sleep(0.3)
        errors_before = rt.cache.errors
        cluster.kill(victim)  # mid-load: its replica takes over after the node timeout (2 s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _served_again(cluster, victim):
            time.sleep(0.2)
        time.sleep(0.5)  # the readers run on while the runtime finds the new primary
        readers.stop()
        assert readers.failures == [], readers.failures[:1]
        assert readers.wrong == []  # every read answered right: from the database while the slots moved
        assert rt.cache.errors > errors_before  # the runtime saw the node go
        assert _served_again(cluster, victim), "the replica never took over"
        assert _hits_resume(rt, "JFK", within=10), "no hits on the killed primary's slots after the failover"
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == expected["JFK"]


def _hits_resume(rt: Runtime, code: str, within: float) -> bool:
    counters = rt.metrics.of("airport_by_iata")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = counters.hits
        airport_by_iata.fetch(iata=code, runtime=rt)
        if counters.hits > before:
            return True
        time.sleep(0.05)
    return False


def _served_again(cluster: LocalCluster, dead: int) -> bool:
    """Whether a live node reports every slot served again (the replica of ``dead`` promoted)."""
    alive = next(p for p in cluster.ports if p != dead)
    return b"cluster_state:ok" in cluster.client(alive).execute_command("CLUSTER", "INFO")
