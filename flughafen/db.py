"""Database access: pymysql, psycopg 3 and sqlite3 (or sqlean.py: flughafen/sqlite_driver.py) behind one small pooled interface.

Parameters are always bound by the driver, never formatted into SQL. Rows come
back as tuples of driver values; convert.py turns them into the same Python
values on every database.

Every call is bounded (config.Timeouts): connecting by the connect timeout; a
statement by the server (the statement timeout); waiting for a reply by the
read timeout, after which the connection is dropped and DatabaseTimeout
raised. pymysql bounds its own socket reads; a PostgreSQL call that outlives
its read timeout has its socket shut down by the watchdog thread; a SQLite
statement that outlives its statement timeout is interrupted by its progress
handler.

A MySQL connection never sends a local file: LOAD DATA LOCAL INFILE is off, so a
server (or whoever stands in for it) cannot ask for one.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import logging
import math
import os
import re
import socket
import sqlite3  # aiosqlite raises the standard module's errors
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from weakref import WeakSet

from flughafen import tracing
from flughafen.config import TRUE_WORDS, ConfigError, DatabaseUrl, Timeouts, parse_database_url
from flughafen.extras import require
from flughafen.sqlite_driver import ORDERED_AGGREGATES, VERSION, driver

log = logging.getLogger("flughafen")

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a SQLite statement waits for another writer's lock, when no statement timeout is set
WATCHDOG_TICK = 0.1  # seconds between the watchdog's looks at the calls in flight
SQLITE_CHECK_EVERY = 100_000  # SQLite virtual machine steps between two looks at a statement's deadline (well under 1 ms)


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, args: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...
    def close(self) -> None: ...


# Every MySQL/MariaDB session: GROUP_CONCAT and MariaDB's JSON_ARRAYAGG cut their text at group_concat_max_len
# bytes (1 MiB on MariaDB, 1024 on MySQL) with only a warning; PostgreSQL and SQLite never do. The largest value
# both servers take keeps the text whole, so it is the same on every database.
MYSQL_INIT = "SET SESSION group_concat_max_len = 4294967295"


class QueryError(RuntimeError):
    """A database error, naming the query and the (redacted) database."""


class DatabaseTimeout(QueryError):
    """A database call outlived its bound (config.Timeouts); its connection was dropped."""


FILL_HINT = "fill it with `flughafen-gen db load --scale tiny`, or the project's seed"


def missing_table(url: DatabaseUrl, error: BaseException) -> str | None:
    """What to say when a SQLite database lacks a table the query reads (a file that was missing, or
    never filled): the resolved file and how to fill it; None for any other error.

    >>> missing_table(parse_database_url("sqlite:////srv/app/app.sqlite3"), driver.OperationalError("no such table: flight"))
    "the SQLite database /srv/app/app.sqlite3 has no table 'flight': fill it with `flughafen-gen db load --scale tiny`, or the project's seed"
    """
    text = str(error)
    if url.dialect != "sqlite" or not isinstance(error, (driver.OperationalError, sqlite3.OperationalError)) or not text.startswith("no such table: "):
        return None
    return f"the SQLite database {url.path} has no table {text.removeprefix('no such table: ')!r}: {FILL_HINT}"


_ORDERED_AGGREGATE = re.compile(r"\b(GROUP_CONCAT|JSON_GROUP_ARRAY)\s*\((?:[^()]|\([^()]*\))*\bORDER\s+BY\b", re.IGNORECASE)


def old_sqlite(url: DatabaseUrl, sql: str, error: BaseException) -> str | None:
    """What to say when a query with ORDER BY inside an aggregate fails on a SQLite older than 3.44
    (the build proved it on a newer one, from the ``sqlite`` extra); None for any other error."""
    if url.dialect != "sqlite" or VERSION >= ORDERED_AGGREGATES or not _ORDERED_AGGREGATE.search(sql):
        return None
    if not isinstance(error, (driver.OperationalError, sqlite3.OperationalError)):
        return None
    have = ".".join(map(str, VERSION))
    return f"this query orders inside an aggregate, which needs SQLite 3.44 or newer, and this process has SQLite {have}: pip install 'flughafen-gen[sqlite]' (sqlean.py)"


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


def connect(url: DatabaseUrl | str, autocommit: bool = True, *, database: str | None = None, timeouts: Timeouts | None = None) -> Any:
    """A raw DB-API connection for ``url`` (autocommit unless asked otherwise), with its options.

    ``database`` names another database on the same server ("" for none, on MySQL),
    ``timeouts`` replaces the URL's (a bulk load turns the statement and read bounds off).
    The read timeout of a PostgreSQL connection is kept only by Database's calls.
    """
    u = parse_database_url(url) if isinstance(url, str) else url
    t = timeouts or u.timeouts
    if u.dialect == "mysql":
        return _connect_mysql(u, t, autocommit, database)
    if u.dialect == "postgres":
        return _connect_postgres(u, t, autocommit, database)
    if u.path != ":memory:":
        Path(u.path).parent.mkdir(parents=True, exist_ok=True)
    busy = t.statement or SQLITE_BUSY_TIMEOUT
    conn: Any = driver.connect(u.path, check_same_thread=False, isolation_level=None if autocommit else "DEFERRED", timeout=busy, factory=SQLiteConnection)
    if t.statement:
        conn.set_progress_handler(conn.past_deadline, SQLITE_CHECK_EVERY)
    conn.execute("PRAGMA foreign_keys = ON")
    if u.path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    return conn


class SQLiteConnection(driver.Connection):  # type: ignore[misc] # sqlean.py or sqlite3 (flughafen/sqlite_driver.py)
    """A SQLite connection whose statements stop at ``deadline`` (time.monotonic(); Database sets it per call)."""

    deadline = math.inf

    def past_deadline(self) -> bool:
        """SQLite's progress handler, every SQLITE_CHECK_EVERY steps of a statement: True interrupts it."""
        return time.monotonic() > self.deadline


