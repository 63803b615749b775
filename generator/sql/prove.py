"""The last step of the SQL stage: each dialect's SQL proven by the real engine, at build (FG072).

sqlglot can write SQL that its target does not accept (a type that does not
exist there, a function with the wrong number of arguments, ``ORDER BY NULL``
on PostgreSQL). So every statement the build holds (each spec's SQL, and the
lookup SELECT a write runs first) is prepared by the engine itself:
``EXPLAIN`` on an empty copy of the schema, with a value of each parameter's
type bound as the driver binds it. Nothing runs, no row is read.

- SQLite: a database in memory, always (about a millisecond a statement).
- MariaDB/MySQL and PostgreSQL: each server of ``test_databases`` in
  ``[tool.flughafen]``, at the same time. MariaDB/MySQL gets a scratch
  database (``flughafen_build_<pid>_<n>``, dropped at the end; its tables are
  temporary on MariaDB, which is four times faster to make), PostgreSQL
  temporary tables in its ``postgres`` database (gone with the session).

A statement an engine refuses is an error at the spec's SQL, naming the
dialect, the engine and its message. A server that does not answer is told in
the build's summary and its dialect is proven on SQLite only; with ``strict``
(the CLI sets it when ``CI=true``) the build fails instead
(``ProofUnavailable``), so that CI never loses the proof quietly.
``build --offline`` proves on SQLite only, and says so.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flughafen.config import ConfigError, DatabaseUrl, parse_database_url, redact
from flughafen.extras import MissingExtra, require
from flughafen.sqlite_driver import driver
from generator.dataset import ddl
from generator.diagnostics import Diagnostic, SpecError
from generator.model import CompiledQuery, Dialect, PyType, Spec
from generator.schema import Catalog

# A value of each parameter type, bound as the runtime binds one (the driver chooses the wire type).
PROBE: dict[PyType, object] = {
    "int": 1,
    "float": 1.5,
    "decimal": Decimal("1.50"),
    "str": "A",
    "bool": True,
    "date": datetime.date(2024, 12, 15),
    "datetime": datetime.datetime(2024, 12, 15, 8, 30),
    "time": datetime.time(8, 30),
}
CONNECT_TIMEOUT = 5  # seconds: a server that does not answer by then is reported as such
ENGINE_NAMES: dict[Dialect, str] = {"mysql": "MariaDB/MySQL", "postgres": "PostgreSQL", "sqlite": "SQLite"}


class ProofUnavailable(ConnectionError):
    """A configured server did not answer, and the build may not go on without it (``strict``)."""


@dataclass
class Proof:
    """Where the build proves each dialect's SQL, and what it found (``report``, for the command to print)."""

    servers: tuple[str, ...] = ()  # server URLs: mysql://user@host:port, postgresql://user@host:port
    strict: bool = False  # a server that does not answer fails the build (CI=true)
    offline: bool = False  # the servers are left out on purpose (build --offline)
    report: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Held:
    """One statement the build holds for every dialect, and the spec it comes from."""

    spec: Spec
    sql: Mapping[Dialect, str]
    param_order: tuple[str, ...]
    what: str = "SQL"  # how the message names it: "SQL", "lookup SELECT"

    def args(self) -> tuple[object, ...]:
        """A probe value of each placeholder's parameter type, in placeholder order."""
        types = {p.name: p.type for p in self.spec.params}
        return tuple(PROBE[types.get(name, "str")] for name in self.param_order)


