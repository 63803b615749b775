"""Faults on a real Valkey Cluster: a primary killed while readers run (sync and async), a slot moving (async)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from flughafen.keys import bucket_of
from flughafen.local_cluster import LocalCluster
from generated import airport_by_iata
from generated.aio import airport_by_iata as aio_airport_by_iata
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


def test_async_reads_keep_answering_from_the_database_while_a_killed_primary_s_slots_move(cluster: LocalCluster, db_url: str) -> None:
    async def scenario() -> None:
        async with AsyncRuntime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
            expected = {code: await aio_airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
            assert any(expected.values())
            victim = _owner(cluster, airport_by_iata.key(iata="JFK", runtime=rt))
            stop = asyncio.Event()
            wrong: list[str] = []
            failures: list[BaseException] = []

            async def reader() -> None:
                while not stop.is_set():
                    for code, answer in expected.items():
                        try:
                            got = await aio_airport_by_iata.fetch(iata=code, runtime=rt)
                        except BaseException as e:  # noqa: BLE001 - every failure is the test's to report
                            failures.append(e)
                            return
                        if got != answer:
                            wrong.append(code)
                    await asyncio.sleep(0)

            readers = [asyncio.create_task(reader()) for _ in range(3)]
            await asyncio.sleep(0.3)
            errors_before = rt.cache.errors
            cluster.kill(victim)  # mid-load: its replica takes over after the node timeout (2 s)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not await asyncio.to_thread(_served_again, cluster, victim):
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # the readers run on while the runtime finds the new primary
            stop.set()
            await asyncio.gather(*readers)
            assert failures == [], failures[:1]
            assert wrong == []  # every read answered right: from the database while the slots moved
            assert rt.cache.errors > errors_before  # the runtime saw the node go
            counters = rt.metrics.of("airport_by_iata")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                before = counters.hits
                assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected["JFK"]
                if counters.hits > before:
                    break
                await asyncio.sleep(0.05)
            assert counters.hits > before, "no hits on the killed primary's slots after the failover"

    asyncio.run(scenario())


def test_async_reads_follow_a_slot_moving_to_another_primary_ask_then_moved(cluster: LocalCluster, db_url: str) -> None:
    async def scenario() -> None:
        async with AsyncRuntime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
            expected = await aio_airport_by_iata.fetch(iata="JFK", runtime=rt)
            await rt.cache.settle()
            key = airport_by_iata.key(iata="JFK", runtime=rt)
            slot = key_slot(bucket_of(key)[1:-1].encode())
            source = _owner(cluster, key)
            target = next(p for p in cluster.ports[: cluster.primaries] if p != source)
            src, dst = cluster.client(source), cluster.client(target)
            src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            assert key.encode() in keys
            src.execute_command("MIGRATE", cluster.host, target, "", 0, 5000, "KEYS", *keys)
            assert src.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
            assert await rt.cache.call("EXISTS", key) == 1  # ASK from the source: sent to the target, right behind ASKING
            # A read's script also reads keys that do not exist (the lock): the target answers TRYAGAIN while
            # the slot is moving, and the read answers from the database.
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected
            await asyncio.sleep(0.3)  # past the cache's first backoff
            counters = rt.metrics.of("airport_by_iata")
            hits, errors = counters.hits, counters.cache_errors
            for port in cluster.ports[: cluster.primaries]:
                cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected  # MOVED: the slot map read again
            assert counters.hits == hits + 1
            assert rt.cache._owners[slot] == f"{cluster.host}:{target}"
            assert counters.cache_errors == errors

    asyncio.run(scenario())
