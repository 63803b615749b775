"""Database access for an AsyncRuntime: psycopg's AsyncConnectionPool, aiomysql, aiosqlite.

The same SQL, placeholders and parameter binding as db.py (the generated modules
hold one text per dialect), and the rows come back as the same driver values:
aiomysql is PyMySQL's protocol and converters under asyncio, psycopg's async
connection is psycopg's, aiosqlite runs the standard sqlite3 module on a thread
of its own. So convert.py types them alike, and an async read returns what a sync
read does.

Each driver is an extra: ``flughafen-gen[postgres-async]`` (psycopg and
psycopg_pool), ``[mysql-async]`` (aiomysql), ``[sqlite-async]`` (aiosqlite), or
``[async]`` for all three. A pool is opened on first use, in the event loop
that uses it.

Every call is bounded as db.py's are (config.Timeouts from the URL): the server
cancels a statement past the statement timeout (PostgreSQL's statement_timeout,
MariaDB's max_statement_time, MySQL's max_execution_time; SQLite's progress
handler on the aiosqlite thread); a call with no reply within the read timeout
(a frozen server, a network black hole) has its socket shut, its connection
dropped (never back in the pool) and raises DatabaseTimeout. A cancelled caller
drops its connection the same way. Taking a connection is bounded by the
``timeout`` given (the runtime's database_timeout).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from weakref import WeakKeyDictionary, WeakSet

from flughafen import tracing
from flughafen.config import DatabaseUrl, parse_database_url
from flughafen.db import (
    MYSQL_INIT,
    SQLITE_BUSY_TIMEOUT,
    SQLITE_CHECK_EVERY,
    DatabaseTimeout,
    SQLiteConnection,
    bind_values,
    postgres_params,
    shut_down,
    timeout_message,
)
from flughafen.extras import require
from flughafen.sqlite_driver import driver

T = TypeVar("T")
log = logging.getLogger("flughafen")
STOP_WAIT = 5.0  # seconds a call whose socket was shut is waited for to end (at once, in practice), before it is cancelled
DEFAULT_TIMEOUT = 5.0  # seconds a caller waits for a pooled connection (PostgreSQL), or to connect


class AsyncCursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    async def execute(self, sql: str, args: Sequence[Any] = ...) -> Any: ...
    async def fetchall(self) -> Sequence[Sequence[Any]]: ...


class _Driver(Protocol):
    def connection(self) -> Any:
        """An async context manager: a pooled connection, given back (or dropped when it failed) after."""

    async def begin(self, conn: Any) -> None: ...
    async def end(self, conn: Any, commit: bool) -> None: ...
    async def cursor(self, conn: Any) -> Any: ...
    async def close(self) -> None: ...
    def stop(self, conn: Any) -> None:
        """Ends the call under way on ``conn`` at once (its socket shut), without blocking; the connection is then dropped."""

    def deadline(self, conn: Any, seconds: float) -> None:
        """SQLite: the statements on ``conn`` stop ``seconds`` from now (inf: never)."""


class AsyncDatabase:
    """A pool of async connections to one database (see the module's docstring)."""

    def __init__(self, url: DatabaseUrl | str, size: int = 8, timeout: float = DEFAULT_TIMEOUT):
        self.url = parse_database_url(url) if isinstance(url, str) else url
        self.dialect = self.url.dialect
        self.size = size
        self.timeout = timeout
        t = self.url.timeouts
        if self.dialect == "postgres":
            postgres_params(self.url, t)  # an option libpq does not know fails here, not at the first query
        # The bound each call is given here: the read timeout (SQLite's statement timeout is kept on its thread).
        self._read = 0.0 if self.dialect == "sqlite" else t.read
        self._statement = t.statement if self.dialect == "sqlite" else 0.0
        self._sqlite = self.dialect == "sqlite"
        self._driver: _Driver | None = None
        self._opening: asyncio.Lock | None = None

    async def driver(self) -> _Driver:
        driver = self._driver
        if driver is not None:
            return driver
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._driver is None:
                self._driver = await _open(self.url, self.size, self.timeout)
            return self._driver

    def args(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return bind_values(self.dialect, values)

    async def query(self, sql: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with tracing.query_span(self.dialect, sql):
            driver = self._driver or await self.driver()
            async with driver.connection() as conn:
                return await self.bounded(driver, conn, self._rows(driver, conn, sql, values))

    async def _rows(self, driver: _Driver, conn: Any, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        cur = await driver.cursor(conn)
        await cur.execute(sql, self.args(values))
        return [tuple(r) for r in await cur.fetchall()]

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """A statement that returns no rows (DDL, a single write); returns the row count."""
        driver = self._driver or await self.driver()
        async with driver.connection() as conn:
            return await self.bounded(driver, conn, self._count(driver, conn, sql, values))

    async def _count(self, driver: _Driver, conn: Any, sql: str, values: Sequence[Any]) -> int:
        cur = await driver.cursor(conn)
        await cur.execute(sql, self.args(values))
        return int(cur.rowcount)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncCursor]:
        """A cursor inside one transaction: committed on success, rolled back on error. Each call is bounded;
        a cancelled caller's connection is dropped (the server rolls back)."""
        driver = self._driver or await self.driver()
        async with driver.connection() as conn:
            await self.bounded(driver, conn, driver.begin(conn))
            try:
                yield _BoundedCursor(self, driver, conn, await driver.cursor(conn))
            except BaseException:
                try:
                    await self.bounded(driver, conn, driver.end(conn, commit=False))
                except Exception as e:  # noqa: BLE001 - a dropped connection cannot roll back (the server does); the first error is the one to see
                    log.debug("rollback on %s failed: %s", self.url.redacted(), e)
                raise
            await self.bounded(driver, conn, driver.end(conn, commit=True))

    async def bounded(self, driver: _Driver, conn: Any, call: Awaitable[T]) -> T:
        """``call`` on ``conn`` within the read timeout, else DatabaseTimeout; a SQLite statement stops at the statement timeout.

        Past the bound, or when the caller is cancelled, the call is stopped (its
        socket shut, which ends it at once) and waited for, so that the connection
        is dropped with no call under way on it: the driver's connection() closes
        a connection whose call raised, and never pools it.
        """
        if self._sqlite:  # the statement runs on aiosqlite's thread: the loop is free, the deadline is kept there
            driver.deadline(conn, self._statement or math.inf)
            try:
                return await call
            except asyncio.CancelledError:
                driver.stop(conn)  # the statement on aiosqlite's thread ends now; the connection is dropped
                raise
            except Exception as e:
                if self._statement and _interrupted(e):
                    raise DatabaseTimeout(timeout_message(self.url)) from e
                raise
            finally:
                driver.deadline(conn, math.inf)
        if not self._read:
            return await call
        task = asyncio.ensure_future(call)
        try:
            await asyncio.wait((task,), timeout=self._read)
        except BaseException:  # the caller was cancelled
            await _stop(driver, conn, task)
            raise
        if not task.done():
            await _stop(driver, conn, task)
            raise DatabaseTimeout(timeout_message(self.url))
        return task.result()

    async def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.close()


class _BoundedCursor:
    """A transaction's cursor whose every call is bounded (AsyncDatabase.bounded)."""

    def __init__(self, db: AsyncDatabase, driver: _Driver, conn: Any, cur: Any):
        self._db = db
        self._driver = driver
        self._conn = conn
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return await self._db.bounded(self._driver, self._conn, self._cur.execute(sql, args))

    async def fetchall(self) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = await self._db.bounded(self._driver, self._conn, self._cur.fetchall())
        return rows


def _interrupted(error: BaseException) -> bool:
    """SQLite's "interrupted": the progress handler stopped a statement past its deadline."""
    return type(error).__name__ == "OperationalError" and str(error) == "interrupted"


async def _stop(driver: _Driver, conn: Any, task: asyncio.Future[Any]) -> None:
    """Ends ``task`` (a call on ``conn``) by shutting the connection's socket, and waits for it to end."""
    if not task.done():
        try:
            driver.stop(conn)
        except Exception as e:  # noqa: BLE001 - a connection closed under us ends its call anyway; say why it was not stopped
            log.warning("could not stop a database call on %s: %s", type(conn).__name__, e)
    try:
        await asyncio.wait((task,), timeout=STOP_WAIT)
    finally:
        if not task.done():
            task.cancel()
        task.add_done_callback(_retrieved)


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # the call's error once its socket was shut: the caller was told why (DatabaseTimeout, or its cancellation)


async def _open(u: DatabaseUrl, size: int, timeout: float) -> _Driver:
    if u.dialect == "postgres":
        return await _Postgres.open(u, size, timeout)
    if u.dialect == "mysql":
        return await _MySQL.open(u, size, timeout)
    return await _SQLite.open(u, size, timeout)


class ConnectFailed(ConnectionError):
    """A connect to the database failed: refused (at once, as the sync driver's connect is), or not answered in time."""


class ConnectTimeout(TimeoutError):
    """No connection within the database timeout: every pooled connection stayed in use, or the server did not answer."""


class _Postgres:
    """psycopg's AsyncConnection, pooled by psycopg_pool's AsyncConnectionPool.

    The pool connects in the background and, when the server refuses, keeps
    trying (with growing pauses) while its callers wait up to ``timeout``. So the
    outcome of every connect it makes is watched: while the last one failed at
    once (refused, an unknown host, a login refused: not a timeout, nor a server
    that is full), a caller with no idle connection to take does not wait. It
    tries one connect of its own (shared by the callers of that moment): the
    error, at once, if the server still refuses; if it answers, the pool is told
    to connect now and the caller waits for that connection. A caller already
    waiting is woken by the refusal. A server that is merely slow (a connect that
    times out, every connection busy) still gets the full ``timeout``.
    """

    def __init__(self, pool_module: Any, psycopg: Any, kwargs: dict[str, Any], size: int, timeout: float, name: str):
        self.refused: Exception | None = None  # why the last connect failed at once; None once one succeeds
        self._refusal = asyncio.Event()  # set while ``refused`` is
        self._probe: asyncio.Future[None] | None = None
        self.kwargs = kwargs
        self.timeout = timeout
        self.connection_class = _watched(psycopg.AsyncConnection, self)
        self.pool = pool_module.AsyncConnectionPool(
            kwargs=kwargs, connection_class=self.connection_class, min_size=1, max_size=size, timeout=timeout, open=False, name=name
        )

    @classmethod
    async def open(cls, u: DatabaseUrl, size: int, timeout: float) -> _Postgres:
        pool_module: Any = require("psycopg_pool", "a postgresql:// database URL on an AsyncRuntime")
        # The URL's libpq parameters and the statement timeout among the server options, as a sync connection's
        # (connect_timeout: the URL's, as a sync connection's; else the wait for a connection)
        kwargs = {"connect_timeout": max(1, int(timeout)), **postgres_params(u, u.timeouts), "autocommit": True}
        self = cls(pool_module, require("psycopg", "a postgresql:// database URL"), kwargs, size, timeout, u.redacted())
        await self.pool.open()
        return self

    def connected(self) -> None:
        self.refused = None
        self._refusal.clear()

    def connect_failed(self, error: Exception) -> None:
        sqlstate = getattr(error, "sqlstate", None) or ""
        if type(error).__name__ == "ConnectionTimeout" or sqlstate.startswith("53"):
            return  # slow, or full (53: insufficient resources): waiting may get a connection
        self.refused = error
        self._refusal.set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        conn = await self._take()
        try:
            yield conn
        except BaseException:
            if conn.broken:  # its socket shut (a call past its bound, a cancelled caller), or lost
                await conn.close()
            raise
        finally:
            await self.pool.putconn(conn)  # rolled back, or dropped when broken or closed, by the pool

    async def _take(self) -> Any:
        pool = self.pool
        if pool.get_stats()["pool_available"]:
            return await pool.getconn()
        deadline = time.monotonic() + self.timeout  # the probe and the wait, however many turns, get no more than one timeout
        while True:
            if self.refused is not None:
                if self._probe is None:
                    self._probe = asyncio.ensure_future(self._try_connect())
                    self._probe.add_done_callback(self._probed)
                await asyncio.shield(self._probe)  # raises what the connect raised
            getting = asyncio.ensure_future(pool.getconn(max(0.001, deadline - time.monotonic())))
            refusal = asyncio.ensure_future(self._refusal.wait())
            try:
                await asyncio.wait((getting, refusal), return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                _abandon(getting, pool.putconn)
                raise
            finally:
                refusal.cancel()
            if getting.done():
                return getting.result()
            _abandon(getting, pool.putconn)
            # refused while waiting: the next turn tries one connect (the probe) and raises its error

    async def _try_connect(self) -> None:
        try:
            conn = await self.connection_class.connect(**self.kwargs)
        except Exception as e:
            raise ConnectFailed(str(e).splitlines()[0]) from e
        await conn.close()
        await self.pool.check()  # the server answers again: the pool connects now, not after its pause

    def _probed(self, probe: asyncio.Future[None]) -> None:
        self._probe = None
        if not probe.cancelled():
            probe.exception()  # retrieved: each caller that awaited it raised it already

    async def begin(self, conn: Any) -> None:
        await conn.execute("BEGIN")

    async def end(self, conn: Any, commit: bool) -> None:
        await conn.execute("COMMIT" if commit else "ROLLBACK")

    async def cursor(self, conn: Any) -> Any:
        return conn.cursor()

    def stop(self, conn: Any) -> None:
        shut_down(conn)  # psycopg reads end-of-file at once, and marks the connection broken

    def deadline(self, conn: Any, seconds: float) -> None:
        pass

    async def close(self) -> None:
        await self.pool.close()


def _watched(base: Any, driver: _Postgres) -> Any:
    """``base`` (psycopg's AsyncConnection), telling ``driver`` how each of its connects went."""

    class Watched(base):  # type: ignore[misc]
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            try:
                conn = await super().connect(conninfo, **kwargs)
            except Exception as e:
                driver.connect_failed(e)
                raise
            driver.connected()
            return conn

    return Watched


class _MySQL:
    """aiomysql's pool: PyMySQL's protocol and converters (the sync driver's) under asyncio.

    The pool connects in its caller, so a refused connection is raised at once.
    aiomysql's ``connect_timeout`` bounds only the TCP connect, and a full pool is
    waited for without end: so taking a connection is bounded by ``timeout`` here.
    """

    def __init__(self, pool: Any, timeout: float, statement: float):
        self.pool = pool
        self.timeout = timeout
        self.statement = statement
        self.ready: WeakSet[Any] = WeakSet()  # connections whose session has the statement timeout

    @classmethod
    async def open(cls, u: DatabaseUrl, size: int, timeout: float) -> _MySQL:
        aiomysql: Any = require("aiomysql", "a mysql:// database URL on an AsyncRuntime")
        pool = await aiomysql.create_pool(
            minsize=0,
            maxsize=size,
            host=u.host,
            port=u.port or 3306,
            user=u.user,
            password=u.password,
            db=u.database,
            charset="utf8mb4",
            autocommit=True,
            init_command=MYSQL_INIT,
            connect_timeout=timeout,
        )
        return cls(pool, timeout, u.timeouts.statement)

    async def _put(self, conn: Any) -> None:
        self.pool.release(conn)

    async def _take(self) -> Any:
        """A pooled connection; a new one first gets the statement timeout, as a sync connection does."""
        conn = await self.pool.acquire()
        if self.statement and conn not in self.ready:
            try:
                async with conn.cursor() as cur:
                    if "mariadb" in conn.get_server_info().lower():
                        await cur.execute("SET SESSION max_statement_time = %s", (self.statement,))
                    else:
                        await cur.execute("SET SESSION max_execution_time = %s", (math.ceil(self.statement * 1000),))
            except BaseException:
                conn.close()
                self.pool.release(conn)
                raise
            self.ready.add(conn)
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        conn = await _within(self.timeout, self._take(), self._put)
        try:
            yield conn
        except BaseException:
            conn.close()  # broken or mid-statement: never back into the pool
            raise
        finally:
            self.pool.release(conn)

    async def begin(self, conn: Any) -> None:
        await conn.begin()

    async def end(self, conn: Any, commit: bool) -> None:
        await (conn.commit() if commit else conn.rollback())

    async def cursor(self, conn: Any) -> Any:
        return await conn.cursor()

    def stop(self, conn: Any) -> None:
        writer = conn._writer  # aiomysql's stream; None once closed
        if writer is not None:
            writer.transport.abort()  # the read under way ends at once: "Lost connection"

    def deadline(self, conn: Any, seconds: float) -> None:
        pass

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


_giving_back: set[asyncio.Task[None]] = set()  # kept referenced until they ran


async def _within(seconds: float, taking: Awaitable[T], put: Callable[[T], Awaitable[None]]) -> T:
    """What ``taking`` gives (a pooled connection, or room for one) within ``seconds``, else ConnectTimeout."""
    task = asyncio.ensure_future(taking)
    try:
        await asyncio.wait((task,), timeout=seconds)
    except BaseException:
        _abandon(task, put)
        raise
    if task.done():
        return task.result()
    _abandon(task, put)
    raise ConnectTimeout(f"no database connection within {seconds:g} s: every pooled connection stayed in use, or the server did not answer")


def _abandon(taking: asyncio.Future[T], put: Callable[[T], Awaitable[None]]) -> None:
    """Cancels ``taking`` (not waited for any longer); what it got all the same goes back through ``put``."""

    def give_back(done: asyncio.Future[T]) -> None:
        if not done.cancelled() and done.exception() is None:
            task = asyncio.ensure_future(put(done.result()))
            _giving_back.add(task)
            task.add_done_callback(_giving_back.discard)

    taking.cancel()
    taking.add_done_callback(give_back)


class _SQLite:
    """aiosqlite connections (each the SQLite driver on a thread of its own), pooled here."""

    def __init__(self, u: DatabaseUrl, size: int, timeout: float):
        self.u = u
        self.free: list[Any] = []
        self.room = asyncio.Semaphore(size)
        self.timeout = timeout
        self.closed = False
        self.raw: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()  # aiosqlite connection -> its SQLite connection

    @classmethod
    async def open(cls, u: DatabaseUrl, size: int, timeout: float) -> _SQLite:
        require("aiosqlite", "a sqlite:// database URL on an AsyncRuntime")
        return cls(u, size, timeout)

    async def _connect(self) -> Any:
        import aiosqlite

        path = self.u.path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        statement = self.u.timeouts.statement
        opened: list[Any] = []

        def connect() -> Any:  # on aiosqlite's thread, as are the progress handler's calls
            raw = driver.connect(path, isolation_level=None, timeout=statement or SQLITE_BUSY_TIMEOUT, factory=SQLiteConnection)
            if statement:
                raw.set_progress_handler(raw.past_deadline, SQLITE_CHECK_EVERY)
            opened.append(raw)
            return raw

        # aiosqlite's own connect() opens Python's sqlite3; the connector opens the runtime's driver (sqlean.py when installed)
        conn = await aiosqlite.Connection(connect, iter_chunk_size=64)
        self.raw[conn] = opened[0]
        await conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode = WAL")
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        await _within(self.timeout, self.room.acquire(), self._give_room)
        try:
            conn = self.free.pop() if self.free else await self._connect()
            try:
                yield conn
            except BaseException:
                await asyncio.shield(conn.close())
                raise
            if self.closed:
                await conn.close()
            else:
                self.free.append(conn)
        finally:
            self.room.release()

    async def _give_room(self, _: bool) -> None:
        self.room.release()

    async def begin(self, conn: Any) -> None:
        await conn.execute("BEGIN IMMEDIATE")

    async def end(self, conn: Any, commit: bool) -> None:
        await conn.execute("COMMIT" if commit else "ROLLBACK")

    async def cursor(self, conn: Any) -> Any:
        return await conn.cursor()

    def stop(self, conn: Any) -> None:
        self.raw[conn].interrupt()  # SQLite's own, from any thread

    def deadline(self, conn: Any, seconds: float) -> None:
        self.raw[conn].deadline = time.monotonic() + seconds  # read by the progress handler on aiosqlite's thread

    async def close(self) -> None:
        self.closed = True
        free, self.free = self.free, []
        for conn in free:
            await conn.close()
