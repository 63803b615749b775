"""Cache namespaces: two databases on one Valkey never share entries, unless told to.

Every key is under ``fg:<ns>:`` (the lock of an entry embeds its entry's key), the
namespace a digest of the database the runtime reads, or ``cache_namespace``.
"""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import valkey

from flughafen import Runtime, invalidate_tag
from flughafen.aio import AsyncRuntime
from flughafen.config import ConfigError, load_config
from generated import airport_by_iata, book_seat, cancel_booking, flight_search, seat_map
from generated.aio import airport_by_iata as aio_airport_by_iata
from generator.dataset.load import load
from tests.integration.conftest import SERVERS, cache_url, require_server, server_kwargs

DAY = datetime.date(2024, 12, 15)
ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(ROOT / ".venv" / "bin" / "flughafen-gen")


def _loaded(dialect: str, loaded_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's database of ``dialect``, loaded with ``tiny`` on first use (as conftest's db_url)."""
    require_server(dialect)
    if dialect not in loaded_urls:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'it.sqlite3'}" if dialect == "sqlite" else SERVERS[dialect][0]
        load(url, "tiny", progress=False)
        loaded_urls[dialect] = url
    return loaded_urls[dialect]


@pytest.fixture
def urls(loaded_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory, valkey_server: object) -> dict[str, str]:
    """A SQLite and a PostgreSQL database with the same rows, on an empty Valkey."""
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    client.flushall()
    client.close()
    return {d: _loaded(d, loaded_urls, tmp_path_factory) for d in ("sqlite", "postgres")}


@pytest.fixture
def client(valkey_server: object) -> Iterator[Any]:
    c = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    yield c
    c.close()


def _runtime(url: str, valkey_server: object, **kwargs: Any) -> Runtime:
    return Runtime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=ROOT, near_cache=False, **kwargs)


def _hits_misses(rt: Runtime | AsyncRuntime, name: str) -> tuple[int, int]:
    c = rt.metrics.of(name)
    return c.hits, c.misses


def test_an_entry_filled_from_sqlite_is_a_miss_under_postgresql(urls: dict[str, str], valkey_server: object) -> None:
    with _runtime(urls["sqlite"], valkey_server) as lite, _runtime(urls["postgres"], valkey_server) as pg:
        assert lite.keyspace.namespace != pg.keyspace.namespace
        rows = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=lite)
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=lite) == rows
        assert _hits_misses(lite, "flight_search") == (1, 1)
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=pg) == rows  # the same rows, from PostgreSQL
        assert _hits_misses(pg, "flight_search") == (0, 1)
        assert flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=lite) != flight_search.key(
            origin="JFK", destination="LAX", day=DAY, runtime=pg
        )


async def _async_miss_under_postgresql(urls: dict[str, str], valkey_server: object) -> None:
    cache = cache_url(valkey_server)
    async with (
        AsyncRuntime.from_config(database_url=urls["sqlite"], cache_url=cache, project_dir=ROOT, near_cache=False) as lite,
        AsyncRuntime.from_config(database_url=urls["postgres"], cache_url=cache, project_dir=ROOT, near_cache=False) as pg,
    ):
        row = await aio_airport_by_iata.fetch(iata="JFK", runtime=lite)
        assert await aio_airport_by_iata.fetch(iata="JFK", runtime=lite) == row
        assert await aio_airport_by_iata.fetch(iata="JFK", runtime=pg) == row
        assert _hits_misses(lite, "airport_by_iata") == (1, 1)
        assert _hits_misses(pg, "airport_by_iata") == (0, 1)
        assert aio_airport_by_iata.key(iata="JFK", runtime=lite).startswith(lite.keyspace.root)


@pytest.mark.anyio
async def test_async_an_entry_filled_from_sqlite_is_a_miss_under_postgresql(urls: dict[str, str], valkey_server: object, anyio_backend: str) -> None:
    await _async_miss_under_postgresql(urls, valkey_server)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_two_runtimes_with_one_cache_namespace_share_entries(urls: dict[str, str], valkey_server: object) -> None:
    with _runtime(urls["sqlite"], valkey_server, cache_namespace="shop") as lite, _runtime(urls["postgres"], valkey_server, cache_namespace="shop") as pg:
        assert lite.keyspace is pg.keyspace
        rows = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=lite)
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=pg) == rows
        assert _hits_misses(pg, "flight_search") == (1, 0)
        assert flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=pg).startswith("fg:shop:flight_search:")


@pytest.mark.anyio
async def test_async_runtimes_with_one_cache_namespace_share_entries(urls: dict[str, str], valkey_server: object, anyio_backend: str) -> None:
    cache = cache_url(valkey_server)
    with _runtime(urls["sqlite"], valkey_server, cache_namespace="shop") as lite:
        row = airport_by_iata.fetch(iata="LAX", runtime=lite)  # filled by a sync runtime on SQLite
    async with AsyncRuntime.from_config(database_url=urls["postgres"], cache_url=cache, project_dir=ROOT, cache_namespace="shop") as pg:
        assert await aio_airport_by_iata.fetch(iata="LAX", runtime=pg) == row
        assert _hits_misses(pg, "airport_by_iata") == (1, 0)


def _free_seat(rt: Runtime, flight: int) -> str:
    mark = "?" if rt.dialect == "sqlite" else "%s"
    taken = {r[0] for r in rt.db.query(f"SELECT seat FROM booking WHERE flight_id = {mark}", (flight,))}
    return next(f"{row}{letter}" for row in range(1, 60) for letter in "ABCDEF" if f"{row}{letter}" not in taken)


def test_invalidations_in_one_namespace_leave_the_other_alone(urls: dict[str, str], valkey_server: object) -> None:
    with _runtime(urls["sqlite"], valkey_server) as lite, _runtime(urls["postgres"], valkey_server) as pg:
        searched = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=lite)
        for rt in (lite, pg):
            flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
            airport_by_iata.fetch(iata="JFK", runtime=rt)
            seat_map.fetch(flight_id=searched[0].flight_id, runtime=rt)
        # In SQLite's namespace: one entry, a query's every entry, a tag, and a write's invalidation.
        airport_by_iata.invalidate(iata="JFK", runtime=lite)
        flight_search.invalidate_all(runtime=lite)
        assert invalidate_tag(f"flight:{searched[0].flight_id}", lite) >= 1
        seat = _free_seat(lite, searched[0].flight_id)
        booking = book_seat.execute(flight_id=searched[0].flight_id, passenger_id=4, seat=seat, price=Decimal("10.00"), runtime=lite)
        assert booking == 1
        before = {name: _hits_misses(pg, name) for name in ("flight_search", "airport_by_iata", "seat_map")}
        flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=pg)
        airport_by_iata.fetch(iata="JFK", runtime=pg)
        seat_map.fetch(flight_id=searched[0].flight_id, runtime=pg)
        for name, (hits, misses) in before.items():
            assert _hits_misses(pg, name) == (hits + 1, misses), f"{name}: PostgreSQL's entry was touched by SQLite's invalidation"
        lite_before = _hits_misses(lite, "flight_search")
        flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=lite)
        assert _hits_misses(lite, "flight_search") == (lite_before[0], lite_before[1] + 1)  # its own namespace's was dropped
        lite.db.execute("DELETE FROM booking WHERE flight_id = ? AND seat = ?", (searched[0].flight_id, seat))


def test_every_key_a_runtime_writes_is_in_its_namespace(runtime: Runtime, client: Any) -> None:
    searched = flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    flight = searched[0].flight_id
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    seat_map.fetch(flight_id=flight, runtime=runtime)
    mark = "?" if runtime.dialect == "sqlite" else "%s"
    seat = _free_seat(runtime, flight)
    book_seat.execute(flight_id=flight, passenger_id=4, seat=seat, price=Decimal("10.00"), runtime=runtime)
    flight_search.invalidate_all(runtime=runtime)
    runtime.publish_metrics()
    booking_id = runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {mark} AND seat = {mark}", (flight, seat))[0][0]
    cancel_booking.execute(booking_id=booking_id, runtime=runtime)
    keys = [k.decode() for k in client.scan_iter(count=1000)]
    root = runtime.keyspace.root
    assert keys and any(k.startswith(root + "tag:") for k in keys) and any(k.startswith(root + "seq:{") for k in keys)  # the sequence, per bucket
    outside = [k for k in keys if not (k.startswith(root) or k.startswith("fg:~lock:" + root))]
    assert outside == []


def test_the_namespace_is_set_by_the_environment_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flughafen]\ncache_namespace = "from-file"\n')
    assert load_config(project_dir=tmp_path).namespace == "from-file"
    monkeypatch.setenv("FLUGHAFEN_CACHE_NAMESPACE", "from-env")
    assert load_config(project_dir=tmp_path).namespace == "from-env"
    assert load_config(project_dir=tmp_path, cache_namespace="given").namespace == "given"
    for bad in ("a b", "{shop}", "a:b", "x" * 33, "tab\t"):
        monkeypatch.setenv("FLUGHAFEN_CACHE_NAMESPACE", bad)
        with pytest.raises(ConfigError, match=r"FLUGHAFEN_CACHE_NAMESPACE: cache_namespace .*: use 1 to 32 letters, digits"):
            load_config(project_dir=tmp_path)
    monkeypatch.delenv("FLUGHAFEN_CACHE_NAMESPACE")
    (tmp_path / "pyproject.toml").write_text('[tool.flughafen]\ncache_namespace = "my shop"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml \[tool.flughafen\]: cache_namespace 'my shop'"):
        load_config(project_dir=tmp_path)


def test_the_runtime_logs_once_what_configuration_it_uses(tmp_path: Path, caplog: pytest.LogCaptureFixture, valkey_server: object) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flughafen]\ndatabase_url = "postgresql://app:s3cret@127.0.0.1:5432/shop?connect_timeout=3"\n')
    caplog.set_level(logging.INFO, logger="flughafen")
    with Runtime.from_config(cache_url=cache_url(valkey_server), project_dir=tmp_path) as rt:
        pass
    lines = [r for r in caplog.records if r.name == "flughafen" and "configuration" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    text = lines[0].getMessage()
    assert str(tmp_path / "pyproject.toml") in text and "s3cret" not in text
    assert "postgresql://app:***@127.0.0.1:5432/shop" in text and cache_url(valkey_server) in text
    assert f"namespace {rt.keyspace.namespace} (from postgres://127.0.0.1:5432/shop)" in text
    caplog.clear()
    with Runtime.from_config(database_url="sqlite:///x.sqlite3", cache_url="off", project_dir=tmp_path / "nowhere", cache_namespace="shop"):
        pass
    (record,) = [r for r in caplog.records if r.name == "flughafen"]
    assert record.getMessage().startswith("configuration: defaults; database sqlite:///x.sqlite3; cache off; namespace shop (set)")


def test_stats_shows_which_namespace_is_read(runtime: Runtime, valkey_server: object) -> None:
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    runtime.publish_metrics()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUGHAFEN_")}
    done = subprocess.run(
        [COMMAND, "stats", "--database", runtime.config.database_url.raw, "--cache", cache_url(valkey_server)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"namespace {runtime.keyspace.namespace} (the database {runtime.config.database_url.identity}): keys {runtime.keyspace.root}*" in done.stdout
    assert any(line.split()[:2] == ["airport_by_iata", "0"] for line in done.stdout.splitlines()), done.stdout
