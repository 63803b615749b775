"""The near cache (``cache: near:``) on a real Valkey, one server and the local cluster: local hits, and every
way a local copy is dropped."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import valkey
from valkey.cluster import ValkeyCluster

from flughafen import Runtime, invalidate_tag
from flughafen.local_cluster import LocalCluster
from generated import airports_in_country, book_seat, cancel_booking, flight_search
from tests.integration.conftest import server_kwargs
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

DAY = datetime.date(2024, 12, 15)
ARGS = {"origin": "JFK", "destination": "LAX", "day": DAY}
WAIT = 3.0  # seconds: the bound on waits for the invalidation thread


def until(condition: Callable[[], bool], within: float = WAIT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return condition()


def local_keys(rt: Runtime, name: str = "flight_search", form: Any = None) -> set[str]:
    store = (rt.cache if form is None else form.cache(rt)).near.stores.get(name)
    return set(store.entries) if store is not None else set()


def warm(rt: Runtime, form: Any = None) -> list[flight_search.Row]:
    """Read until the search is served from the near cache (the prefix is tracked in the background)."""
    c = rt.metrics.of("flight_search")
    before = c.near_hits
    rows: list[flight_search.Row] = []

    def near_hit() -> bool:
        nonlocal rows
        rows = (flight_search if form is None else form(flight_search)).fetch(**ARGS, runtime=rt)
        return c.near_hits > before

    assert until(near_hit), "no near hit within the wait"
    return rows


@pytest.fixture
def nodes(cache_kind: str, request: pytest.FixtureRequest) -> Iterator[list[valkey.Valkey]]:
    """A client of each Valkey server of the test's cache: the one server, or every node of the cluster."""
    if cache_kind == "cluster":
        cluster: LocalCluster = request.getfixturevalue("valkey_cluster")
        each = [cluster.client(port) for port in cluster.ports]
    else:
        each = [valkey.Valkey(**server_kwargs(request.getfixturevalue("valkey_server")))]  # type: ignore[arg-type]
    yield each
    for one in each:
        one.close()


@pytest.fixture
def client(cache_kind: str, request: pytest.FixtureRequest, valkey_url: str) -> Iterator[Any]:
    """Another client of the test's cache (a cluster client on the cluster)."""
    if cache_kind == "cluster":
        cluster: LocalCluster = request.getfixturevalue("valkey_cluster")
        other: Any = ValkeyCluster(host=cluster.host, port=cluster.ports[0])
    else:
        other = valkey.Valkey(**server_kwargs(request.getfixturevalue("valkey_server")))  # type: ignore[arg-type]
    yield other
    other.close()


def primaries(nodes: list[valkey.Valkey]) -> list[valkey.Valkey]:
    return [node for node in nodes if node.execute_command("ROLE")[0] in (b"master", b"primary")]


def commands_served(nodes: list[valkey.Valkey]) -> int:
    total = 0
    for node in nodes:
        stats = node.info("commandstats")
        total += sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_ping", "cmdstat_role", "cmdstat_cluster|slots"))
    return total


def test_a_near_hit_does_not_touch_valkey(form: Form, runtime: Runtime, nodes: list[valkey.Valkey]) -> None:
    rows = warm(runtime, form)
    before = commands_served(nodes)
    for _ in range(100):
        assert form(flight_search).fetch(**ARGS, runtime=runtime) == rows  # type: ignore[arg-type]
    assert commands_served(nodes) == before
    assert runtime.metrics.of("flight_search").near_hits >= 101


def test_a_near_hit_is_a_copy_the_caller_may_change(form: Form, runtime: Runtime) -> None:
    rows = warm(runtime, form)
    rows.clear()
    assert len(form(flight_search).fetch(**ARGS, runtime=runtime)) == 2  # type: ignore[arg-type]


def test_another_clients_change_drops_the_local_copy(form: Form, runtime: Runtime, client: Any) -> None:
    warm(runtime, form)
    key = flight_search.key(**ARGS, runtime=runtime)  # type: ignore[arg-type]
    assert key in local_keys(runtime, form=form)
    client.delete(key)
    assert until(lambda: key not in local_keys(runtime, form=form))
    queries = runtime.metrics.of("flight_search").db_queries
    form(flight_search).fetch(**ARGS, runtime=runtime)  # type: ignore[arg-type]
    assert runtime.metrics.of("flight_search").db_queries == queries + 1


def test_another_runtimes_invalidations_drop_local_copies(form: Form, runtime: Runtime, db_url: str, valkey_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd()) as other:
        for invalidate in (
            lambda: flight_search.invalidate_all(runtime=other),
            lambda: invalidate_tag("route:JFK:LAX", other),
            lambda: flight_search.invalidate(**ARGS, runtime=other),  # type: ignore[arg-type]
        ):
            warm(runtime, form)
            invalidate()
            assert until(lambda: not local_keys(runtime, form=form))


