"""A Valkey Cluster and a primary behind Sentinel with an ACL user (the default user off): the runtime reads,
fills, hits, invalidates, queues write-behind writes, keeps near copies and reads hits from replicas as that
user; a wrong password fails reads open to the database and never reaches a log line or an error."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from valkey.cluster import ValkeyCluster

from flughafen import Runtime, invalidate_tag
from flughafen.aio import AsyncRuntime
from flughafen.aio import invalidate_tag as aio_invalidate_tag
from flughafen.config import load_config
from flughafen.local_cluster import LocalCluster, LocalSentinel
from flughafen.worker import run_worker
from generated import airport_by_iata, flight_search, flight_status, passenger_last_flights, reprice_booking
from generated.aio import airport_by_iata as aio_airport_by_iata
from generated.aio import flight_search as aio_flight_search
from generated.aio import flight_status as aio_flight_status
from tests.integration.forms import Form
from tests.integration.test_near_cache import local_keys, until
from tests.integration.test_near_cluster import near_hit

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Cluster-Pa55"
DAY = datetime.date(2024, 12, 15)
DAYS = [DAY + datetime.timedelta(days=n) for n in range(20)]  # entries over many buckets, so every primary


@pytest.fixture(scope="module")
def acl_cluster() -> Iterator[LocalCluster]:
    """Three primaries with a replica each; every node knows only the user ``app``."""
    with LocalCluster(primaries=3, replicas=1, users={"app": SECRET}) as cluster:
        yield cluster


def _admin(cluster: LocalCluster) -> ValkeyCluster:
    return ValkeyCluster(host=cluster.host, port=cluster.ports[0], username="app", password=SECRET)


@pytest.fixture
def runtime(db_url: str, acl_cluster: LocalCluster) -> Iterator[Runtime]:
    """The runtime (and, through ``form``, its async twin) on the ACL cluster, emptied first."""
    admin = _admin(acl_cluster)
    try:
        admin.flushall(target_nodes=ValkeyCluster.PRIMARIES)
    finally:
        admin.close()
    assert acl_cluster.url.startswith(f"valkey+cluster://app:{SECRET}@")
    with Runtime.from_config(database_url=db_url, cache_url=acl_cluster.url, project_dir=ROOT) as rt:
        yield rt


def test_an_acl_user_reads_fills_hits_and_invalidates_on_every_node(form: Form, runtime: Runtime, acl_cluster: LocalCluster) -> None:
    fs = form(flight_search)
    expected = [fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS]
    form.settle()
    counters = runtime.metrics.of("flight_search")
    hits = counters.hits
    assert [fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS] == expected
    assert (counters.hits, counters.cache_errors) == (hits + len(DAYS), 0)
    keys = [flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS]
    admin = _admin(acl_cluster)
    try:
        assert sum(admin.exists(key) for key in keys) == len(DAYS)
        assert form.invalidate_tag("route:JFK:LAX", runtime) == len(DAYS)
        assert sum(admin.exists(key) for key in keys) == 0
    finally:
        admin.close()


def near_copies_follow_every_node(form: Form, runtime: Runtime, other: Runtime, admin: ValkeyCluster) -> None:
    """On each primary a key whose copy the near cache keeps, then drops when ``other`` invalidates it (the
    node's invalidation message, on the near cache's own connections: as the URL's user, over its TLS)."""
    per_node: dict[str, dict[str, Any]] = {}
    for n in range(200):
        args = {"origin": "JFK", "destination": "LAX", "day": DAY + datetime.timedelta(days=n)}
        key = flight_search.key(**args, runtime=runtime)  # type: ignore[arg-type]
        per_node.setdefault(admin.nodes_manager.get_node_from_slot(admin.keyslot(key)).name, args)
    assert len(per_node) == 3
    for node, args in sorted(per_node.items()):
        key = flight_search.key(**args, runtime=runtime)  # type: ignore[arg-type]
        assert near_hit(form, form.of(runtime), args), f"no local hit on a key of {node}"
        flight_search.invalidate(**args, runtime=other)  # type: ignore[arg-type]
        assert until(lambda key=key: key not in local_keys(runtime, form=form)), f"a change on {node} left the local copy"


def test_an_acl_user_s_near_cache_hears_every_node(form: Form, runtime: Runtime, db_url: str, acl_cluster: LocalCluster) -> None:
    admin = _admin(acl_cluster)
    try:
        with Runtime.from_config(database_url=db_url, cache_url=acl_cluster.url, project_dir=ROOT) as other:
            near_copies_follow_every_node(form, runtime, other, admin)
    finally:
        admin.close()


def replica_hits(read: Callable[[], object], expected: object, counters: Any) -> None:
    """Reads until one is served by a replica (the fill reaches it, the runtime learns it keeps up); every read right."""
    deadline = time.monotonic() + 60
    while counters.replica_hits == 0:
        assert time.monotonic() < deadline, "gave up waiting for a hit served by a replica"
        assert read() == expected
        time.sleep(0.05)


def test_an_acl_user_s_hits_come_from_replicas_too(form: Form, runtime: Runtime) -> None:
    expected = flight_status.QUERY.query_database((1001,), runtime)

    def read() -> object:
        row = form(flight_status).fetch(flight_id=1001, runtime=runtime)
        form.settle()
        return row

    replica_hits(read, expected, runtime.metrics.of("flight_status"))


def test_an_acl_user_s_write_behind_is_applied_by_the_worker(form: Form, runtime: Runtime) -> None:
    history = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)
    target, price = history[0], Decimal("2.34")
    old = target.price
    assert form(reprice_booking).execute(booking_id=target.booking_id, price=price, runtime=runtime) == 0  # queued
    assert run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50).applied == 1
    fresh = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)
    assert [h.price for h in fresh if h.booking_id == target.booking_id] == [price]
    form(reprice_booking).execute(booking_id=target.booking_id, price=old, runtime=runtime)
    assert run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50).applied == 1


