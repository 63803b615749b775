"""``cache: replica_reads`` on real servers: hits from a replica that keeps up, everything else from the primary.

On a local Valkey Cluster with a replica per primary and behind a local Sentinel: a hit
of ``flight_status`` (replica_reads: 2s) is served by the replica (its MGET count grows,
the primary's does not), its entry lives at most 2 s, a replica whose link to its
primary is down is not used (nor one that does not answer, and no read fails), and after
a write's invalidation has reached the replica, its hits give the new value. On one
server the setting does nothing but say so.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.local_cluster import LocalCluster, LocalSentinel
from generated import flight_status, reschedule_flight

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = 1001
WAIT_S = 60.0  # generous: a busy machine may take long to replicate


@pytest.fixture
def dialect() -> str:
    return "sqlite"  # what is tested is where hits are read from: one database is enough


@dataclass
class Pair:
    """The primary serving the flight's entry and its replica, as clients of their own."""

    primary: Any
    replica: Any
    replica_process: Any


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(primaries=2, replicas=1) as own:
        yield own


@pytest.fixture(scope="module")
def sentinel() -> Iterator[LocalSentinel]:
    with LocalSentinel() as own:
        yield own


@pytest.fixture(params=["cluster", "sentinel"])
def setup(request: pytest.FixtureRequest, db_url: str) -> Iterator[tuple[Runtime, Pair]]:
    """A runtime on the cluster or behind the sentinel, and the primary and replica of the flight's entry."""
    if request.param == "cluster":
        local: Any = request.getfixturevalue("cluster")
    else:
        local = request.getfixturevalue("sentinel")
    with Runtime.from_config(database_url=db_url, cache_url=local.url, project_dir=ROOT) as rt:
        key = flight_status.key(flight_id=FLIGHT, runtime=rt)
        if request.param == "cluster":
            primary_port = int(rt.cache._node_of(key).rsplit(":", 1)[1])  # the node serving the key's slot
            ports = local.ports
        else:
            primary_port, ports = local.primary_port(), list(local.ports.values())
        primary = local.client(primary_port)
        replica_port = next(p for p in ports if p != primary_port and local.client(p).info("replication").get("master_port") == primary_port)
        processes = local.processes if request.param == "cluster" else dict(zip(ports, local.processes, strict=True))
        pair = Pair(primary, local.client(replica_port), processes[replica_port])
        for node in (pair.primary, pair.replica):
            node.config_resetstat()
        yield rt, pair
        pair.replica.config_set("masteruser", "")
        pair.replica.config_set("masterauth", "")
        until(lambda: linked(pair), "the replica to be linked again")
        flight_status.invalidate(flight_id=FLIGHT, runtime=rt)


def until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def linked(pair: Pair) -> bool:
    info = pair.replica.info("replication")
    return bool(info.get("master_link_status") == "up")


def mgets(node: Any) -> int:
    return int(node.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))


def fetch(rt: Runtime) -> Any:
    row = flight_status.fetch(flight_id=FLIGHT, runtime=rt)
    rt.cache.settle()
    return row


def replica_hit(rt: Runtime) -> bool:
    """Reads until one is served by a replica (the fill reaches it, the runtime learns it keeps up)."""
    counters = rt.metrics.of("flight_status")
    before = counters.replica_hits
    fetch(rt)
    return counters.replica_hits > before


def test_a_hit_is_served_by_the_replica_and_the_entry_lives_at_most_the_bound(setup: tuple[Runtime, Pair]) -> None:
    rt, pair = setup
    counters = rt.metrics.of("flight_status")
    expected = flight_status.QUERY.query_database((FLIGHT,), rt)
    until(lambda: replica_hit(rt), "a hit served by the replica")
    assert 0 < pair.primary.pttl(flight_status.key(flight_id=FLIGHT, runtime=rt)) <= 2000  # the ttl (1m) capped at the bound
    on_replica, on_primary, served = mgets(pair.replica), mgets(pair.primary), counters.replica_hits
    reads = 20
    rows = [fetch(rt) for _ in range(reads)]
    assert rows == [expected] * reads
    by_replica = counters.replica_hits - served
    assert by_replica > 0
    assert mgets(pair.replica) - on_replica == by_replica  # each replica hit was an MGET on the replica
    assert mgets(pair.primary) - on_primary <= reads - by_replica  # and none of them one on the primary


def test_a_replica_whose_link_is_down_is_not_used(setup: tuple[Runtime, Pair]) -> None:
    rt, pair = setup
    counters = rt.metrics.of("flight_status")
    until(lambda: replica_hit(rt), "a hit served by the replica")
    # The replica now logs in to its primary as a user that does not exist: its link goes down and stays down.
    pair.replica.config_set("masteruser", "nobody-here")
    pair.replica.config_set("masterauth", "wrong")
    pair.replica.execute_command("CLIENT", "KILL", "TYPE", "master")
    until(lambda: not linked(pair), "the replica's link to go down")
    until(lambda: not replica_hit(rt) and not replica_hit(rt), "the runtime to see that the primary no longer lists the replica")
    on_replica, served = mgets(pair.replica), counters.replica_hits
    expected = flight_status.QUERY.query_database((FLIGHT,), rt)
    assert [fetch(rt) for _ in range(30)] == [expected] * 30
    assert counters.replica_hits == served and mgets(pair.replica) == on_replica
    pair.replica.config_set("masteruser", "")
    pair.replica.config_set("masterauth", "")
    until(lambda: linked(pair), "the replica to be linked again")
    until(lambda: replica_hit(rt), "a hit served by the replica again")