def _flag(value: str | None) -> bool | None:
    return None if value is None else value.lower() in TRUE_WORDS


def _mysql_tls(u: DatabaseUrl) -> dict[str, Any]:
    """pymysql's TLS arguments for the URL's ssl_* options (see README, "Database URLs")."""
    mode = (u.option("ssl_mode") or "").upper()
    ca, cert, key = u.option("ssl_ca"), u.option("ssl_cert"), u.option("ssl_key")
    verify_cert, verify_identity = _flag(u.option("ssl_verify_cert")), _flag(u.option("ssl_verify_identity"))
    if mode == "DISABLED":
        return {"ssl_disabled": True}
    if mode in ("", "PREFERRED") and not (ca or cert or verify_cert or verify_identity):
        return {}  # TLS when the server offers it, unverified: pymysql's default
    identity = mode == "VERIFY_IDENTITY" or bool(verify_identity)
    verify = identity or mode == "VERIFY_CA" or bool(verify_cert) or (ca is not None and verify_cert is None)
    try:
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = identity
        context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
        if cert is not None:
            context.load_cert_chain(cert, keyfile=key)
    except (OSError, ssl.SSLError) as e:
        which = "ssl_ca" if ca and not Path(ca).is_file() else "ssl_cert/ssl_key"
        raise ConfigError(f"database URL {u.redacted()!r}: {which}: {e}") from None
    return {"ssl": context}


def _connect_mysql(u: DatabaseUrl, t: Timeouts, autocommit: bool, database: str | None) -> Any:
    pymysql: Any = require("pymysql", "a mysql:// database URL")
    tls = _mysql_tls(u)
    conn = pymysql.connect(
        host=u.host,
        port=u.port or 3306,
        unix_socket=u.option("unix_socket"),
        user=u.user,
        password=u.password,
        database=u.database if database is None else (database or None),
        charset=u.option("charset") or "utf8mb4",
        autocommit=autocommit,
        local_infile=False,
        init_command=MYSQL_INIT,
        connect_timeout=t.connect or 31_536_000,  # pymysql's largest: "none"
        read_timeout=t.read or None,
        write_timeout=t.read or None,
        **tls,
    )
    try:
        cur = conn.cursor()
        if "ssl" in tls:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
            row = cur.fetchone()
            if not row or not row[1]:
                raise ConfigError(f"database URL {u.redacted()!r} asks for TLS, but the connection is not encrypted (the server has no TLS)")
        if t.statement:
            if "mariadb" in conn.get_server_info().lower():
                cur.execute("SET SESSION max_statement_time = %s", (t.statement,))
            else:
                cur.execute("SET SESSION max_execution_time = %s", (math.ceil(t.statement * 1000),))
        cur.close()
    except BaseException:
        _discard(conn)
        raise
    return conn