class Engine:
    """A database that prepares statements on an empty copy of the schema."""

    dialect: Dialect
    label: str  # for messages: "PostgreSQL 15.20 (postgresql://postgres@127.0.0.1:5432)"

    def refusal(self, sql: str, args: tuple[object, ...]) -> str | None:
        """The engine's message when it refuses ``EXPLAIN sql``, else None."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteEngine(Engine):
    """SQLite in memory, with the runtime's driver (sqlean.py when installed, else Python's sqlite3)."""

    dialect: Dialect = "sqlite"

    def __init__(self, catalog: Catalog) -> None:
        self.label = f"SQLite {driver.sqlite_version} (in memory)"
        self.conn = driver.connect(":memory:")
        for table in ddl.load_order(catalog):
            self.conn.execute(ddl.create_table(table, "sqlite", with_constraints=False))

    def refusal(self, sql: str, args: tuple[object, ...]) -> str | None:
        try:
            self.conn.execute("EXPLAIN " + sql, tuple(_sqlite_value(a) for a in args)).fetchall()
        except driver.Error as e:
            return str(e)
        return None

    def close(self) -> None:
        self.conn.close()


def _sqlite_value(value: object) -> object:
    """A probe value as the runtime binds it for sqlite3 (dates as ISO text, decimals as text)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time, Decimal)):
        return str(value)
    return value


class ServerEngine(Engine):
    """MariaDB/MySQL or PostgreSQL: a scratch copy of the schema on a server of ``test_databases``."""

    def __init__(self, server: str, catalog: Catalog, index: int = 0) -> None:
        url = _server_url(server)
        self.dialect = url.dialect
        self.shown = redact(server)
        self.scratch = f"flughafen_build_{os.getpid()}_{index}"  # two URLs may name one server
        self.conn: Any = None
        self.conn = _connect(url)
        try:
            cur = self.conn.cursor()
            if self.dialect == "mysql":
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchall()[0][0]).split("-")[0]
                cur.execute(f"DROP DATABASE IF EXISTS `{self.scratch}`")
                cur.execute(f"CREATE DATABASE `{self.scratch}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute(f"USE `{self.scratch}`")
                name = "MariaDB" if "mariadb" in str(self.conn.get_server_info()).lower() else "MySQL"
            else:
                version = str(self.conn.info.parameter_status("server_version") or "").split(" ")[0]
                name = "PostgreSQL"
            temporary = name in ("MariaDB", "PostgreSQL")  # MySQL cannot read a temporary table twice in one query (a self-join)
            for table in ddl.load_order(catalog):
                create = ddl.create_table(table, self.dialect, with_constraints=False)
                cur.execute(create.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1) if temporary else create)
            cur.close()
        except Exception:
            self.close()
            raise
        self.label = f"{name} {version} ({self.shown})"

    def refusal(self, sql: str, args: tuple[object, ...]) -> str | None:
        cur = self.conn.cursor()
        try:
            cur.execute("EXPLAIN " + sql, args)
            cur.fetchall()
        except self._errors() as e:
            return _message(e)
        finally:
            cur.close()
        return None

    def _errors(self) -> tuple[type[BaseException], ...]:
        """The driver's errors for a statement the server refused (a lost connection is not one)."""
        if self.dialect == "mysql":
            pymysql: Any = require("pymysql", "a mysql:// server in test_databases")
            return (pymysql.err.ProgrammingError, pymysql.err.OperationalError, pymysql.err.InternalError, pymysql.err.DataError, pymysql.err.NotSupportedError)
        psycopg: Any = require("psycopg", "a postgresql:// server in test_databases")
        return (psycopg.errors.DatabaseError,)

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            if self.dialect == "mysql":
                cur = self.conn.cursor()
                cur.execute(f"DROP DATABASE IF EXISTS `{self.scratch}`")
                cur.close()
        finally:
            self.conn.close()
            self.conn = None


def _server_url(server: str) -> DatabaseUrl:
    """A server of ``test_databases`` as a URL of the database the proof connects to."""
    scheme = server.partition("://")[0].lower()
    if scheme in ("postgresql", "postgres"):
        url = parse_database_url(f"{server.rstrip('/')}/postgres")
    elif scheme in ("mysql", "mariadb", "mysql+pymysql"):
        url = parse_database_url(f"{server.rstrip('/')}/mysql")
    else:
        raise ConfigError(f"test_databases: {redact(server)!r} is not a mysql:// or postgresql:// server")
    return url


def _connect(url: DatabaseUrl) -> Any:
    """A connection with a connect timeout (the runtime's own connections wait longer)."""
    if url.dialect == "mysql":
        pymysql: Any = require("pymysql", "a mysql:// server in test_databases")
        return pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=60,
            write_timeout=60,
        )
    psycopg: Any = require("psycopg", "a postgresql:// server in test_databases")
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password or None,
        dbname=url.database,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT,
    )


