"""Databases made from your schema: created, their tables as the build reads schema.sql, filled by your seed.

The test fixtures (flughafen/testing.py) make one per test server and drop it
at the end; ``flughafen-gen demo`` makes the configured database's tables when
it has none of them yet. The tables come from the same DDL the build checks
queries against, mapped to each dialect (generator/dataset/ddl.py).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flughafen.config import ConfigError, DatabaseUrl, parse_database_url
from flughafen.db import connect
from flughafen.runtime import Runtime
from flughafen.settings import SQLITE_TEST_DATABASE, Settings
from generator.dataset import ddl
from generator.dataset.load import ensure_database
from generator.schema import Catalog, load_catalog


def url_text(url: DatabaseUrl) -> str:
    """The URL to hand on: a SQLite file by its absolute path, wherever the cwd is."""
    return f"sqlite:///{url.path}" if url.dialect == "sqlite" and url.path != ":memory:" else url.raw


def test_database_url(server: str, name: str, folder: Path) -> DatabaseUrl:
    """The database ``name`` on a test server of ``test_databases`` (a file in ``folder`` for ``sqlite://``)."""
    if server == SQLITE_TEST_DATABASE:
        return parse_database_url(f"sqlite:///{folder / name}.sqlite3")
    return parse_database_url(f"{server.rstrip('/')}/{name}")


def create_database(url: DatabaseUrl) -> None:
    """A new, empty database: dropped first if one of that name is left from an earlier run."""
    drop_database(url)
    ensure_database(url)


def drop_database(url: DatabaseUrl) -> None:
    if url.dialect == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.path + suffix).unlink(missing_ok=True)
        return
    server = connect(_server_url(url))
    try:
        cur = server.cursor()
        if url.dialect == "mysql":
            cur.execute(f"DROP DATABASE IF EXISTS `{url.database}`")
        else:
            cur.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        cur.close()
    finally:
        server.close()


def _server_url(url: DatabaseUrl) -> DatabaseUrl:
    """The same server, connected to a database that is always there (none on MariaDB, ``postgres``)."""
    if url.dialect == "mysql":
        return DatabaseUrl(url.raw, "mysql", url.host, url.port, url.user, url.password, database="")
    return DatabaseUrl(url.raw, "postgres", url.host, url.port, url.user, url.password, database="postgres")


def catalog_of(settings: Settings) -> Catalog:
    """The schema, as the build reads it; its errors name the file as the project shows it."""
    return load_catalog(settings.schema, settings.shown(settings.schema))


def create_tables(url: DatabaseUrl, catalog: Catalog) -> None:
    """Every table of the schema (foreign keys in order), then its indexes."""
    conn = connect(url)
    try:
        cur = conn.cursor()
        order = ddl.load_order(catalog)
        for table in order:
            cur.execute(ddl.create_table(table, url.dialect))
        for table in order:
            for statement in ddl.index_statements(table, url.dialect):
                cur.execute(statement)
        cur.close()
    finally:
        conn.close()


def missing_tables(url: DatabaseUrl, catalog: Catalog) -> list[str]:
    """The schema's tables the database does not have."""
    conn = connect(url)
    missing = []
    try:
        for table in catalog.tables:
            cur = conn.cursor()
            try:
                cur.execute(f"SELECT 1 FROM {ddl.quote(table.name, url.dialect)} WHERE 1 = 0")
                cur.fetchall()
            except Exception:  # noqa: BLE001 - each driver has its own "no such table" error
                missing.append(table.name)
            finally:
                cur.close()
    finally:
        conn.close()
    return missing


def seed_function(settings: Settings) -> Callable[[Runtime], object] | None:
    """The configured ``seed = "module:function"``, imported (with the project and its package's
    source folder on the path), or None."""
    if settings.seed is None:
        return None
    module_name, _, attribute = settings.seed.partition(":")
    for folder in (settings.root, settings.import_root):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))  # last: what is importable already comes first
    try:
        function: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{settings.source}: seed = {settings.seed!r} cannot be imported: {e}") from e
    if not callable(function):
        raise ConfigError(f"{settings.source}: seed = {settings.seed!r} is not a function")
    return function  # type: ignore[no-any-return]


def seed(settings: Settings, url: DatabaseUrl) -> None:
    """Runs the seed function, if one is configured, on a runtime of ``url`` with the cache off."""
    function = seed_function(settings)
    if function is None:
        return
    with Runtime.from_config(database_url=url_text(url), cache_url="off", project_dir=settings.root) as runtime:
        function(runtime)
