"""Per-call control of the cache: ``refresh=True``, ``cache=False`` and ``runtime.bypass()``, sync and async."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import valkey

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from generated import airport_by_iata, airports_in_country, flight_search, hub_route_counts, seat_map
from generated.aio import airport_by_iata as aio_airport_by_iata
from generated.aio import airports_in_country as aio_airports_in_country
from generated.aio import hub_route_counts as aio_hub_route_counts
from generated.aio import seat_map as aio_seat_map
from tests.integration.conftest import cache_url, server_kwargs

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime.date(2024, 12, 15)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(valkey_server: object) -> Iterator[Any]:
    c = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    yield c
    c.close()


@pytest.fixture
async def art(db_url: str, valkey_server: object) -> AsyncIterator[AsyncRuntime]:
    other = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    other.flushall()
    other.close()
    async with AsyncRuntime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=ROOT) as rt:
        yield rt


def _mark(rt: Runtime) -> str:
    return "?" if rt.dialect == "sqlite" else "%s"


@contextmanager
def renamed(rt: Runtime, iata: str, name: str) -> Iterator[str]:
    """The airport renamed in the database alone (no invalidation), then named back."""
    (old,) = rt.db.query(f"SELECT name FROM airport WHERE iata = {_mark(rt)}", (iata,))[0]
    rt.db.execute(f"UPDATE airport SET name = {_mark(rt)} WHERE iata = {_mark(rt)}", (name, iata))
    try:
        yield old
    finally:
        rt.db.execute(f"UPDATE airport SET name = {_mark(rt)} WHERE iata = {_mark(rt)}", (old, iata))


def _counts(rt: Runtime | AsyncRuntime, name: str) -> tuple[int, int, int]:
    c = rt.metrics.of(name)
    return c.hits, c.misses, c.db_queries


# ------------------------------------------------------------------ refresh


def test_refresh_after_a_direct_update_returns_the_new_row_and_stores_it(runtime: Runtime) -> None:
    old = airport_by_iata.fetch(iata="JFK", runtime=runtime)
    old_list = airports_in_country.fetch(country="ICELAND", runtime=runtime)
    assert old is not None
    with renamed(runtime, "JFK", "NEW JFK"), renamed(runtime, "KEF", "NEW KEF"):
        assert airport_by_iata.fetch(iata="JFK", runtime=runtime) == old  # a hit: the cache cannot know
        assert airport_by_iata.fetch_name(iata="JFK", runtime=runtime) == old.name
        fresh = airport_by_iata.fetch(iata="JFK", runtime=runtime, refresh=True)
        assert fresh is not None and fresh.name == "NEW JFK"
        hits, misses, queries = _counts(runtime, "airport_by_iata")
        assert airport_by_iata.fetch(iata="JFK", runtime=runtime) == fresh
        assert airport_by_iata.fetch_name(iata="JFK", runtime=runtime) == "NEW JFK"
        assert _counts(runtime, "airport_by_iata") == (hits + 2, misses, queries)  # hits, on the new value
        # store: json, with its near cache on: the refresh skips the local copy too
        assert airports_in_country.fetch(country="ICELAND", runtime=runtime) == old_list
        refreshed = airports_in_country.fetch(country="ICELAND", runtime=runtime, refresh=True)
        assert "NEW KEF" in {r.name for r in refreshed}
        deadline = time.monotonic() + 5
        while airports_in_country.fetch(country="ICELAND", runtime=runtime) != refreshed:  # the old local copy is dropped by its message
            assert time.monotonic() < deadline, "the near cache kept the copy from before the refresh"
            time.sleep(0.01)
        assert runtime.metrics.of("airport_by_iata").refreshes == 1
    airport_by_iata.invalidate(iata="JFK", runtime=runtime)
    airports_in_country.invalidate(country="ICELAND", runtime=runtime)


def test_refresh_and_cache_off_together_are_refused(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="refresh=True stores the database's value and cache=False stores nothing"):
        airport_by_iata.fetch(iata="JFK", runtime=runtime, refresh=True, cache=False)


def test_refresh_of_the_batch_and_of_the_store_readers(runtime: Runtime) -> None:
    before = airports_in_country.fetch_batch([("ICELAND",), ("NORWAY",)], runtime=runtime)
    with renamed(runtime, "KEF", "BATCH KEF"):
        assert airports_in_country.fetch_batch([("ICELAND",), ("NORWAY",)], runtime=runtime) == before
        after = airports_in_country.fetch_batch([("ICELAND",), ("NORWAY",)], runtime=runtime, refresh=True)
        assert "BATCH KEF" in {r.name for r in after[0]} and after[1] == before[1]
    airports_in_country.invalidate(country="ICELAND", runtime=runtime)
    top = hub_route_counts.top(n=3, runtime=runtime)
    assert hub_route_counts.top(n=3, runtime=runtime, refresh=True) == top
    flight = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0].flight_id
    assert seat_map.count(flight_id=flight, runtime=runtime, refresh=True) == seat_map.count(flight_id=flight, runtime=runtime)


@pytest.mark.anyio
async def test_async_refresh_after_a_direct_update_returns_the_new_row_and_stores_it(art: AsyncRuntime, runtime: Runtime) -> None:
    old = await aio_airport_by_iata.fetch(iata="LAX", runtime=art)
    assert old is not None
    with renamed(runtime, "LAX", "NEW LAX"):
        assert await aio_airport_by_iata.fetch(iata="LAX", runtime=art) == old
        fresh = await aio_airport_by_iata.fetch(iata="LAX", runtime=art, refresh=True)
        assert fresh is not None and fresh.name == "NEW LAX"
        hits, misses, queries = _counts(art, "airport_by_iata")
        assert await aio_airport_by_iata.fetch_name(iata="LAX", runtime=art) == "NEW LAX"
        assert _counts(art, "airport_by_iata") == (hits + 1, misses, queries)
        rows = await aio_airports_in_country.fetch_batch([("UNITED STATES",)], runtime=art, refresh=True)
        assert "NEW LAX" in {r.name for r in rows[0]}
    await aio_airport_by_iata.invalidate(iata="LAX", runtime=art)
    await aio_airports_in_country.invalidate(country="UNITED STATES", runtime=art)


# ---------------------------------------------------------------- cache=False


def test_cache_false_reads_the_database_and_leaves_no_key(runtime: Runtime, client: Any) -> None:
    assert client.dbsize() == 0
    row = airport_by_iata.fetch(iata="JFK", runtime=runtime, cache=False)
    assert row == airport_by_iata.QUERY.query_database(("JFK",), runtime)
    assert airport_by_iata.fetch_city(iata="JFK", runtime=runtime, cache=False) == row.city  # type: ignore[union-attr]
    assert airports_in_country.fetch(country="ICELAND", runtime=runtime, cache=False)
    assert airports_in_country.fetch_batch([("ICELAND",), ("NORWAY",)], runtime=runtime, cache=False)
    assert hub_route_counts.top(n=2, runtime=runtime, cache=False)
    assert seat_map.count(flight_id=1001, runtime=runtime, cache=False) >= 0
    assert client.keys("*") == []
    assert runtime.metrics.of("airport_by_iata").bypassed == 2 and runtime.metrics.of("airport_by_iata").hits == 0


@pytest.mark.anyio
async def test_async_cache_false_reads_the_database_and_leaves_no_key(art: AsyncRuntime, client: Any) -> None:
    assert client.dbsize() == 0
    row = await aio_airport_by_iata.fetch(iata="JFK", runtime=art, cache=False)
    assert row is not None
    assert await aio_airport_by_iata.fetch_name(iata="JFK", runtime=art, cache=False) == row.name
    assert await aio_airports_in_country.fetch_batch([("ICELAND",)], runtime=art, cache=False)
    assert await aio_hub_route_counts.fetch(runtime=art, cache=False)
    assert await aio_seat_map.contains(flight_id=1001, seat="1A", runtime=art, cache=False) in (True, False)
    assert client.keys("*") == []


# ------------------------------------------------------------------- bypass


def test_bypass_holds_for_the_thread_that_entered_it(runtime: Runtime, client: Any) -> None:
    airport_by_iata.fetch(iata="JFK", runtime=runtime)  # cached
    seen: dict[str, Any] = {}
    inside = threading.Event()
    other_done = threading.Event()

    def other_thread() -> None:
        inside.wait(5)
        before = _counts(runtime, "airport_by_iata")
        airport_by_iata.fetch(iata="JFK", runtime=runtime)
        seen["other"] = (before, _counts(runtime, "airport_by_iata"))
        other_done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with runtime.bypass():
        inside.set()
        assert other_done.wait(5)
        before = _counts(runtime, "airport_by_iata")
        airport_by_iata.fetch(iata="JFK", runtime=runtime)
        airport_by_iata.fetch(iata="ORD", runtime=runtime)  # not cached, and not stored
        after = _counts(runtime, "airport_by_iata")
    thread.join(5)
    (h0, m0, q0), (h1, m1, q1) = seen["other"]
    assert (h1, m1, q1) == (h0 + 1, m0, q0), "the other thread's read bypassed the cache"
    assert after == (before[0], before[1] + 2, before[2] + 2)
    assert not client.exists(airport_by_iata.key(iata="ORD", runtime=runtime))
    with runtime.bypass(), runtime.bypass():  # nested: still bypassing inside, not after
        airport_by_iata.fetch(iata="ORD", runtime=runtime)
    airport_by_iata.fetch(iata="ORD", runtime=runtime)
    assert client.exists(airport_by_iata.key(iata="ORD", runtime=runtime))


def test_bypass_is_per_runtime(runtime: Runtime, db_url: str, valkey_server: object) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=ROOT) as other:
        airport_by_iata.fetch(iata="JFK", runtime=other)
        with runtime.bypass():
            before = _counts(other, "airport_by_iata")
            airport_by_iata.fetch(iata="JFK", runtime=other)
            assert _counts(other, "airport_by_iata") == (before[0] + 1, before[1], before[2])


@pytest.mark.anyio
async def test_bypass_holds_for_the_task_that_entered_it(art: AsyncRuntime, client: Any) -> None:
    await aio_airport_by_iata.fetch(iata="JFK", runtime=art)  # cached
    entered, read = asyncio.Event(), asyncio.Event()

    async def bypassing() -> tuple[int, int, int]:
        with art.bypass():
            entered.set()
            await read.wait()  # the other task reads while this one is inside the block
            before = _counts(art, "airport_by_iata")
            await aio_airport_by_iata.fetch(iata="JFK", runtime=art)
            await aio_airport_by_iata.fetch(iata="SFO", runtime=art)
            after = _counts(art, "airport_by_iata")
            return after[0] - before[0], after[1] - before[1], after[2] - before[2]

    async def other() -> tuple[int, int, int]:
        await entered.wait()
        before = _counts(art, "airport_by_iata")
        await aio_airport_by_iata.fetch(iata="JFK", runtime=art)
        after = _counts(art, "airport_by_iata")
        read.set()
        return after[0] - before[0], after[1] - before[1], after[2] - before[2]

    inside, outside = await asyncio.gather(bypassing(), other())
    assert outside == (1, 0, 0), "the other task's read bypassed the cache"
    assert inside == (0, 2, 2)
    assert not client.exists(aio_airport_by_iata.key(iata="SFO", runtime=art))
    await aio_airport_by_iata.fetch(iata="SFO", runtime=art)  # after the block: through the cache again
    assert client.exists(aio_airport_by_iata.key(iata="SFO", runtime=art))