def postgres_params(u: DatabaseUrl, t: Timeouts) -> dict[str, Any]:
    """The URL's libpq parameters (libpq parses the URL: an unknown option is a ConfigError naming it), plus the timeouts."""
    psycopg: Any = require("psycopg", "a postgresql:// database URL")
    if not u.conninfo:  # a DatabaseUrl made by hand, not parsed: its fields
        fields = {"host": u.host, "port": u.port, "user": u.user, "password": u.password, "dbname": u.database}
        return {**{k: v for k, v in fields.items() if v}, **_postgres_bounds(t, "")}
    try:
        params: dict[str, Any] = psycopg.conninfo.conninfo_to_dict(u.conninfo)
    except psycopg.ProgrammingError as e:
        told = " ".join(str(e).split())
        for secret in (u.password, u.option("password"), u.option("sslpassword")):
            if secret:
                told = told.replace(secret, "***")
        raise ConfigError(f"database URL {u.redacted()!r}: {told}") from None
    return {**params, **_postgres_bounds(t, params.get("options", ""))}


def _postgres_bounds(t: Timeouts, options: str) -> dict[str, Any]:
    """libpq's connect_timeout, and the statement timeout among the server ``options``."""
    bounds: dict[str, Any] = {}
    if t.connect:
        bounds["connect_timeout"] = max(2, math.ceil(t.connect))  # libpq counts whole seconds, at least 2
    if t.statement:
        bounds["options"] = f"-c statement_timeout={math.ceil(t.statement * 1000)} {options}".strip()
    return bounds


def _connect_postgres(u: DatabaseUrl, t: Timeouts, autocommit: bool, database: str | None) -> Any:
    psycopg: Any = require("psycopg", "a postgresql:// database URL")
    params = postgres_params(u, t)
    if database is not None:
        params["dbname"] = database
    return psycopg.connect(autocommit=autocommit, **params)


def timeout_message(url: DatabaseUrl) -> str:
    """What DatabaseTimeout says: the (redacted) database and the bound its call outlived."""
    t = url.timeouts
    if url.dialect == "sqlite":
        return f"{url.redacted()}: the statement ran past statement_timeout={t.statement:g}s and was interrupted"
    return f"{url.redacted()}: no reply within read_timeout={t.read:g}s (a stalled server or network link?); the connection was dropped"


class _Watchdog:
    """Ends the PostgreSQL calls that outlive their deadline: one daemon thread per process.

    A call registers (a dictionary entry under a lock, no thread woken) and
    unregisters when it returns; every WATCHDOG_TICK the thread stops those past
    their deadline, under the same lock, so a call that has returned is never
    touched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, list[Any]] = {}  # id -> [deadline, stop, stopped]
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, stop: Callable[[], None]) -> int:
        n = next(self._ids)
        deadline = time.monotonic() + seconds
        with self._lock:
            self._calls[n] = [deadline, stop, False]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flughafen-db-watchdog", daemon=True)
                self._thread.start()
        return n

    def done(self, n: int) -> bool:
        """Unregister call ``n``; True when it was stopped for outliving its deadline."""
        with self._lock:
            call = self._calls.pop(n)
        return bool(call[2])

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK)
            now = time.monotonic()
            with self._lock:
                for call in self._calls.values():
                    if not call[2] and call[0] <= now:
                        call[2] = True
                        try:
                            call[1]()
                        except Exception as e:  # noqa: BLE001 - the call fails on its own then; say why it was not stopped
                            log.warning("could not stop a database call past its deadline: %s", e)

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._calls = {}
        self._thread = None


_WATCHDOG = _Watchdog()


def shut_down(conn: Any) -> None:
    """Shut a PostgreSQL connection's socket: the blocked call gets end-of-file at once (the connection is then dropped)."""
    fd = conn.pgconn.socket
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


class _Bounded:
    """One database call on ``conn``: PostgreSQL's read timeout kept by the watchdog, SQLite's
    statement timeout by its progress handler (pymysql keeps its own).

    On the way out, a call stopped for outliving its bound raises DatabaseTimeout,
    which says which bound and where.
    """

    __slots__ = ("call", "conn", "db")

    def __init__(self, db: Database, conn: Any):
        self.db = db
        self.conn = conn
        self.call: int | None = None

    def __enter__(self) -> None:
        db = self.db
        if db._bound:
            if db.dialect == "sqlite":
                self.conn.deadline = time.monotonic() + db._bound
            else:
                self.call = _WATCHDOG.watch(db._bound, functools.partial(shut_down, self.conn))

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.call is not None:
            stopped = _WATCHDOG.done(self.call)
        elif self.db.dialect == "sqlite" and self.db._bound:
            stopped = ev is not None and time.monotonic() > self.conn.deadline
            self.conn.deadline = math.inf
        else:
            stopped = ev is not None and _timed_out(ev)
        if stopped:
            raise DatabaseTimeout(self.db.timeout_message()) from ev