def _message(e: BaseException) -> str:
    """The server's message in one line, without the driver's decoration."""
    diag = getattr(e, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if isinstance(primary, str) and primary:
        return primary
    args: tuple[object, ...] = e.args
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]  # pymysql: (code, message)
    return " ".join(str(e).split())


def held_statements(queries: Iterable[CompiledQuery], lookups: Iterable[tuple[Spec, Any]] = ()) -> list[Held]:
    """Every statement the build holds: each spec's SQL, then each write's lookup SELECT."""
    held = [Held(q.spec, q.sql, q.param_order) for q in queries]
    held += [Held(spec, lookup.sql, lookup.param_order, "lookup SELECT (run before the write)") for spec, lookup in lookups]
    return held


def prove(held: Sequence[Held], catalog: Catalog, proof: Proof) -> None:
    """Prepare every held statement on every engine; raise SpecError (FG072) naming each refusal.

    The servers work at the same time, each on a thread of its own. Fills
    ``proof.report`` with what was proven where. Raises ProofUnavailable when
    a server does not answer and ``proof.strict``.
    """
    started = time.perf_counter()
    servers = () if proof.offline else proof.servers
    with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        running = [(server, pool.submit(_on_server, server, catalog, held, i)) for i, server in enumerate(servers)]
        sqlite = SqliteEngine(catalog)
        try:
            labels, problems = [sqlite.label], _refusals(sqlite, held)
        finally:
            sqlite.close()
        skipped: list[str] = []
        for server, future in running:
            try:
                label, found = future.result()
            except _unusable() as e:
                skipped.append(f"{redact(server)} (test_databases) did not answer: {_message(e)}")
                continue
            labels.append(label)
            problems += found
    if skipped and proof.strict:
        raise ProofUnavailable(
            f"{skipped[0]}; with CI=true the build does not skip proving the SQL on a server: start it, "
            "or run `flughafen-gen build --offline` to prove on SQLite only"
        )
    ms = (time.perf_counter() - started) * 1000
    proof.report.append(f"checked {len(held)} statement(s) by EXPLAIN on {', '.join(labels)} in {ms:.0f} ms")
    if proof.offline and proof.servers:
        proof.report.append(f"offline: not proven on {', '.join(redact(s) for s in proof.servers)} (build --offline)")
    proof.report += [f"warning: {why}; its dialect's SQL is not proven on a server" for why in skipped]
    if problems:
        raise SpecError(problems)


def _on_server(server: str, catalog: Catalog, held: Sequence[Held], index: int) -> tuple[str, list[Diagnostic]]:
    """(the server's label, its refusals): a scratch copy of the schema made, used and dropped."""
    engine = ServerEngine(server, catalog, index)
    try:
        return engine.label, _refusals(engine, held)
    finally:
        engine.close()


def _refusals(engine: Engine, held: Sequence[Held]) -> list[Diagnostic]:
    """FG072 for each statement ``engine`` refuses."""
    diags = []
    for h in held:
        message = engine.refusal(h.sql[engine.dialect], h.args())
        if message is not None:
            diags.append(
                Diagnostic(
                    h.spec.sql_span,
                    "FG072",
                    f"the {engine.dialect} {h.what} the build holds for this spec is refused by {engine.label}: {message}; "
                    f"`flughafen-gen show {h.spec.name} --dialect {engine.dialect}` prints it. Rewrite the construct the message names "
                    "(docs/portability.md lists portable spellings)",
                )
            )
    return diags


def _unusable() -> tuple[type[BaseException], ...]:
    """What makes a server unusable for the proof: not there, refusing us, or its driver not installed."""
    found: list[type[BaseException]] = [OSError, ConfigError, MissingExtra]
    try:
        import pymysql

        found.append(pymysql.err.MySQLError)
    except ImportError:
        pass
    try:
        import psycopg

        found.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(found)
