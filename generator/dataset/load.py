"""Bulk-load the data set into MariaDB/MySQL, PostgreSQL or SQLite, as a database engineer would.

PostgreSQL: COPY FROM STDIN, constraints and indexes after the rows. MariaDB:
multi-row INSERTs (pymysql's executemany packs them up to 1 MB) with
foreign-key and unique checks off during the load. SQLite: one transaction,
synchronous off. Secondary indexes are created after the rows are in, and
the database is analysed at the end.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

from flughafen.config import DatabaseUrl, Timeouts, parse_database_url
from flughafen.db import _sqlite_arg, connect
from generator.dataset import ddl
from generator.dataset.generate import SCALES, SEED, bookings, flights, reference_rows
from generator.model import Dialect
from generator.schema import Catalog, TableDef, load_catalog

# The FlughafenDB tables (package data); specs/schema.sql, the demo's schema, is the same file.
SCHEMA = Path(str(resources.files("generator.dataset") / "flughafendb" / "schema.sql"))
META_TABLE = "flughafen_meta"
EXTRA_TABLES = (META_TABLE, "flughafen_applied_writes")
BATCH = 5_000


@dataclass
class LoadReport:
    database: str
    scale: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Progress:
    """One line on stderr per table, redrawn at most ten times a second."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.quiet = not enabled
        self._last = 0.0

    def update(self, table: str, done: int, start: float, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not final and (not self.enabled or now - self._last < 0.1):
            return
        self._last = now
        rate = done / max(now - start, 1e-6)
        line = f"  {table:<17} {done:>10,} rows  {rate:>10,.0f} rows/s"
        if self.enabled:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        elif final:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def fingerprint(scale: str) -> str:
    """Identifies the data a load produces: the schema, the generator's seed, the scale."""
    text = SCHEMA.read_text(encoding="utf-8") + f"\n{SEED}\n{scale}\n" + Path(__file__).with_name("generate.py").read_text(encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_database(url: DatabaseUrl) -> None:
    """Create the database of a server URL when it does not exist yet (connecting with the URL's options)."""
    if url.dialect == "sqlite":
        Path(url.path).parent.mkdir(parents=True, exist_ok=True)
        return
    if url.dialect == "mysql":
        conn = connect(url, database="")
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()
        return
    with connect(url, database="postgres") as pg:
        if pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone() is None:
            pg.execute(f'CREATE DATABASE "{url.database}"')


def table_rows(catalog: Catalog, table: TableDef, scale: str) -> Iterator[tuple[Any, ...]]:
    if table.name == "flight":
        return flights(catalog, scale)
    if table.name == "booking":
        return bookings(catalog, scale)
    return reference_rows(table)


def _chunks(rows: Iterable[tuple[Any, ...]], n: int) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk


def _load_table(conn: Any, dialect: Dialect, table: TableDef, rows: Iterable[tuple[Any, ...]], progress: Progress) -> int:
    q = functools.partial(ddl.quote, dialect=dialect)
    columns = ", ".join(q(c.name) for c in table.columns)
    start = time.monotonic()
    done = 0
    if dialect == "postgres":
        with conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % 20_000 == 0:
                    progress.update(table.name, done, start)
    else:
        mark = "%s" if dialect == "mysql" else "?"
        sql = f"INSERT INTO {q(table.name)} ({columns}) VALUES ({', '.join([mark] * len(table.columns))})"
        cur = conn.cursor()
        for chunk in _chunks(rows, BATCH):
            if dialect == "sqlite":
                chunk = [tuple(_sqlite_arg(v) for v in r) for r in chunk]
            cur.executemany(sql, chunk)
            done += len(chunk)
            progress.update(table.name, done, start)
        cur.close()
    progress.update(table.name, done, start, final=True)
    return done


def _run(conn: Any, statements: Iterable[str]) -> None:
    cur = conn.cursor()
    for s in statements:
        cur.execute(s)
    cur.close()


def load(database_url: str, scale: str = "tiny", progress: bool = True, catalog: Catalog | None = None) -> LoadReport:
    """Drop and recreate the schema in ``database_url`` and load the ``scale`` data set."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    url = parse_database_url(database_url)
    catalog = catalog or load_catalog(SCHEMA)
    dialect = url.dialect
    ensure_database(url)
    report = LoadReport(url.redacted(), scale)
    bar = Progress(progress)
    started = time.monotonic()
    if progress:
        sys.stderr.write(f"loading FlughafenDB ({scale}) into {url.redacted()}\n")
    # A bulk load runs long statements (COPY, index builds): no statement or read bound, only the connect one.
    conn = connect(url, autocommit=dialect != "sqlite", timeouts=Timeouts(url.timeouts.connect, 0.0, 0.0))
    try:
        order = ddl.load_order(catalog)
        drop = "DROP TABLE IF EXISTS {} CASCADE" if dialect == "postgres" else "DROP TABLE IF EXISTS {}"
        setup = ["SET FOREIGN_KEY_CHECKS = 0", "SET UNIQUE_CHECKS = 0"] if dialect == "mysql" else []
        if dialect == "sqlite":
            setup = ["PRAGMA foreign_keys = OFF", "PRAGMA synchronous = OFF"]
        _run(conn, setup)
        _run(conn, [drop.format(ddl.quote(n, dialect)) for n in (*EXTRA_TABLES, *(t.name for t in reversed(order)))])
        _run(conn, [ddl.create_table(t, dialect, with_constraints=dialect != "postgres") for t in order])
        if dialect == "sqlite":
            conn.execute("BEGIN")
        for table in order:
            report.rows[table.name] = _load_table(conn, dialect, table, table_rows(catalog, table, scale), bar)
        after = [s for t in order for s in ddl.index_statements(t, dialect)]
        if dialect == "postgres":
            after += [s for t in order for s in ddl.postgres_constraints(t)]
            after += [
                f'SELECT setval(pg_get_serial_sequence(\'"{t.name}"\', \'{c.name}\'), (SELECT MAX("{c.name}") FROM "{t.name}"))'
                for t in order
                for c in t.columns
                if c.auto_increment
            ]
        text = "VARCHAR(100)"
        after.append(f"CREATE TABLE {ddl.quote(META_TABLE, dialect)} (name {text} PRIMARY KEY, value {text} NOT NULL)")
        _run(conn, after)
        mark = "?" if dialect == "sqlite" else "%s"
        cur = conn.cursor()
        cur.executemany(
            f"INSERT INTO {ddl.quote(META_TABLE, dialect)} (name, value) VALUES ({mark}, {mark})",
            [("scale", scale), ("fingerprint", fingerprint(scale))],
        )
        cur.close()
        if dialect == "sqlite":
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        elif dialect == "mysql":
            _run(conn, ["SET FOREIGN_KEY_CHECKS = 1", "SET UNIQUE_CHECKS = 1"])
            _run(conn, [f"ANALYZE TABLE {ddl.quote(t.name, dialect)}" for t in order])
        else:
            _run(conn, ["ANALYZE"])
    finally:
        conn.close()
    report.seconds = time.monotonic() - started
    if progress:
        total = sum(report.rows.values())
        sys.stderr.write(f"loaded {total:,} rows in {report.seconds:.1f} s\n")
    return report


def is_loaded(database_url: str, scale: str) -> bool:
    """True when the database holds exactly the data set ``load(url, scale)`` produces."""
    url = parse_database_url(database_url)
    if url.dialect == "sqlite" and not Path(url.path).exists():
        return False
    try:
        conn = connect(url)
    except Exception:  # noqa: BLE001 - no database yet means: not loaded
        return False
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT name, value FROM {ddl.quote(META_TABLE, url.dialect)}")
        meta = dict(cur.fetchall())
        cur.close()
    except Exception:  # noqa: BLE001 - no meta table: not loaded by us
        return False
    finally:
        conn.close()
    return meta.get("scale") == scale and meta.get("fingerprint") == fingerprint(scale)