def test_in_process_invalidations_drop_local_copies_before_they_return(form: Form, runtime: Runtime) -> None:
    flight_id = warm(runtime, form)[0].flight_id
    booked: list[bool] = []

    def book() -> None:  # a write-through: commit, then the booking's tags
        form(book_seat).execute(flight_id=flight_id, passenger_id=12345, seat="99K", price=Decimal("10.00"), runtime=runtime)
        booked.append(True)

    try:
        for invalidate in (
            lambda: form(flight_search).invalidate(**ARGS, runtime=runtime),  # type: ignore[arg-type]
            lambda: form(flight_search).invalidate_all(runtime=runtime),
            lambda: form.invalidate_tag(f"flight:{flight_id}", runtime),
            book,
        ):
            before = warm(runtime, form)
            near_hits = runtime.metrics.of("flight_search").near_hits
            invalidate()
            assert not local_keys(runtime, form=form)  # no wait: gone when the call returned
            after = form(flight_search).fetch(**ARGS, runtime=runtime)  # type: ignore[arg-type]
            assert runtime.metrics.of("flight_search").near_hits == near_hits
        assert after[0].booked_seats == before[0].booked_seats + 1  # the write is seen at once
    finally:
        if booked:
            ph = "?" if runtime.db.dialect == "sqlite" else "%s"
            booking = runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph} AND seat = {ph}", (flight_id, "99K"))
            form(cancel_booking).execute(booking_id=int(booking[0][0]), runtime=runtime)


def test_flushall_flushes_the_near_cache(form: Form, runtime: Runtime, nodes: list[valkey.Valkey]) -> None:
    warm(runtime, form)
    for node in primaries(nodes):
        node.flushall()
    assert until(lambda: not local_keys(runtime, form=form))


@pytest.mark.parametrize("kill", ["pubsub", "normal"], ids=["listener", "tracking connection"])
def test_a_killed_connection_flushes_the_near_cache_readers_fall_back_then_it_returns(runtime: Runtime, nodes: list[valkey.Valkey], kill: str) -> None:
    rows = warm(runtime)
    flushes = runtime.cache.near.flushes
    assert primaries(nodes)[-1].execute_command("CLIENT", "KILL", "TYPE", kill, "SKIPME", "yes") >= 1  # on a cluster: one node's
    assert until(lambda: runtime.cache.near.flushes > flushes)
    c = runtime.metrics.of("flight_search")
    assert flight_search.fetch(**ARGS, runtime=runtime) == rows  # type: ignore[arg-type]
    warm(runtime)  # tracking is registered again, and local hits resume
    assert c.near_hits > 0


def test_a_runtime_without_near_cache_reads_valkey(form: Form, db_url: str, valkey_url: str) -> None:
    with form.runtime_of(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd(), near_cache=False) as rt:
        for _ in range(5):
            form(flight_search).fetch(**ARGS, runtime=rt)  # type: ignore[arg-type]
        c = rt.metrics.of("flight_search")
        assert c.near_hits == 0 and c.hits >= 4 and c.hits + c.misses == 5
        assert not form.cache(rt).near.stores


def test_the_near_cache_is_bounded_least_recently_used_first(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(airports_in_country.QUERY, "near_size", 2)
    countries = ["ICELAND", "LUXEMBOURG", "MALTA"]
    for country in countries:
        airports_in_country.fetch(country=country, runtime=runtime)
    for _ in range(3):  # local copies of all three were offered; two are kept
        for country in countries:
            airports_in_country.fetch(country=country, runtime=runtime)
        time.sleep(0.05)
    assert len(local_keys(runtime, "airports_in_country")) == 2
    assert airports_in_country.key(country="MALTA", runtime=runtime) in local_keys(runtime, "airports_in_country")  # the last one read stays


def test_a_local_copy_is_served_no_longer_than_the_near_bound(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(airports_in_country.QUERY, "near", 0.2)
    c = runtime.metrics.of("airports_in_country")
    assert until(lambda: airports_in_country.fetch(country="ICELAND", runtime=runtime) != [] and c.near_hits > 0)
    time.sleep(0.25)
    near_hits = c.near_hits
    airports_in_country.fetch(country="ICELAND", runtime=runtime)
    assert c.near_hits == near_hits


def test_a_value_read_before_an_invalidation_message_is_not_kept_locally(runtime: Runtime, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(runtime)
    key = flight_search.key(**ARGS, runtime=runtime)  # type: ignore[arg-type]
    runtime.cache.near.stores["flight_search"].entries.pop(key)  # the next read goes to Valkey
    monkeypatch.setattr(flight_search.QUERY.scope(runtime.keyspace), "miss_score", 0)  # through MGET
    real = runtime.cache.call
    near = runtime.cache.near

    def read_then_change(*args: str) -> object:
        values = real(*args)
        if args[0] != "MGET":
            return values
        messages = near.messages
        client.delete(key)  # another client's change, after this read and before the local store
        assert until(lambda: near.messages > messages)
        return values

    monkeypatch.setattr(runtime.cache, "call", read_then_change)
    assert len(flight_search.fetch(**ARGS, runtime=runtime)) == 2  # type: ignore[arg-type]
    assert key not in local_keys(runtime)