def _wrong(url: str) -> str:
    return url.replace(f"app:{SECRET}@", f"app:wrong-{SECRET}@")


def test_a_wrong_password_on_a_cluster_fails_open_and_never_shows_the_password(
    db_url: str, acl_cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    url = _wrong(acl_cluster.url)
    caplog.set_level(logging.DEBUG, logger="flughafen")
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None  # answered by the database
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None
        assert rt.metrics.of("airport_by_iata").hits == 0
        assert rt.metrics.of("airport_by_iata").cache_errors >= 1
        assert SECRET not in repr(rt)
        with pytest.raises(Exception) as raised:  # an invalidation cannot fail open: the caller is told
            invalidate_tag("route:JFK:LAX", rt)
        assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)

    async def read() -> tuple[int, int, BaseException]:
        async with AsyncRuntime(load_config(db_url, url, ROOT)) as art:
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=art) is not None
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=art) is not None
            c = art.metrics.of("airport_by_iata")
            try:
                await aio_invalidate_tag("route:JFK:LAX", art)
            except Exception as e:  # noqa: BLE001 - looked at below
                return c.hits, c.cache_errors, e
            raise AssertionError("an invalidation with a wrong password succeeded")

    hits, errors, error = asyncio.run(read())
    assert hits == 0 and errors >= 1
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert caplog.records, "the outage is logged"
    assert SECRET not in caplog.text  # messages and tracebacks alike
    assert any("app:***@" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def acl_sentinel() -> Iterator[LocalSentinel]:
    """A primary and a replica that know only the user ``app``, and a sentinel watching them as ``app``."""
    with LocalSentinel(users={"app": SECRET}) as own:
        yield own


def test_an_acl_user_behind_sentinel_reads_fills_invalidates_and_hits_the_replica(db_url: str, acl_sentinel: LocalSentinel) -> None:
    assert acl_sentinel.url.startswith(f"valkey+sentinel://app:{SECRET}@")
    with Runtime.from_config(database_url=db_url, cache_url=acl_sentinel.url, project_dir=ROOT) as rt:
        flight_search.invalidate_all(runtime=rt)
        rows = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt) == rows
        c = rt.metrics.of("flight_search")
        assert (c.hits, c.cache_errors) == (1, 0)
        rt.cache.settle()
        key = flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        primary = acl_sentinel.client(acl_sentinel.primary_port())
        try:
            assert primary.exists(key) == 1
            assert invalidate_tag("route:JFK:LAX", rt) == 1
            assert primary.exists(key) == 0
        finally:
            primary.close()
        assert SECRET not in repr(rt)

        def read() -> object:
            row = flight_status.fetch(flight_id=1001, runtime=rt)
            rt.cache.settle()
            return row

        replica_hits(read, flight_status.QUERY.query_database((1001,), rt), rt.metrics.of("flight_status"))


def test_an_acl_user_behind_sentinel_reads_fills_invalidates_and_hits_the_replica_from_asyncio(db_url: str, acl_sentinel: LocalSentinel) -> None:
    async def run() -> None:
        async with AsyncRuntime(load_config(db_url, acl_sentinel.url, ROOT)) as art:
            await aio_flight_search.invalidate_all(runtime=art)
            rows = await aio_flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
            assert await aio_flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art) == rows
            c = art.metrics.of("flight_search")
            assert (c.hits, c.cache_errors) == (1, 0)
            await art.cache.settle()
            key = flight_search.QUERY.aio_key(("JFK", "LAX", DAY), art)
            primary = acl_sentinel.client(acl_sentinel.primary_port())
            try:
                assert primary.exists(key) == 1
                assert await aio_invalidate_tag("route:JFK:LAX", art) == 1
                assert primary.exists(key) == 0
            finally:
                primary.close()
            expected = await flight_status.QUERY.query_database_async((1001,), art)
            counters, deadline = art.metrics.of("flight_status"), time.monotonic() + 60
            while counters.replica_hits == 0:  # the fill reaches the replica, the runtime learns it keeps up
                assert time.monotonic() < deadline, "gave up waiting for a hit served by the replica"
                assert await aio_flight_status.fetch(flight_id=1001, runtime=art) == expected
                await art.cache.settle()
                await asyncio.sleep(0.05)

    asyncio.run(run())


def test_a_wrong_password_behind_sentinel_fails_open_and_never_shows_the_password(
    db_url: str, acl_sentinel: LocalSentinel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flughafen")
    with Runtime.from_config(database_url=db_url, cache_url=_wrong(acl_sentinel.url), project_dir=ROOT) as rt:
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None
        assert rt.metrics.of("airport_by_iata").cache_errors >= 1

    async def read() -> int:
        async with AsyncRuntime(load_config(db_url, _wrong(acl_sentinel.url), ROOT)) as art:
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=art) is not None
            return art.metrics.of("airport_by_iata").cache_errors

    assert asyncio.run(read()) >= 1
    assert caplog.records and SECRET not in caplog.text
