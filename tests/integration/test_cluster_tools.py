"""`flughafen-gen stats` and `flughafen-gen cache status` on a Valkey Cluster, run as a user runs them: the
cluster's nodes, and the write-behind queues whichever node holds their streams."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from flughafen import Runtime
from flughafen.local_cluster import LocalCluster
from flughafen.write import GROUP
from generated import reprice_booking

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).with_name("flughafen-gen"))
SLOTS = 16384


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def node_lines(out: str) -> list[list[str]]:
    """The node lines under "cluster nodes": [name, role, ...]."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("cluster nodes ("))
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        rows.append(line.split())
    return rows


@pytest.fixture
def queued(valkey_cluster: LocalCluster, db_url: str) -> Iterator[Runtime]:
    """Two writes queued on the cluster, one of them given to a worker and not acknowledged; the stream removed after."""
    with Runtime.from_config(database_url=db_url, cache_url=valkey_cluster.url, project_dir=ROOT) as rt:
        stream = rt.keyspace.stream_key(reprice_booking.WRITE.name)
        client = rt.cache.client
        client.delete(stream)
        reprice_booking.WRITE.execute((1, Decimal("10.00")), rt)
        reprice_booking.WRITE.execute((2, Decimal("20.00")), rt)
        try:
            client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except Exception as e:  # noqa: BLE001 - the group may be there already
            assert "BUSYGROUP" in str(e), e
        assert client.xreadgroup(GROUP, "a-worker-that-died", {stream: ">"}, count=1)
        try:
            yield rt
        finally:
            client.delete(stream)


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_stats_lists_the_nodes_and_the_queue_on_a_cluster(queued: Runtime, valkey_cluster: LocalCluster) -> None:
    done = run("stats", "--database", queued.config.database_url.raw, "--cache", valkey_cluster.url)
    assert done.returncode == 0, done.stderr
    assert "every slot served" in done.stdout
    nodes = node_lines(done.stdout)
    primaries = [n for n in nodes if n[1] == "primary"]
    assert len(primaries) == 3 and len(nodes) == 6
    assert sum(int(n[2]) for n in primaries) == SLOTS
    assert all(n[-1] == "reachable" for n in nodes)
    assert {n[3] for n in nodes if n[1] == "replica"} == {n[0] for n in primaries}  # "of <primary>"
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("reprice_booking"))
    assert line.split() == ["reprice_booking", "2", "queued", "1", "pending", "0", "dead", "letters", "(0", "kept)"]


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_cache_status_lists_the_nodes_and_the_queued_writes_of_a_cluster(queued: Runtime, valkey_cluster: LocalCluster) -> None:
    done = run("cache", "status", "--cache", valkey_cluster.url)
    assert done.returncode == 0, done.stderr
    assert len(node_lines(done.stdout)) == 6
    assert "write-behind queues: 2 queued write(s)" in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith(f"{queued.keyspace.namespace}/reprice_booking"))
    assert line.split()[1:5] == ["2", "queued", "1", "pending"]


def test_cache_status_fails_while_a_primary_does_not_answer() -> None:
    with LocalCluster(primaries=3, replicas=0) as cluster:
        down = cluster.ports[1]
        cluster.kill(down)
        done = run("cache", "status", "--cache", cluster.url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{SLOTS // 3} of {SLOTS} slots not served by a reachable primary" in done.stdout
    row = next(n for n in node_lines(done.stdout) if n[0] == f"{cluster.host}:{down}")
    assert row[1] == "primary" and "unreachable" in row