def _timed_out(error: BaseException) -> bool:
    """pymysql's "Lost connection ... (timed out)": its read timeout ended the call."""
    return type(error).__module__.startswith("pymysql") and isinstance(error.__context__, TimeoutError)


class _BoundedCursor:
    """A transaction's cursor whose every call is bounded (see _Bounded)."""

    def __init__(self, db: Database, conn: Any):
        self._db = db
        self._conn = conn
        self._cur = conn.cursor()

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with _Bounded(self._db, self._conn):
            return self._cur.execute(sql, args)

    def fetchall(self) -> Sequence[Sequence[Any]]:
        with _Bounded(self._db, self._conn):
            rows: Sequence[Sequence[Any]] = self._cur.fetchall()
            return rows

    def close(self) -> None:
        self._cur.close()


class PoolTimeout(QueryError):
    """Every connection of the pool stayed in use for as long as a caller may wait for one."""


# Driver error codes that say the connection itself is gone (MySQL/MariaDB): server gone
# away, lost connection, commands out of sync, connection was killed (MariaDB, MySQL 8).
_MYSQL_GONE = frozenset({1927, 2006, 2013, 2014, 2055, 4031})


def _is_read(sql: str) -> bool:
    """A SELECT: safe to run again on a fresh connection after its connection died."""
    return sql.lstrip().upper().startswith("SELECT")


class _Pool:
    """At most ``size`` connections open at once; callers beyond wait up to ``wait`` seconds.

    Idle connections are kept newest first (LIFO). A connection taken is checked
    cheaply, without a round trip (the driver's own closed/broken flags); one that
    died while idle is found by its first statement (see Database.query).
    """

    def __init__(self, open_one: Callable[[], Any], size: int, wait: float, describe: str):
        if size < 1:
            raise ConfigError(f"{describe}: the pool size must be at least 1, not {size}")
        self._open_one = open_one
        self.size = size
        self._wait = wait
        self._describe = describe
        self._cond = threading.Condition(threading.Lock())
        self.idle: list[Any] = []
        self.open = 0  # connections open: idle plus in use
        self.closed = False

    def take(self, fresh: bool = False) -> Any:
        """A pooled connection (or a new one: ``fresh`` skips the idle ones); waits while ``size`` are open."""
        deadline = time.monotonic() + self._wait
        with self._cond:
            while True:
                while self.idle and not fresh:
                    conn = self.idle.pop()
                    if _usable(conn):
                        return conn
                    self.open -= 1
                    _discard(conn)
                if self.open < self.size:
                    self.open += 1
                    break
                if fresh and self.idle:  # make room: the oldest idle connection closed for a fresh one
                    self.open -= 1
                    _discard(self.idle.pop(0))
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    if self.open < self.size or (self.idle and not fresh):
                        continue
                    raise PoolTimeout(
                        f"{self._describe}: all {self.size} connections of the pool (pool size {self.size}) stayed in use "
                        f"for {self._wait:g}s; raise the pool size or shorten the work done on a connection"
                    )
        try:
            return self._open_one()
        except BaseException:
            self.drop(None)
            raise

    def give(self, conn: Any) -> None:
        with self._cond:
            if self.closed or not _usable(conn):
                self.open -= 1
                _discard(conn)
            else:
                self.idle.append(conn)
            self._cond.notify()

    def drop(self, conn: Any) -> None:
        """A connection (None: one that failed to open) no longer counted: closed, its place given to a waiter."""
        if conn is not None:
            _discard(conn)
        with self._cond:
            self.open -= 1
            self._cond.notify()

    def drop_idle(self) -> None:
        """Close every idle connection: after one died, its siblings most likely did too (a server restart)."""
        with self._cond:
            idle, self.idle = self.idle, []
            self.open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            _discard(conn)

    def close(self) -> None:
        self.closed = True
        self.drop_idle()

    def after_fork(self) -> None:
        """In a forked child: the parent's connections set aside (see _INHERITED), none counted.

        Read without the lock, which a thread that does not exist in the child may
        have held at the fork.
        """
        _INHERITED.extend(self.idle)
        self.idle = []
        self.open = 0
        self._cond = threading.Condition(threading.Lock())


def _usable(conn: Any) -> bool:
    """The driver's own word that the connection is still open (no round trip)."""
    if isinstance(conn, driver.Connection):
        return True
    if hasattr(conn, "broken"):  # psycopg
        return not (conn.closed or conn.broken)
    return bool(conn.open)  # pymysql


