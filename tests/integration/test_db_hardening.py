"""The database layer on real servers: no local files sent, URL options honoured, every call bounded.

A stalled server is a real one behind a TCP proxy that stops forwarding
(tests/integration/proxy.py): the calls through it must fail within their bound,
with an error that says so.
"""

from __future__ import annotations

import datetime
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flughafen import ConfigError, Database, QueryError, Runtime, last_read_was_stale
from flughafen.db import DatabaseTimeout
from generated import airport_by_iata, flight_search
from tests.integration.conftest import NAME, cache_url, opened, require_server
from tests.integration.proxy import Proxy

DAY = datetime.date(2024, 12, 15)
PORTS = {"mysql": 3306, "postgres": 5432}
SCHEMES = {"mysql": "mysql://root@127.0.0.1:{port}/{db}", "postgres": "postgresql://postgres@127.0.0.1:{port}/{db}"}


def server_url(dialect: str, port: int | None = None, options: str = "") -> str:
    url = SCHEMES[dialect].format(port=port or PORTS[dialect], db=NAME)
    return url + (f"?{options}" if options else "")


def loaded(dialect: str, loaded_urls: dict[str, str]) -> str:
    """The session's database on that server, loaded with ``tiny`` (as conftest's db_url does)."""
    require_server(dialect)
    if dialect not in loaded_urls:
        from generator.dataset.load import load

        load(server_url(dialect), "tiny", progress=False)
        loaded_urls[dialect] = server_url(dialect)
    return loaded_urls[dialect]


@pytest.fixture
def mysql_url(loaded_urls: dict[str, str]) -> str:
    return loaded("mysql", loaded_urls)


@pytest.fixture
def postgres_url(loaded_urls: dict[str, str]) -> str:
    return loaded("postgres", loaded_urls)


# ------------------------------------------------------------------ LOCAL INFILE


class RogueMySQL:
    """A server speaking just enough of the MySQL protocol to accept a login, then answer every
    query with a LOCAL INFILE request for ``wanted``: what a hostile or hijacked server does."""

    def __init__(self, wanted: str):
        self.wanted = wanted
        self.received = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _packet(seq: int, payload: bytes) -> bytes:
        return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload

    @staticmethod
    def _read(conn: socket.socket) -> tuple[int, bytes]:
        head = b""
        while len(head) < 4:
            chunk = conn.recv(4 - len(head))
            if not chunk:
                raise EOFError
            head += chunk
        size, seq = int.from_bytes(head[:3], "little"), head[3]
        body = b""
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                raise EOFError
            body += chunk
        return seq, body

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except (EOFError, OSError):
                    pass

    def _session(self, conn: socket.socket) -> None:
        capabilities = 0x1 | 0x8 | 0x80 | 0x200 | 0x2000 | 0x8000 | 0x80000  # no TLS offered
        salt = b"abcdefgh" + b"ijklmnopqrst"
        greeting = (
            b"\x0a"
            + b"10.11.0-MariaDB-rogue\x00"
            + struct.pack("<I", 7)
            + salt[:8]
            + b"\x00"
            + struct.pack("<H", capabilities & 0xFFFF)
            + bytes([45])
            + struct.pack("<H", 2)
            + struct.pack("<H", capabilities >> 16)
            + bytes([21])
            + b"\x00" * 10
            + salt[8:]
            + b"\x00"
            + b"mysql_native_password\x00"
        )
        conn.sendall(self._packet(0, greeting))
        seq, _ = self._read(conn)  # the login
        conn.sendall(self._packet(seq + 1, b"\x00\x00\x00\x02\x00\x00\x00"))  # OK, autocommit on
        while True:
            seq, body = self._read(conn)
            if body[:1] != b"\x03" or body[1:4].upper() == b"SET":  # the session's set-up: OK
                conn.sendall(self._packet(seq + 1, b"\x00\x00\x00\x02\x00\x00\x00"))
                continue
            conn.sendall(self._packet(seq + 1, b"\xfb" + self.wanted.encode()))
            while True:  # the client's file, if it sends one, ends with an empty packet
                seq, data = self._read(conn)
                if not data:
                    break
                self.received += data
            conn.sendall(self._packet(seq + 1, b"\x00\x00\x00\x02\x00\x00\x00"))

    def close(self) -> None:
        self.listener.close()


