"""What a Valkey Cluster changes, on one server and on the local cluster alike: batches and
invalidations spread over every bucket, and what a runtime refuses or turns off there."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot

from flughafen import ConfigError, Runtime
from flughafen.aio import AsyncRuntime
from flughafen.config import load_config
from flughafen.keys import bucket_of, buckets
from flughafen.local_cluster import LocalCluster
from generated import flight_search
from generated.aio import flight_search as aio_flight_search
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime.date(2024, 12, 15)
DAYS = [DAY + datetime.timedelta(days=n) for n in range(40)]  # forty entries over the buckets


def test_a_batch_and_warming_span_every_bucket_and_answer_as_the_database(runtime: Runtime, form: Form) -> None:
    batch = [("JFK", "LAX", day) for day in DAYS]
    assert len({bucket_of(flight_search.QUERY.key(args, runtime)) for args in batch}) > 8
    expected = [flight_search.QUERY.query_database(args, runtime) for args in batch]
    assert form.query(flight_search.QUERY).warm_batch(batch, runtime) == len(batch)
    counters = runtime.metrics.of("flight_search")
    hits = counters.hits
    assert form(flight_search).fetch_batch(batch, runtime=runtime) == expected
    assert counters.hits == hits + len(batch)  # every entry read back, from every bucket (and node)


def test_a_tag_and_invalidate_all_reach_every_bucket(runtime: Runtime, form: Form) -> None:
    fs = form(flight_search)
    for day in DAYS:
        fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime)
    form.settle()
    assert form.invalidate_tag("route:JFK:LAX", runtime) == len(DAYS)
    assert not any(runtime.cache.client.exists(flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime)) for day in DAYS)
    for day in DAYS:
        fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime)
    misses = runtime.metrics.of("flight_search").misses
    fs.invalidate_all(runtime=runtime)
    for day in DAYS:
        fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime)
    assert runtime.metrics.of("flight_search").misses == misses + len(DAYS)


def test_a_stampede_of_coroutines_on_a_cold_entry_queries_the_database_once(runtime: Runtime, form: Form) -> None:
    counters = runtime.metrics.of("flight_search")
    queries = counters.db_queries
    fs = form(flight_search)
    answers = form.gather([lambda: fs.fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)] * (200 if form.is_async else 20))
    assert len({repr(a) for a in answers}) == 1
    assert counters.db_queries == queries + 1


def test_the_asyncio_runtime_on_a_cluster_keeps_a_connection_per_node(db_url: str, valkey_cluster: LocalCluster) -> None:
    async def read_all() -> tuple[bool, set[int], list[object]]:
        async with AsyncRuntime(load_config(db_url, valkey_cluster.url, ROOT)) as rt:
            rows = [await aio_flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt) for day in DAYS]
            ports = {int(name.rsplit(":", 1)[1]) for name in rt.cache._nodes}
            return rt.cache.near_enabled, ports, rows

    near, ports, rows = asyncio.run(read_all())
    assert near
    client = ValkeyCluster(host=valkey_cluster.host, port=valkey_cluster.ports[0])
    try:
        primaries = {int(node.port) for node in client.get_primaries()}
    finally:
        client.close()
    assert ports == primaries  # forty buckets' entries: every primary asked, on its own connection
    assert any(rows)


def test_every_bucket_s_keys_are_in_one_slot_served_by_a_primary(valkey_cluster: LocalCluster) -> None:
    client = ValkeyCluster(host=valkey_cluster.host, port=valkey_cluster.ports[0])
    try:
        owners = {client.nodes_manager.get_node_from_slot(key_slot(b[1:-1].encode())).name for b in buckets()}
    finally:
        client.close()
    assert len(owners) == 3  # the default bucket count spreads over all three primaries


def test_one_process_uses_one_bucket_count(db_url: str) -> None:
    with pytest.raises(ConfigError, match=f"cache_buckets is 8, but this process already uses {len(buckets())}"):
        Runtime(dataclasses.replace(load_config(db_url, "off", ROOT), cache_buckets=8))


def test_the_bucket_count_is_part_of_every_key_and_a_bad_one_is_refused() -> None:
    script = "from generated import airport_by_iata; print(airport_by_iata.key(iata='JFK', runtime=rt))"
    env = {**os.environ, "FLUGHAFEN_CACHE_BUCKETS": "4", "FLUGHAFEN_CACHE_URL": "off"}
    four = subprocess.run(
        [sys.executable, "-c", "from flughafen import Runtime; rt = Runtime.from_config(); " + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ":{4." in four.stdout and ":{16." not in four.stdout  # this process's keys are in {16.<n>}
    env["FLUGHAFEN_CACHE_BUCKETS"] = "0"
    bad = subprocess.run(
        [sys.executable, "-c", "from flughafen import Runtime; Runtime.from_config()"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "cache_buckets is '0'; it must be a whole number from 1 to 16384" in bad.stderr


def _waits(cluster: LocalCluster) -> dict[int, int]:
    """WAIT commands each primary has served."""
    counts = {}
    for port in cluster.ports[: cluster.primaries]:
        client = cluster.client(port)
        try:
            counts[port] = int(client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        finally:
            client.close()
    return counts


@pytest.mark.parametrize("dialect", ["sqlite"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_invalidation_on_a_cluster_with_replicas_waits_for_each_primarys_replica(valkey_cluster: LocalCluster, db_url: str, kind: str) -> None:
    """cache_wait_replicas defaults to "all" on a cluster: a tag reaches every bucket, so every primary gets a WAIT for its replica."""
    day = datetime.date(2024, 12, 15)
    before = _waits(valkey_cluster)
    if kind == "sync":
        with Runtime.from_config(database_url=db_url, cache_url=valkey_cluster.url, project_dir=Path.cwd()) as rt:
            assert rt.cache.wait_replicas == -1
            flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt)
            rt.cache.settle()
            rt.cache.invalidate_tags(["route:JFK:LAX"])
    else:

        async def run() -> None:
            async with AsyncRuntime.from_config(database_url=db_url, cache_url=valkey_cluster.url, project_dir=Path.cwd()) as rt:
                await aio_flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt)
                await rt.cache.settle()
                await rt.cache.invalidate_tags(["route:JFK:LAX"])

        asyncio.run(run())
    after = _waits(valkey_cluster)
    assert all(after[port] > before[port] for port in before), (before, after)