def test_a_replica_that_does_not_answer_costs_a_timeout_not_an_error(setup: tuple[Runtime, Pair]) -> None:
    rt, pair = setup
    counters = rt.metrics.of("flight_status")
    until(lambda: replica_hit(rt), "a hit served by the replica")
    expected = flight_status.QUERY.query_database((FLIGHT,), rt)
    errors, served = counters.cache_errors, counters.replica_hits
    pair.replica_process.send_signal(signal.SIGSTOP)  # it accepts nothing and answers nothing
    try:
        assert [fetch(rt) for _ in range(10)] == [expected] * 10  # the first waits for the replica's timeout, then the primary answers
    finally:
        pair.replica_process.send_signal(signal.SIGCONT)
    assert counters.replica_hits == served and counters.cache_errors == errors and not rt.cache.down


def test_after_an_invalidation_reaches_the_replica_its_hits_give_the_new_value(setup: tuple[Runtime, Pair]) -> None:
    rt, pair = setup
    until(lambda: replica_hit(rt), "a hit served by the replica")
    old = fetch(rt)
    moved = datetime.timedelta(minutes=old.arrival.minute % 7 + 1)
    reschedule_flight.execute(flight_id=FLIGHT, departure=old.departure + moved, arrival=old.arrival + moved, runtime=rt)  # invalidates status:1001
    written = int(pair.primary.info("replication")["master_repl_offset"])
    until(lambda: int(pair.replica.info("replication")["master_repl_offset"]) >= written, "the invalidation to reach the replica")
    new = flight_status.QUERY.query_database((FLIGHT,), rt)
    assert new != old
    counters = rt.metrics.of("flight_status")
    served = counters.replica_hits
    rows: list[Any] = []
    until(lambda: rows.append(fetch(rt)) is None and counters.replica_hits > served, "a hit served by the replica")
    assert rows == [new] * len(rows)
    reschedule_flight.execute(flight_id=FLIGHT, departure=old.departure, arrival=old.arrival, runtime=rt)


def test_on_one_server_the_setting_does_nothing_and_says_so(db_url: str, valkey_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="flughafen"), Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=ROOT) as rt:
        rows = [fetch(rt) for _ in range(3)]
        assert rows == [flight_status.QUERY.query_database((FLIGHT,), rt)] * 3
        counters = rt.metrics.of("flight_status")
        assert counters.hits == 2 and counters.replica_hits == 0
    assert caplog.text.count("no replicas: hits of queries with replica_reads are read from it") == 1


def test_the_cap_applies_to_empty_results_too(db_url: str, valkey_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=ROOT) as rt:
        assert flight_status.fetch(flight_id=99_999_999, runtime=rt) is None
        rt.cache.settle()
        assert 0 < rt.cache.client.pttl(flight_status.key(flight_id=99_999_999, runtime=rt)) <= 2000


@pytest.mark.parametrize("where", ["cluster", "sentinel"])
def test_the_asyncio_runtime_reads_hits_from_the_replica_too(where: str, request: pytest.FixtureRequest, db_url: str) -> None:
    from flughafen.aio import AsyncRuntime
    from generated.aio import flight_status as aio_flight_status

    async def run() -> None:
        local: Any = request.getfixturevalue(where)
        async with AsyncRuntime.from_config(database_url=db_url, cache_url=local.url, project_dir=ROOT) as rt:
            expected = await flight_status.QUERY.query_database_async((FLIGHT,), rt)
            counters = rt.metrics.of("flight_status")
            deadline = time.monotonic() + WAIT_S
            while counters.replica_hits == 0:
                assert time.monotonic() < deadline, "gave up waiting for a hit served by the replica"
                assert await aio_flight_status.fetch(flight_id=FLIGHT, runtime=rt) == expected
                await rt.cache.settle()
                await asyncio.sleep(0.05)
            await rt.cache.settle()
            if where == "cluster":
                primary_port, ports = int(rt.cache._owner(flight_status.QUERY.aio_key((FLIGHT,), rt)).rsplit(":", 1)[1]), local.ports
            else:
                primary_port, ports = local.primary_port(), list(local.ports.values())
            primary = local.client(primary_port)
            replica = next(local.client(p) for p in ports if p != primary_port and local.client(p).info("replication").get("master_port") == primary_port)
            assert 0 < primary.pttl(flight_status.QUERY.aio_key((FLIGHT,), rt)) <= 2000
            on_replica, served = mgets(replica), counters.replica_hits
            rows = [await aio_flight_status.fetch(flight_id=FLIGHT, runtime=rt) for _ in range(20)]
            assert rows == [expected] * 20
            assert counters.replica_hits > served
            assert mgets(replica) - on_replica == counters.replica_hits - served

    asyncio.run(run())