def test_a_rogue_server_gets_no_local_file_during_a_normal_read(tmp_path: Path, valkey_server: object) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the contents of a private file\n")
    rogue = RogueMySQL(str(secret))
    try:
        url = f"mysql://app:pw@127.0.0.1:{rogue.port}/flights"
        with Runtime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=tmp_path) as rt, pytest.raises(QueryError):
            airport_by_iata.fetch(iata="JFK", runtime=rt)
    finally:
        rogue.close()
    assert b"private file" not in rogue.received


def test_load_data_local_infile_is_refused_by_the_client(mysql_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private line\n")
    db = Database(mysql_url)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS fg_infile_probe (line VARCHAR(100))")
        db.execute("DELETE FROM fg_infile_probe")
        with pytest.raises(Exception, match=r"(?i)not allowed|local"):
            db.execute(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE fg_infile_probe")
        assert db.query("SELECT line FROM fg_infile_probe") == []
    finally:
        db.execute("DROP TABLE IF EXISTS fg_infile_probe")
        db.close()


# ------------------------------------------------------------------ URL options


def test_postgres_sslmode_require_is_refused_by_a_server_without_tls(postgres_url: str) -> None:
    with opened(server_url("postgres", options="sslmode=require")) as db, pytest.raises(Exception, match="SSL"):
        db.query("SELECT 1")


def _no_socket(message: str) -> None:
    """A server without its unix socket: the test skips on a user's machine, fails under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def test_postgres_host_option_connects_through_the_unix_socket(postgres_url: str) -> None:
    directory = next((d for d in ("/run/postgresql", "/var/run/postgresql", "/tmp") if Path(d, ".s.PGSQL.5432").exists()), None)
    if directory is None:
        _no_socket("no PostgreSQL unix socket found in /run/postgresql, /var/run/postgresql or /tmp")
    with opened(f"postgresql://postgres@/postgres?host={directory}") as db:
        assert db.query("SELECT inet_server_addr()") == [(None,)]  # None: not over TCP


def test_mysql_unix_socket_option_connects_through_the_socket(mysql_url: str) -> None:
    sock = "/run/mysqld/mysqld.sock"
    if not Path(sock).exists():
        _no_socket("no MariaDB unix socket at " + sock)
    with opened(server_url("mysql", port=1, options=f"unix_socket={sock}")) as db:  # nothing listens on port 1
        assert db.query("SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()") == [("localhost",)]


def test_mysql_ssl_mode_required_is_refused_by_a_server_without_tls(mysql_url: str) -> None:
    with opened(server_url("mysql", options="ssl_mode=REQUIRED")) as db, pytest.raises(Exception, match=r"(?i)ssl|tls"):
        db.query("SELECT 1")


def test_mysql_ssl_ca_that_does_not_exist_is_named(mysql_url: str) -> None:
    with opened(server_url("mysql", options="ssl_ca=/nonexistent/ca.pem")) as db, pytest.raises(ConfigError, match="ssl_ca"):
        db.query("SELECT 1")


@pytest.mark.parametrize(
    "url, option",
    [
        ("mysql://root@127.0.0.1/db?sslmod=REQUIRED", "sslmod"),
        ("mysql://root@127.0.0.1/db?local_infile=1", "local_infile"),
        ("postgresql://postgres@127.0.0.1/db?sslmod=require", "sslmod"),
        ("sqlite:///x.sqlite3?journal=wal", "journal"),
    ],
)
def test_an_unknown_url_option_is_an_error_naming_it(url: str, option: str) -> None:
    with pytest.raises(ConfigError, match=f"[\"']{option}[\"']"):
        Database(url)


# ------------------------------------------------------------------ statement timeouts

SLOW = {
    "mysql": "SELECT SLEEP(5)",
    "postgres": "SELECT pg_sleep(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c",
}


def test_a_slow_statement_is_cancelled_after_statement_timeout(db_url: str, dialect: str) -> None:
    with opened(f"{db_url}?statement_timeout=0.5") as db:
        start = time.monotonic()
        with pytest.raises(Exception, match=r"(?i)statement|interrupt|cancel"):
            db.query(SLOW[dialect])
        assert time.monotonic() - start < 3
        assert db.query("SELECT 1") == [(1,)]  # the next call works


# ------------------------------------------------------------------ stalls


@pytest.fixture(params=["mysql", "postgres"])
def proxy(request: pytest.FixtureRequest, loaded_urls: dict[str, str]) -> Iterator[tuple[str, Proxy]]:
    dialect: str = request.param
    loaded(dialect, loaded_urls)
    p = Proxy(PORTS[dialect])
    yield dialect, p
    p.close()


def bounded(call: Callable[[], Any], limit: float) -> tuple[Any, BaseException | None, float]:
    """Run ``call`` in a thread; (result, error, seconds), or fail the test if it is still blocked after ``limit`` s."""
    out: dict[str, Any] = {}

    def run() -> None:
        start = time.monotonic()
        try:
            out["result"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e
        out["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"the call was still blocked after {limit} s")
    return out.get("result"), out.get("error"), out["seconds"]


TIMEOUTS = "connect_timeout=2&read_timeout=1&statement_timeout=1"


def test_a_read_through_a_stalled_link_fails_within_read_timeout(proxy: tuple[str, Proxy], valkey_server: object, tmp_path: Path) -> None:
    dialect, p = proxy
    url = server_url(dialect, port=p.port, options=TIMEOUTS)
    with Runtime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=tmp_path) as rt:
        rt.cache.client.flushall()
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)  # a pooled connection, through the proxy
        flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        p.stall()
        _, error, seconds = bounded(lambda: flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt), 15)
    assert isinstance(error, QueryError), error
    assert "read_timeout=1s" in str(error) and "flight_search" in str(error)
    assert isinstance(error.__cause__, DatabaseTimeout)
    assert seconds < 4


def test_a_read_through_a_stalled_link_serves_the_stale_copy(proxy: tuple[str, Proxy], valkey_server: object, tmp_path: Path) -> None:
    dialect, p = proxy
    url = server_url(dialect, port=p.port, options=TIMEOUTS)
    with Runtime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=tmp_path, stale_if_error=600) as rt:
        rt.cache.client.flushall()
        rows = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        rt.cache.settle()
        flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        p.stall()

        def read() -> tuple[Any, bool]:
            return flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt), last_read_was_stale()

        result, error, seconds = bounded(read, 15)
    assert error is None, error
    assert result == (rows, True)
    assert seconds < 4


def test_connecting_to_a_stalled_server_fails_within_its_bound(proxy: tuple[str, Proxy], tmp_path: Path) -> None:
    dialect, p = proxy
    p.stall()  # new connections are accepted, never answered
    with opened(server_url(dialect, port=p.port, options=TIMEOUTS)) as db:
        _, error, seconds = bounded(lambda: db.query("SELECT 1"), 15)
    assert error is not None
    assert seconds < 4  # read_timeout (MySQL's greeting) or connect_timeout (PostgreSQL counts 2 s at least)


def test_timeouts_default_to_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUGHAFEN_DATABASE_URL", raising=False)
    db = Database("postgresql://postgres@127.0.0.1/x")
    assert (db.url.timeouts.connect, db.url.timeouts.statement, db.url.timeouts.read) == (10, 30, 35)
    (tmp_path / "flughafen.toml").write_text('database_url = "mysql://root@127.0.0.1/x"\nstatement_timeout = 4\n')
    from flughafen.config import load_config

    assert load_config(project_dir=tmp_path).database_url.timeouts.statement == 4
    assert load_config("mysql://root@127.0.0.1/x?statement_timeout=2", project_dir=tmp_path).database_url.timeouts.read == 7