def _connection_died(db: Database, conn: Any, error: BaseException) -> bool:
    """True when ``error`` says the connection itself is gone (not the statement, not a timeout)."""
    if isinstance(error, DatabaseTimeout) or db.dialect == "sqlite":
        return False
    if db.dialect == "postgres":
        return not _usable(conn)
    if type(error).__module__.startswith("pymysql"):
        code = error.args[0] if error.args and isinstance(error.args[0], int) else None
        return code in _MYSQL_GONE or not _usable(conn)
    return False


class Database:
    """A pool of connections to one database.

    ``size`` bounds the connections open at once; a caller that finds them all in
    use waits up to ``wait`` seconds, then PoolTimeout. A read (a SELECT through
    query()) whose connection turns out dead is run once more on a fresh
    connection; a write never is, nor anything inside transaction().
    """

    def __init__(self, url: DatabaseUrl | str, size: int = 8, wait: float = 30.0):
        self.url = parse_database_url(url) if isinstance(url, str) else url
        self.dialect = self.url.dialect
        if self.dialect == "postgres":
            postgres_params(self.url, self.url.timeouts)  # an option libpq does not know fails here, not at the first query
        t = self.url.timeouts
        # The bound _Bounded keeps: PostgreSQL's read timeout, SQLite's statement timeout (pymysql keeps its own).
        self._bound = {"postgres": t.read, "sqlite": t.statement}.get(self.dialect, 0.0)
        self._pool = _Pool(functools.partial(connect, self.url), size, wait, self.url.redacted())
        _DATABASES.add(self)

    def timeout_message(self) -> str:
        return timeout_message(self.url)

    def _after_fork(self) -> None:
        self._pool.after_fork()

    @contextmanager
    def connection(self, fresh: bool = False) -> Iterator[Any]:
        conn = self._pool.take(fresh)
        try:
            yield conn
        except BaseException as e:
            self._pool.drop(conn)
            if _connection_died(self, conn, e):
                self._pool.drop_idle()
            raise
        self._pool.give(conn)

    def args(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return bind_values(self.dialect, values)

    def query(self, sql: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql``. A SELECT whose connection died (a server restart, a killed session) runs once more on a fresh one."""
        with tracing.query_span(self.dialect, sql):
            return self._query(sql, values)

    def _query(self, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        for fresh in (False, True):
            died = False
            try:
                with self.connection(fresh) as conn:
                    cur = conn.cursor()
                    try:
                        with _Bounded(self, conn):
                            cur.execute(sql, self.args(values))
                            return [tuple(r) for r in cur.fetchall()]
                    except Exception as e:
                        died = _connection_died(self, conn, e)
                        raise
                    finally:
                        _close_cursor(cur)
            except Exception:
                if fresh or not died or not _is_read(sql):
                    raise
                log.info("%s: the connection died under a read; running it once more on a fresh connection", self.url.redacted())
        raise AssertionError("unreachable: the second attempt returns or raises")

    def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """A statement that returns no rows (DDL, a single write); returns the row count. Never run twice."""
        with self.connection() as conn:
            cur = conn.cursor()
            try:
                with _Bounded(self, conn):
                    cur.execute(sql, self.args(values))
                return int(cur.rowcount)
            finally:
                _close_cursor(cur)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on error. Each call is bounded."""
        with self.connection() as conn:
            with _Bounded(self, conn):
                if self.dialect == "sqlite":
                    conn.execute("BEGIN IMMEDIATE")
                elif self.dialect == "mysql":
                    conn.begin()
                else:
                    conn.execute("BEGIN")
            cur = _BoundedCursor(self, conn)
            try:
                yield cur
            except BaseException:
                cur.close()
                try:
                    _end(conn, self.dialect, "ROLLBACK")
                except Exception as e:  # noqa: BLE001 - a broken connection cannot roll back (the server does); the first error is the one to see
                    log.debug("rollback on %s failed: %s", self.url.redacted(), e)
                raise
            cur.close()
            with _Bounded(self, conn):
                _end(conn, self.dialect, "COMMIT")

    def close(self) -> None:
        self._pool.close()


def _close_cursor(cur: Any) -> None:
    """Close a cursor; on a connection that died under it, closing may fail too, and the first error is the one to see."""
    try:
        cur.close()
    except Exception as e:  # noqa: BLE001 - see the docstring
        log.debug("closing a cursor failed: %s", e)


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
    _WATCHDOG.after_fork()
    for database in list(_DATABASES):
        database._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
