"""The async accessors (<package>/aio) on an AsyncRuntime, on MariaDB, PostgreSQL and SQLite and a real Valkey.

Parity with the sync accessors, stampedes, cancellation, per-task state, writes and
their invalidations, and failures of Valkey and of the database under load.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import valkey

import generated
from flughafen import Runtime
from flughafen.aio import AsyncRuntime, invalidate_tag, last_read_was_stale
from flughafen.embedded import start_server
from generated import aio
from generated.aio import (
    airport_by_iata,
    book_seat,
    cancel_booking,
    flight_search,
    hub_route_counts,
    popular_flights,
    rename_airport,
    seat_map,
)
from tests.integration.conftest import cache_url, server_kwargs
from tests.integration.proxy import Proxy

DAY = datetime.date(2024, 12, 15)
ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.anyio  # anyio's pytest plugin, on asyncio (below)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def art(db_url: str, valkey_server: object) -> AsyncIterator[AsyncRuntime]:
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    client.flushall()
    client.close()
    async with AsyncRuntime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=ROOT, near_cache=False) as rt:
        yield rt


def _typed(value: Any) -> Any:
    """``value`` with the type of every part beside it (rows field by field), so equal means equal and alike typed."""
    import dataclasses
    from decimal import Decimal

    if isinstance(value, (list, tuple, set)):
        return (type(value), [_typed(v) for v in (sorted(value, key=repr) if isinstance(value, set) else value)])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), [(f.name, _typed(getattr(value, f.name))) for f in dataclasses.fields(value)])
    return (type(value), str(value) if isinstance(value, Decimal) else value)


def _sync(db_url: str, valkey_server: object) -> Runtime:
    return Runtime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=ROOT, near_cache=False)


async def test_every_seed_spec_s_examples_read_alike_sync_and_async(art: AsyncRuntime, db_url: str, valkey_server: object) -> None:
    with _sync(db_url, valkey_server) as rt:
        for name in generated.__all__:
            sync_module, async_module = importlib.import_module(f"generated.{name}"), importlib.import_module(f"generated.aio.{name}")
            for example in sync_module.EXAMPLES:
                cold = await async_module.fetch(**example, runtime=art)  # async fills
                warm = await async_module.fetch(**example, runtime=art)
                sync = sync_module.fetch(**example, runtime=rt)
                assert cold == warm == sync == sync_module.QUERY.query_database(tuple(example.values()), rt), name
                assert _typed(cold) == _typed(warm) == _typed(sync), name  # every value of the same type, Decimal's scale too
                await async_module.invalidate(**example, runtime=art)
                sync_module.fetch(**example, runtime=rt)  # sync fills, async reads it
                rt.cache.settle()
                assert await async_module.fetch(**example, runtime=art) == cold, name
    assert art.metrics.of("flight_search").hits >= 2


async def test_the_store_readers_answer_alike_sync_and_async(art: AsyncRuntime, db_url: str, valkey_server: object) -> None:
    from generated import airport_by_iata as s_airport
    from generated import hub_route_counts as s_hub
    from generated import seat_map as s_seats

    with _sync(db_url, valkey_server) as rt:
        for _ in range(2):  # cold, then warm
            assert await airport_by_iata.fetch_city(iata="JFK", runtime=art) == s_airport.fetch_city(iata="JFK", runtime=rt)
            assert await hub_route_counts.top(n=3, runtime=art) == s_hub.top(n=3, runtime=rt)
            top = s_hub.fetch(runtime=rt)[0]
            assert await hub_route_counts.rank(iata=top.iata, runtime=art) == 0
            assert await hub_route_counts.score(iata=top.iata, runtime=art) == top.routes
            assert await seat_map.count(flight_id=1001, runtime=art) == s_seats.count(flight_id=1001, runtime=rt)
            assert await seat_map.contains(flight_id=1001, seat="1A", runtime=art) == s_seats.contains(flight_id=1001, seat="1A", runtime=rt)
        batch = [("JFK", "LAX", DAY), ("LAX", "JFK", DAY), ("JFK", "LAX", datetime.date(1999, 1, 1))]
        assert await flight_search.fetch_batch(batch, runtime=art) == [flight_search.QUERY.query_database(a, rt) for a in batch]
        assert await flight_search.QUERY.warm_batch_async(batch, art) == 0  # all there already


async def test_200_cold_callers_make_one_query_and_wait_with_awaits(art: AsyncRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    q = flight_search.QUERY
    real = q.fresh_async

    async def slow(args: tuple[Any, ...], rt: AsyncRuntime) -> Any:
        await asyncio.sleep(0.2)
        return await real(args, rt)

    monkeypatch.setattr(q, "fresh_async", slow)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    before = art.metrics.of(q.name).db_queries
    results = await asyncio.gather(*(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art) for _ in range(200)))
    ticking.cancel()
    assert art.metrics.of(q.name).db_queries - before == 1
    assert all(r == results[0] for r in results) and results[0]
    assert art.metrics.of(q.name).lock_waits > 0
    assert ticks >= 40, f"the loop ran {ticks} times in 0.2 s of waiting: something blocked it"


async def test_a_cancelled_filler_releases_its_lock_and_cancelled_waiters_leave_none(
    art: AsyncRuntime, monkeypatch: pytest.MonkeyPatch, valkey_server: object
) -> None:
    q = flight_search.QUERY
    started = asyncio.Event()

    async def stuck(args: tuple[Any, ...], rt: AsyncRuntime) -> Any:
        started.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(q, "fresh_async", stuck)
    lock = f"fg:~lock:{q.key(('JFK', 'LAX', DAY), art)}"
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    filler = asyncio.create_task(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art))
    await started.wait()
    waiters = [asyncio.create_task(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert client.exists(lock)
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert client.exists(lock), "a waiter let go of a lock it does not own"
    filler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await filler
    await art.cache.settle()
    assert not client.exists(lock), "the cancelled filler left its lock behind"
    client.close()


async def test_the_stale_flag_is_per_task(db_url: str, valkey_server: object) -> None:
    cache = cache_url(valkey_server)
    async with AsyncRuntime.from_config(
        database_url=db_url, cache_url=cache, project_dir=ROOT, stale_if_error=600, near_cache=False, cache_namespace="stale-copies"
    ) as up:  # one cache, as if the same database went down
        await airport_by_iata.invalidate(iata="JFK", runtime=up)
        fresh = await airport_by_iata.fetch(iata="JFK", runtime=up)
        await airport_by_iata.invalidate(iata="JFK", runtime=up)  # the entry goes, its stale copy stays
        await up.cache.settle()
    down_url = "postgresql://postgres:pw@127.0.0.1:1/nowhere"
    async with AsyncRuntime.from_config(
        database_url=down_url, cache_url=cache, project_dir=ROOT, stale_if_error=600, near_cache=False, database_timeout=1, cache_namespace="stale-copies"
    ) as down:
        both = asyncio.Event()

        async def stale_reader() -> bool:
            assert await airport_by_iata.fetch(iata="JFK", runtime=down) == fresh
            both.set()
            await asyncio.sleep(0.01)
            return last_read_was_stale()

        async def other_reader() -> bool:
            await both.wait()
            assert await airport_by_iata.fetch_city(iata="ZZZ", runtime=down) is None or True  # any read that is not stale
            return last_read_was_stale()

        async def untouched() -> bool:
            await both.wait()
            return last_read_was_stale()

        stale, _other, idle = await asyncio.gather(stale_reader(), other_reader(), untouched(), return_exceptions=True)
    assert stale is True
    assert idle is False


async def test_gathered_reads_share_one_connection(art: AsyncRuntime, valkey_server: object) -> None:
    await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    before = len(client.client_list())
    results = await asyncio.gather(*(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art) for _ in range(1000)))
    assert len({len(r) for r in results}) == 1
    assert len(client.client_list()) == before, "gathered reads opened connections of their own"
    client.close()


async def test_async_writes_keep_stores_and_tags_up_to_date(art: AsyncRuntime, db_url: str, valkey_server: object) -> None:
    from generated import seat_availability

    flight = 1001
    taken = set(await seat_map.fetch(flight_id=flight, runtime=art))
    free = next(s for s in (f"{row}{letter}" for row in range(30, 60) for letter in "ABCDEF") if s not in taken)
    seats = await seat_map.count(flight_id=flight, runtime=art)
    searched = await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
    ranking = await popular_flights.fetch(runtime=art)
    with _sync(db_url, valkey_server) as rt:
        availability = seat_availability.fetch(flight_id=flight, runtime=rt)
        passenger = 4
        assert await book_seat.execute(flight_id=flight, passenger_id=passenger, seat=free, price=__import__("decimal").Decimal("99.00"), runtime=art) == 1
        assert await seat_map.contains(flight_id=flight, seat=free, runtime=art)  # the bit, set in place
        assert await seat_map.count(flight_id=flight, runtime=art) == seats + 1
        rt.cache.settle()
        assert seat_availability.fetch(flight_id=flight, runtime=rt) != availability
        assert await popular_flights.fetch(runtime=art) == popular_flights.QUERY.query_database((), rt) != ranking
        booking = rt.db.query(
            "SELECT booking_id FROM booking WHERE flight_id = ? AND seat = ?".replace("?", "%s" if rt.dialect != "sqlite" else "?"), [flight, free]
        )[0][0]
        assert await cancel_booking.execute(booking_id=booking, runtime=art) == 1
        assert not await seat_map.contains(flight_id=flight, seat=free, runtime=art)
        assert await seat_map.count(flight_id=flight, runtime=art) == seats
        jfk = await airport_by_iata.fetch(iata="JFK", runtime=art)
        assert jfk is not None
        await rename_airport.execute(airport_id=jfk.airport_id, name="ASYNC RENAMED", runtime=art)
        assert await airport_by_iata.fetch_name(iata="JFK", runtime=art) == "ASYNC RENAMED" == airport_by_iata.QUERY.query_database(("JFK",), rt).name
        await rename_airport.execute(airport_id=jfk.airport_id, name=jfk.name, runtime=art)
    assert await invalidate_tag(f"flight:{searched[0].flight_id}", art) >= 1
    assert await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art) == searched


async def test_a_write_behind_is_queued_on_its_stream(art: AsyncRuntime, valkey_server: object) -> None:
    from generated.aio import reprice_booking

    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    stream = art.keyspace.stream_key(reprice_booking.WRITE.name)
    before = client.xlen(stream) if client.exists(stream) else 0
    assert await reprice_booking.execute(booking_id=1, price=__import__("decimal").Decimal("10.00"), runtime=art) == 0
    assert client.xlen(stream) == before + 1
    client.close()


async def test_reads_answer_from_the_database_while_valkey_is_killed_under_load(db_url: str) -> None:
    server = start_server()
    url = f"valkey://127.0.0.1:{server.port}/0"
    async with AsyncRuntime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT, near_cache=False) as rt:
        expected = await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        stop = time.monotonic() + 1.0
        answers = 0

        async def load() -> None:
            nonlocal answers
            while time.monotonic() < stop:
                assert await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt) == expected
                answers += 1

        async def kill() -> None:
            await asyncio.sleep(0.3)
            server._process.kill()
            server._process.wait()

        await asyncio.gather(*(load() for _ in range(20)), kill())
        assert answers > 100
        assert rt.metrics.of("flight_search").cache_errors >= 1
        assert rt.cache.down
    try:
        server.stop()
    except Exception:  # noqa: BLE001 - killed already
        pass


@pytest.mark.parametrize("dialect", ["mysql", "postgres"], indirect=True)  # a server, whose connections can be cut
async def test_stale_copies_are_served_while_the_database_is_unreachable_under_load_then_fresh_reads_resume(
    dialect: str, db_url: str, valkey_server: object
) -> None:
    from flughafen.config import parse_database_url

    u = parse_database_url(db_url)
    proxy = Proxy(u.port or 0, u.host)
    through = db_url.replace(f":{u.port}/", f":{proxy.port}/")
    try:
        async with AsyncRuntime.from_config(
            database_url=through, cache_url=cache_url(valkey_server), project_dir=ROOT, stale_if_error=600, near_cache=False, database_timeout=1
        ) as rt:
            await flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
            fresh = await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
            await rt.cache.settle()
            proxy.cut()
            await flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)  # only the stale copy is left

            async def reader() -> bool:
                assert await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt) == fresh
                return last_read_was_stale()

            flags = await asyncio.gather(*(reader() for _ in range(50)))
            assert all(flags)
            assert rt.metrics.of("flight_search").stale_served >= 1
            proxy.restore()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and await reader():
                await asyncio.sleep(0.1)
            assert not last_read_was_stale(), "reads did not come back to the database after it came back"
            assert await reader() is False
    finally:
        proxy.close()


async def test_a_stalled_valkey_under_load_costs_a_bounded_wait_then_hits_resume(db_url: str, valkey_server: object) -> None:
    port = int(server_kwargs(valkey_server)["port"])  # type: ignore[call-overload]
    proxy = Proxy(port)
    try:
        async with AsyncRuntime.from_config(
            database_url=db_url, cache_url=f"valkey://127.0.0.1:{proxy.port}/0", project_dir=ROOT, near_cache=False, socket_timeout=0.2
        ) as rt:
            expected = await airport_by_iata.fetch(iata="JFK", runtime=rt)
            await rt.cache.settle()
            proxy.stall()  # the link swallows every byte: no reply, no error
            started = time.monotonic()
            answers = await asyncio.gather(*(airport_by_iata.fetch(iata="JFK", runtime=rt) for _ in range(200)))
            took = time.monotonic() - started
            assert answers == [expected] * 200
            assert took < 2.0, f"200 reads waited {took:.2f} s on a stalled Valkey"
            c = rt.metrics.of("airport_by_iata")
            assert c.cache_errors >= 1 and rt.cache.down
            proxy.cut()
            proxy.restore()
            hits, deadline = c.hits, time.monotonic() + 3
            while c.hits == hits and time.monotonic() < deadline:
                assert await airport_by_iata.fetch(iata="JFK", runtime=rt) == expected
                await asyncio.sleep(0.02)
            assert c.hits > hits, "hits did not resume after the link came back"
    finally:
        proxy.close()


def test_async_package_lists_every_module() -> None:
    assert sorted(aio.__all__) == sorted([*generated.__all__, *generated.WRITES])


@pytest.mark.parametrize("dialect", ["mysql", "postgres"], indirect=True)
async def test_a_database_that_accepts_and_never_answers_gets_the_database_timeout(dialect: str, db_url: str, valkey_server: object) -> None:
    """Refused connections fail at once (test_stale_if_error.py); a server merely slow to answer is waited for."""
    from flughafen import QueryError
    from flughafen.config import parse_database_url

    u = parse_database_url(db_url)
    proxy = Proxy(u.port or 0, u.host)
    proxy.stall()  # connections are accepted, and never answered
    through = db_url.replace(f":{u.port}/", f":{proxy.port}/")
    try:
        async with AsyncRuntime.from_config(database_url=through, cache_url=cache_url(valkey_server), project_dir=ROOT, database_timeout=2) as rt:
            started = time.monotonic()
            with pytest.raises(QueryError, match="airport_by_iata: the query failed on"):
                await airport_by_iata.fetch(iata="JFK", runtime=rt, cache=False)
            assert time.monotonic() - started >= 1, "a slow server was given up on before the database_timeout"
    finally:
        proxy.close()


async def test_a_caller_waits_for_a_busy_pool_up_to_the_database_timeout_then_fails(db_url: str) -> None:
    """Every pooled connection in use: the next caller waits database_timeout, no longer (aiomysql's pool alone would wait without end)."""
    from flughafen.db_async import AsyncDatabase

    db = AsyncDatabase(db_url, size=1, timeout=1)
    try:
        assert await db.query("SELECT 1") == [(1,)]
        driver = await db.driver()
        async with driver.connection():  # the pool's one connection, in use
            started = time.monotonic()
            with pytest.raises(Exception, match=r"couldn't get a connection after 1|no database connection within 1 s"):
                await asyncio.wait_for(db.query("SELECT 2"), 30)  # a bare TimeoutError (no message) if it waits without end
            assert 0.5 <= time.monotonic() - started < 10
        assert await db.query("SELECT 3") == [(3,)]  # the pool is whole again
    finally:
        await db.close()
