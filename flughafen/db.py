"""Database access: pymysql, psycopg 3 and sqlite3 behind one small pooled interface.

Parameters are always bound by the driver, never formatted into SQL. Rows come
back as tuples of driver values; convert.py turns them into the same Python
values on every database.
"""

from __future__ import annotations

import datetime
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from weakref import WeakSet

from flughafen.extras import require
from flughafen.config import DatabaseUrl, parse_database_url


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, args: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...
    def close(self) -> None: ...


class QueryError(RuntimeError):
    """A database error, naming the query and the (redacted) database."""


def _sqlite_arg(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def bind_values(dialect: str, values: Sequence[Any]) -> tuple[Any, ...]:
    """Parameter values as the dialect's driver binds them (SQLite: text for dates, times and decimals)."""
    if dialect == "sqlite":
        return tuple(_sqlite_arg(v) for v in values)
    return tuple(values)


def connect(url: DatabaseUrl | str, autocommit: bool = True) -> Any:
    """A raw DB-API connection for ``url`` (autocommit unless asked otherwise)."""
    u = parse_database_url(url) if isinstance(url, str) else url
    if u.dialect == "mysql":
        pymysql: Any = require("pymysql", "a mysql:// database URL")
        return pymysql.connect(
            host=u.host,
            port=u.port or 3306,
            user=u.user,
            password=u.password,
            database=u.database,
            charset="utf8mb4",
            autocommit=autocommit,
            local_infile=True,
        )
    if u.dialect == "postgres":
        psycopg: Any = require("psycopg", "a postgresql:// database URL")
        return psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.user,
            password=u.password or None,
            dbname=u.database,
            autocommit=autocommit,
        )
    if u.path != ":memory:":
        Path(u.path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(u.path, check_same_thread=False, isolation_level=None if autocommit else "DEFERRED", timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    if u.path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    return conn


class Database:
    """A pool of connections to one database."""

    def __init__(self, url: DatabaseUrl | str, size: int = 8):
        self.url = parse_database_url(url) if isinstance(url, str) else url
        self.dialect = self.url.dialect
        self._size = size
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=size)
        self._lock = threading.Lock()
        self._closed = False
        _DATABASES.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's pooled connections set aside (see _INHERITED), a new empty pool.

        Read without the pool's lock, which a thread that does not exist in
        the child may have held at the fork.
        """
        _INHERITED.extend(self._pool.queue)
        self._pool = queue.LifoQueue(maxsize=self._size)
        self._lock = threading.Lock()

    def _take(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return connect(self.url)

    def _give(self, conn: Any) -> None:
        if self._closed:
            conn.close()
            return
        try:
            self._pool.put_nowait(conn)
        except queue.Full:
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self._take()
        try:
            yield conn
        except BaseException:
            _discard(conn)
            raise
        self._give(conn)

    def args(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return bind_values(self.dialect, values)

    def query(self, sql: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, self.args(values))
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()

    def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """A statement that returns no rows (DDL, a single write); returns the row count."""
        with self.connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, self.args(values))
                return int(cur.rowcount)
            finally:
                cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on error."""
        with self.connection() as conn:
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
            elif self.dialect == "mysql":
                conn.begin()
            else:
                conn.execute("BEGIN")
            cur = conn.cursor()
            try:
                yield cur
            except BaseException:
                cur.close()
                _end(conn, self.dialect, "ROLLBACK")
                raise
            cur.close()
            _end(conn, self.dialect, "COMMIT")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                _discard(self._pool.get_nowait())
            except queue.Empty:
                return


def _end(conn: Any, dialect: str, statement: str) -> None:
    if dialect == "mysql":
        conn.commit() if statement == "COMMIT" else conn.rollback()
    else:
        conn.execute(statement)


def _discard(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped either way
        pass


# A forked child's copies of its parent's pooled connections: kept, never used,
# closed or collected. The child shares their sockets with the parent, and
# closing one would end the parent's session (psycopg sends Terminate on close,
# pymysql COM_QUIT); SQLite forbids carrying a connection across fork at all.
_INHERITED: list[Any] = []
_DATABASES: WeakSet[Database] = WeakSet()


def _after_fork_in_child() -> None:
    for database in list(_DATABASES):
        database._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
