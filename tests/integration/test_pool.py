"""The connection pool on real servers: its size bounds the connections open, and it outlives killed sessions.

Connections are counted by the server (pg_stat_activity, information_schema.processlist)
in a database of this module's own, so that no other test's connections are counted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from flughafen import Database
from flughafen.db import PoolTimeout

from .conftest import _drop, require_server

POOL_DB = f"flughafen_pool_{os.getpid()}"
URLS = {
    "mysql": f"mysql://root@127.0.0.1:3306/{POOL_DB}",
    "postgres": f"postgresql://postgres@127.0.0.1:5432/{POOL_DB}",
}
SLEEP = {"mysql": "SELECT SLEEP(0.05)", "postgres": "SELECT pg_sleep(0.05)"}


def _admin(dialect: str) -> object:
    if dialect == "mysql":
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    import psycopg

    return psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True)


def _sql(admin: object, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    cur = admin.cursor()  # type: ignore[attr-defined]
    try:
        cur.execute(sql, args)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


@pytest.fixture(params=["mysql", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, object]]:
    """(dialect, an admin connection) with the pool's database created, dropped afterwards."""
    dialect: str = request.param
    require_server(dialect)
    _drop(dialect, POOL_DB)
    admin = _admin(dialect)
    _sql(admin, f"CREATE DATABASE {POOL_DB}")
    try:
        yield dialect, admin
    finally:
        admin.close()  # type: ignore[attr-defined]
        _drop(dialect, POOL_DB)


def _sessions(dialect: str, admin: object) -> list[int]:
    """The server's session ids on the pool's database (the admin connection is on another)."""
    if dialect == "mysql":
        rows = _sql(admin, "SELECT id FROM information_schema.processlist WHERE db = %s", (POOL_DB,))
    else:
        rows = _sql(admin, "SELECT pid FROM pg_stat_activity WHERE datname = %s", (POOL_DB,))
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]


def _kill_all(dialect: str, admin: object) -> int:
    ids = _sessions(dialect, admin)
    for n in ids:
        if dialect == "mysql":
            _sql(admin, f"KILL {n}")
        else:
            _sql(admin, "SELECT pg_terminate_backend(%s)", (n,))
    return len(ids)


def _fill(db: Database, sql: str, threads: int) -> None:
    """Run ``sql`` from ``threads`` threads at once; raise the first failure."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            db.query(sql)
        except BaseException as e:  # noqa: BLE001 - handed to the test below
            errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def test_64_threads_on_a_pool_of_8_never_open_more_than_8_connections(server: tuple[str, object]) -> None:
    dialect, admin = server
    db = Database(URLS[dialect], size=8)
    seen: list[int] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            seen.append(len(_sessions(dialect, admin)))
            time.sleep(0.01)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(3):
            _fill(db, SLEEP[dialect], 64)
    finally:
        done.set()
        counter.join()
        db.close()
    assert max(seen) <= 8, f"the server saw {max(seen)} connections of a pool of size 8"
    assert max(seen) >= 2, "the threads never ran side by side: the test proves nothing"


def test_after_the_server_kills_every_session_the_next_10_reads_succeed(server: tuple[str, object]) -> None:
    dialect, admin = server
    db = Database(URLS[dialect], size=8)
    try:
        _fill(db, SLEEP[dialect], 8)  # the pool keeps its connections idle
        assert _kill_all(dialect, admin) >= 2
        time.sleep(0.2)  # the server ends them
        results = [db.query("SELECT 1") for _ in range(10)]
    finally:
        db.close()
    assert results == [[(1,)]] * 10


def test_a_write_whose_connection_died_is_not_retried_and_raises(server: tuple[str, object]) -> None:
    dialect, admin = server
    db = Database(URLS[dialect], size=8)
    try:
        db.execute("CREATE TABLE landed (n INTEGER)")
        assert _kill_all(dialect, admin) == 1
        time.sleep(0.2)
        with pytest.raises(Exception) as told:
            db.execute("INSERT INTO landed (n) VALUES (1)")
        assert type(told.value).__module__.split(".")[0] in ("pymysql", "psycopg")
        with pytest.raises(Exception) as told, db.transaction() as cur:
            _kill_all(dialect, admin)
            time.sleep(0.2)
            cur.execute("INSERT INTO landed (n) VALUES (2)")
        assert type(told.value).__module__.split(".")[0] in ("pymysql", "psycopg")
        assert db.query("SELECT n FROM landed") == []  # neither ran twice, nor once; the pool still works
    finally:
        db.close()


def test_a_caller_waits_for_a_connection_then_is_told_the_pool_size(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/pool.sqlite3", size=1, wait=0.2)
    told: list[BaseException] = []
    try:
        with db.connection():
            t = threading.Thread(target=lambda: _catch(told, lambda: db.query("SELECT 1")))
            t.start()
            t.join()
        assert db.query("SELECT 1") == [(1,)]  # the connection given back serves the next caller
    finally:
        db.close()
    assert len(told) == 1 and isinstance(told[0], PoolTimeout)
    assert "pool size 1" in str(told[0]) and "0.2s" in str(told[0])


def test_a_fresh_connection_on_a_full_pool_takes_the_place_of_an_idle_one(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/pool.sqlite3", size=1, wait=0.2)
    try:
        with db.connection() as idle:
            pass
        with db.connection(fresh=True) as conn:
            assert conn is not idle
        assert db.query("SELECT 1") == [(1,)]
    finally:
        db.close()


def _catch(into: list[BaseException], call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except BaseException as e:  # noqa: BLE001 - handed to the test
        into.append(e)
