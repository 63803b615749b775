"""An AsyncRuntime's database calls are bounded as a sync runtime's are (test_db_hardening.py holds the sync twins).

A stalled server is a real one behind a TCP proxy that stops forwarding
(tests/integration/proxy.py): a call through it must raise DatabaseTimeout,
its connection dropped, and the next call must run on a fresh connection. A slow
statement is cancelled at the URL's statement_timeout. Every await has a generous
deadline (30 s), so that a call that would wait forever fails the test instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import valkey

from flughafen import QueryError
from flughafen.aio import AsyncRuntime, last_read_was_stale
from flughafen.db import DatabaseTimeout
from flughafen.db_async import AsyncDatabase
from generated.aio import flight_search
from tests.integration.conftest import cache_url, server_kwargs
from tests.integration.proxy import Proxy
from tests.integration.test_db_hardening import DAY, PORTS, SLOW, TIMEOUTS, loaded, server_url

T = TypeVar("T")
DEADLINE = 30.0  # seconds: far beyond every bound here; a call still waiting then would wait forever
SESSION_ID = {"mysql": "SELECT CONNECTION_ID()", "postgres": "SELECT pg_backend_pid()"}
SLOWER = {**SLOW, "mysql": "SELECT SLEEP(60)", "postgres": "SELECT pg_sleep(60)"}  # longer than DEADLINE

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def within(awaitable: Awaitable[T]) -> Awaitable[T]:
    return asyncio.wait_for(awaitable, DEADLINE)


@pytest.fixture(params=["mysql", "postgres"])
def proxy(request: pytest.FixtureRequest, loaded_urls: dict[str, str]) -> Iterator[tuple[str, Proxy]]:
    dialect: str = request.param
    loaded(dialect, loaded_urls)
    p = Proxy(PORTS[dialect])
    yield dialect, p
    p.close()


@pytest.fixture
async def through(proxy: tuple[str, Proxy]) -> AsyncIterator[tuple[str, Proxy, AsyncDatabase]]:
    """A pool of one connection through the proxy, with 1 s bounds on each call. Getting a connection may take longer
    (20 s): after the stall, psycopg_pool makes the new one with its own retries and pauses, slower on a busy machine."""
    dialect, p = proxy
    db = AsyncDatabase(server_url(dialect, port=p.port, options=TIMEOUTS), size=1, timeout=20)
    yield dialect, p, db
    await db.close()


async def _query(db: AsyncDatabase) -> Any:
    return await db.query("SELECT 1")


async def _execute(db: AsyncDatabase) -> Any:
    return await db.execute("SELECT 1")


CALLS: dict[str, Callable[[AsyncDatabase], Awaitable[Any]]] = {"query": _query, "execute": _execute}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_call_through_a_stalled_link_raises_database_timeout_and_the_next_runs_on_a_fresh_connection(
    through: tuple[str, Proxy, AsyncDatabase], call: str
) -> None:
    dialect, p, db = through
    before = await within(db.query(SESSION_ID[dialect]))  # the pool's one connection
    p.stall()
    with pytest.raises(DatabaseTimeout, match=r"127\.0\.0\.1:\d+/.*: no reply within read_timeout=1s"):
        await within(CALLS[call](db))
    p.cut()
    p.restore()
    after = await within(db.query(SESSION_ID[dialect]))
    assert after != before, "the connection of the call that timed out went back into the pool"


async def test_a_transaction_statement_through_a_stalled_link_raises_database_timeout_and_is_dropped(through: tuple[str, Proxy, AsyncDatabase]) -> None:
    dialect, p, db = through
    before = await within(db.query(SESSION_ID[dialect]))

    async def transaction() -> None:
        async with db.transaction() as cur:
            await cur.execute("SELECT 1")
            assert list(await cur.fetchall()) == [(1,)]
            p.stall()
            await cur.execute("SELECT 2")

    with pytest.raises(DatabaseTimeout, match="read_timeout=1s"):
        await within(transaction())
    p.cut()
    p.restore()
    assert await within(db.query(SESSION_ID[dialect])) != before


async def test_a_slow_statement_is_cancelled_at_statement_timeout(db_url: str, dialect: str) -> None:
    options = "statement_timeout=0.5" if dialect == "sqlite" else "statement_timeout=0.5&read_timeout=60"  # the server cancels it, not the read bound
    db = AsyncDatabase(f"{db_url}?{options}", size=1)
    try:
        with pytest.raises(Exception, match=r"(?i)statement|interrupt|cancel") as raised:
            await within(db.query(SLOWER[dialect]))
        if dialect == "sqlite":
            assert raised.type is DatabaseTimeout and "statement_timeout=0.5s" in str(raised.value)
        assert await within(db.query("SELECT 1")) == [(1,)]  # the next call works
    finally:
        await db.close()


@pytest.fixture
async def art(proxy: tuple[str, Proxy], valkey_server: object, tmp_path: Path) -> AsyncIterator[tuple[Proxy, AsyncRuntime]]:
    """An AsyncRuntime reading through the proxy with 1 s bounds, its stale copies kept 10 minutes."""
    dialect, p = proxy
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    client.flushall()
    client.close()
    url = server_url(dialect, port=p.port, options=TIMEOUTS)
    async with AsyncRuntime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=tmp_path, stale_if_error=600, near_cache=False) as rt:
        yield p, rt


async def test_a_read_through_a_stalled_link_fails_with_the_read_timeout(art: tuple[Proxy, AsyncRuntime]) -> None:
    p, rt = art
    assert await within(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt, cache=False))
    p.stall()
    with pytest.raises(QueryError, match=r"flight_search: .*read_timeout=1s") as raised:
        await within(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt, cache=False))
    assert isinstance(raised.value.__cause__, DatabaseTimeout)


async def test_a_read_through_a_stalled_link_serves_the_stale_copy(art: tuple[Proxy, AsyncRuntime]) -> None:
    p, rt = art
    rows = await within(flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt))
    await rt.cache.settle()
    await flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
    p.stall()

    async def read() -> tuple[Any, bool]:  # the flag is the task's own: asked in the task that read
        return await flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt), last_read_was_stale()

    assert await within(read()) == (rows, True)
    assert rt.metrics.of("flight_search").stale_served == 1


async def _cancelled_midway(db: AsyncDatabase, sql: str, started: Callable[[], bool]) -> None:
    """Starts ``sql``, cancels its caller once ``started()`` (polled), and waits for the cancellation to end."""
    task = asyncio.ensure_future(db.query(sql))
    for _ in range(300):  # up to 30 s for the call to be under way
        if started() or task.done():
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await within(asyncio.wait((task,)))
    assert task.cancelled()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # a server call: its socket is shut as a timed-out one's; SQLite's runs on a thread
async def test_a_cancelled_sqlite_statement_is_interrupted_and_its_connection_dropped(db_url: str, dialect: str) -> None:
    db = AsyncDatabase(f"{db_url}?statement_timeout=0", size=1)  # no statement timeout: the cancellation alone ends it
    try:
        await within(db.query("SELECT 1"))
        driver: Any = await db.driver()
        (conn,) = driver.free
        await _cancelled_midway(db, SLOWER["sqlite"], lambda: not driver.free)  # the pool's one connection taken
        assert conn not in driver.free, "the cancelled call's connection went back into the pool"
        assert await within(db.query("SELECT 1")) == [(1,)]
    finally:
        await db.close()
