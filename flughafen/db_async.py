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
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from flughafen import tracing
from flughafen.config import DatabaseUrl, parse_database_url
from flughafen.db import MYSQL_INIT, bind_values
from flughafen.extras import require
from flughafen.sqlite_driver import driver

DEFAULT_TIMEOUT = 5.0  # seconds a caller waits for a pooled connection (PostgreSQL), or to connect


class AsyncCursor(Protocol):
    rowcount: int

    async def execute(self, sql: str, args: Sequence[Any] = ...) -> Any: ...
    async def fetchall(self) -> Sequence[Sequence[Any]]: ...


class _Driver(Protocol):
    def connection(self) -> Any:
        """An async context manager: a pooled connection, given back (or dropped when it failed) after."""

    async def begin(self, conn: Any) -> None: ...
    async def end(self, conn: Any, commit: bool) -> None: ...
    async def cursor(self, conn: Any) -> Any: ...
    async def close(self) -> None: ...


class AsyncDatabase:
    """A pool of async connections to one database (see the module's docstring)."""

    def __init__(self, url: DatabaseUrl | str, size: int = 8, timeout: float = DEFAULT_TIMEOUT):
        self.url = parse_database_url(url) if isinstance(url, str) else url
        self.dialect = self.url.dialect
        self.size = size
        self.timeout = timeout
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
                cur = await driver.cursor(conn)
                await cur.execute(sql, self.args(values))
                return [tuple(r) for r in await cur.fetchall()]

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """A statement that returns no rows (DDL, a single write); returns the row count."""
        driver = self._driver or await self.driver()
        async with driver.connection() as conn:
            cur = await driver.cursor(conn)
            await cur.execute(sql, self.args(values))
            return int(cur.rowcount)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncCursor]:
        """A cursor inside one transaction: committed on success, rolled back on error (or cancellation)."""
        driver = self._driver or await self.driver()
        async with driver.connection() as conn:
            await driver.begin(conn)
            try:
                yield await driver.cursor(conn)
            except BaseException:
                await asyncio.shield(driver.end(conn, commit=False))
                raise
            await driver.end(conn, commit=True)

    async def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.close()


async def _open(u: DatabaseUrl, size: int, timeout: float) -> _Driver:
    if u.dialect == "postgres":
        return await _Postgres.open(u, size, timeout)
    if u.dialect == "mysql":
        return await _MySQL.open(u, size, timeout)
    return await _SQLite.open(u, size, timeout)


class _Postgres:
    """psycopg's AsyncConnection, pooled by psycopg_pool's AsyncConnectionPool."""

    def __init__(self, pool: Any):
        self.pool = pool

    @classmethod
    async def open(cls, u: DatabaseUrl, size: int, timeout: float) -> _Postgres:
        pool_module: Any = require("psycopg_pool", "a postgresql:// database URL on an AsyncRuntime")
        kwargs = {
            "host": u.host,
            "port": u.port or 5432,
            "user": u.user,
            "password": u.password or None,
            "dbname": u.database,
            "autocommit": True,
            "connect_timeout": max(1, int(timeout)),
        }
        pool = pool_module.AsyncConnectionPool(kwargs=kwargs, min_size=1, max_size=size, timeout=timeout, open=False, name=u.redacted())
        await pool.open()
        return cls(pool)

    def connection(self) -> Any:
        return self.pool.connection()

    async def begin(self, conn: Any) -> None:
        await conn.execute("BEGIN")

    async def end(self, conn: Any, commit: bool) -> None:
        await conn.execute("COMMIT" if commit else "ROLLBACK")

    async def cursor(self, conn: Any) -> Any:
        return conn.cursor()

    async def close(self) -> None:
        await self.pool.close()


class _MySQL:
    """aiomysql's pool: PyMySQL's protocol and converters (the sync driver's) under asyncio."""

    def __init__(self, pool: Any):
        self.pool = pool

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
        return cls(pool)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        conn = await self.pool.acquire()
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

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


class _SQLite:
    """aiosqlite connections (each the SQLite driver on a thread of its own), pooled here."""

    def __init__(self, u: DatabaseUrl, size: int, timeout: float):
        self.u = u
        self.free: list[Any] = []
        self.room = asyncio.Semaphore(size)
        self.timeout = timeout
        self.closed = False

    @classmethod
    async def open(cls, u: DatabaseUrl, size: int, timeout: float) -> _SQLite:
        require("aiosqlite", "a sqlite:// database URL on an AsyncRuntime")
        return cls(u, size, timeout)

    async def _connect(self) -> Any:
        import aiosqlite

        path = self.u.path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # aiosqlite's own connect() opens Python's sqlite3; the connector opens the runtime's driver (sqlean.py when installed)
        conn = await aiosqlite.Connection(lambda: driver.connect(path, isolation_level=None, timeout=30), iter_chunk_size=64)
        await conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode = WAL")
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self.room:
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

    async def begin(self, conn: Any) -> None:
        await conn.execute("BEGIN IMMEDIATE")

    async def end(self, conn: Any, commit: bool) -> None:
        await conn.execute("COMMIT" if commit else "ROLLBACK")

    async def cursor(self, conn: Any) -> Any:
        return await conn.cursor()

    async def close(self) -> None:
        self.closed = True
        free, self.free = self.free, []
        for conn in free:
            await conn.close()
