"""Real servers for the accessor tests: MariaDB, PostgreSQL, SQLite, and a Valkey of our own.

Each database gets a test database of its own (``flughafen_it_<pid>``),
created and loaded with the ``tiny`` data set once per session and dropped at
the end. A server that does not answer fails the test under CI=true and
skips it elsewhere, saying how to start it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import valkey
from valkey.cluster import ValkeyCluster

from flughafen import Database, Runtime
from flughafen.aio import AsyncRuntime
from flughafen.embedded import start_server
from flughafen.local_cluster import LocalCluster
from generator.dataset.load import load
from tests.integration.forms import FORMS, Form

NAME = f"flughafen_it_{os.getpid()}"
SERVERS = {
    "mysql": (
        f"mysql://root@127.0.0.1:3306/{NAME}",
        "MariaDB on 127.0.0.1:3306 (root, no password); start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
    "postgres": (
        f"postgresql://postgres@127.0.0.1:5432/{NAME}",
        "PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
}


def require_server(dialect: str) -> None:
    """Fail under CI=true, skip elsewhere, when the server does not answer."""
    if dialect == "sqlite":
        return
    try:
        if dialect == "mysql":
            import pymysql

            pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=2).close()
        else:
            import psycopg

            psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=2").close()
    except Exception as e:  # noqa: BLE001 - any failure to connect means: not available
        message = f"{SERVERS[dialect][1]} ({type(e).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the server is unavailable: {message}")
        pytest.skip(f"server unavailable: {message}")


def _drop(dialect: str, name: str = NAME) -> None:
    if dialect == "mysql":
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    elif dialect == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def loaded_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Database URLs loaded with ``tiny``, created on first use per dialect."""
    urls: dict[str, str] = {}
    yield urls
    for dialect in urls:
        if dialect != "sqlite":
            _drop(dialect)


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[object]:
    server = start_server()
    yield server
    try:
        server.stop()
    except Exception:  # noqa: BLE001 - a test may have killed it already
        pass


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[LocalCluster]:
    """A local Valkey Cluster (3 primaries, one replica each) for the session, always stopped."""
    cluster = LocalCluster(primaries=3, replicas=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def cache_url(server: object) -> str:
    kwargs = server.connection_kwargs  # type: ignore[attr-defined]
    return f"valkey://{kwargs['host']}:{kwargs['port']}/0"


@pytest.fixture(params=["mysql", "postgres", "sqlite"])
def dialect(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require_server(name)
    return name


@pytest.fixture
def db_url(dialect: str, loaded_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    if dialect not in loaded_urls:
        if dialect == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'it.sqlite3'}"
        else:
            url = SERVERS[dialect][0]
        load(url, "tiny", progress=False)
        loaded_urls[dialect] = url
    return loaded_urls[dialect]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``cache_kind``: one Valkey server; in modules that set ``ON_CLUSTER = True``, also the local cluster
    (except tests marked ``single_node``)."""
    if "cache_kind" in metafunc.fixturenames:
        both = getattr(metafunc.module, "ON_CLUSTER", False) and not metafunc.definition.get_closest_marker("single_node")
        kinds = ["single", "cluster"] if both else ["single"]
        metafunc.parametrize("cache_kind", kinds)


@pytest.fixture
def valkey_url(cache_kind: str, request: pytest.FixtureRequest) -> str:
    """The URL of this test's cache, emptied first: the session's Valkey server, or its local cluster."""
    if cache_kind == "cluster":
        cluster: LocalCluster = request.getfixturevalue("valkey_cluster")
        client = ValkeyCluster(host=cluster.host, port=cluster.ports[0])
        try:
            client.flushall(target_nodes=ValkeyCluster.PRIMARIES)
        finally:
            client.close()
        return cluster.url
    server = request.getfixturevalue("valkey_server")
    single = valkey.Valkey(**server_kwargs(server))
    single.flushall()
    single.close()
    return cache_url(server)


@pytest.fixture
def runtime(db_url: str, valkey_url: str) -> Iterator[Runtime]:
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd()) as rt:
        yield rt


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest, runtime: Runtime, db_url: str) -> Iterator[Form]:
    """The form a test calls accessors in: sync, or async on an event loop (tests/integration/forms.py)."""
    kind = Runtime if request.param == "sync" else AsyncRuntime

    def make(**kwargs: object) -> Runtime | AsyncRuntime:
        kwargs = {"database_url": db_url, "cache_url": runtime.config.cache_url.raw, "project_dir": Path.cwd(), **kwargs}
        if kind is AsyncRuntime:
            # A pooled connection is waited for this long while the server does not answer (a refused
            # connect fails at once, as the sync driver's does): a test of a stalled link waits 1 s, not 5.
            kwargs.setdefault("database_timeout", 1)
        return kind.from_config(**kwargs)  # type: ignore[arg-type]

    made = Form(request.param, runtime, make)
    yield made
    made.close()


def server_kwargs(server: object) -> dict[str, object]:
    return dict(server.connection_kwargs)  # type: ignore[attr-defined]


@contextmanager
def opened(url: str) -> Iterator[Database]:
    """A Database for ``url``, closed after use."""
    db = Database(url)
    try:
        yield db
    finally:
        db.close()
