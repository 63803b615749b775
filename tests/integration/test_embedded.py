"""The project's shared embedded Valkey (flughafen/embedded.py) from code: sync and async runtimes
on its unix socket, a forked child, what a dead server leaves behind, and a project path too long
for a unix socket. Every test stops the server it started (the ``embedded_project`` fixture)."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flughafen import Runtime, embedded
from flughafen.aio import AsyncRuntime
from generated import airport_by_iata
from generated.aio import airport_by_iata as airport_by_iata_async
from generated.aio import flight_search as flight_search_async
from tests.integration.test_fork import in_child

DAY = datetime.date(2024, 12, 15)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_runtime_on_embedded_uses_the_project_s_server_over_its_unix_socket(db_url: str, embedded_project: Path) -> None:
    with Runtime.from_config(database_url=db_url, cache_url="embedded", project_dir=embedded_project) as rt:
        assert rt.cache.client.connection_pool.connection_kwargs["path"] == str(embedded_project.resolve() / ".flughafen" / "valkey" / "valkey.sock")
        airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None
        assert rt.metrics.of("airport_by_iata").hits == 1
    status = embedded.status(embedded_project)
    assert status is not None and status.keys >= 2, "the server outlives the runtime, with its entries"


@pytest.mark.anyio
async def test_an_async_runtime_on_embedded_shares_the_server_with_a_sync_one(db_url: str, embedded_project: Path) -> None:
    with Runtime.from_config(database_url=db_url, cache_url="embedded", project_dir=embedded_project) as rt:
        airport_by_iata.fetch(iata="CDG", runtime=rt)
    async with AsyncRuntime.from_config(database_url=db_url, cache_url="embedded", project_dir=embedded_project) as art:
        row = await airport_by_iata_async.fetch(iata="CDG", runtime=art)
        assert row is not None and art.metrics.of("airport_by_iata").hits == 1, "a hit on what the sync runtime stored"
        first = await flight_search_async.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
        deadline = time.monotonic() + 10  # the query's prefix is tracked in the background, on a connection of its own
        while art.metrics.of("flight_search").near_hits == 0 and time.monotonic() < deadline:
            assert await flight_search_async.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art) == first
            await asyncio.sleep(0.01)
        assert art.metrics.of("flight_search").near_hits >= 1, "the near cache's tracking connection is on the socket too"
        assert art.metrics.of("flight_search").cache_errors == 0


def test_a_forked_child_shares_the_server_and_its_exit_stops_nothing(db_url: str, embedded_project: Path) -> None:
    with Runtime.from_config(database_url=db_url, cache_url="embedded", project_dir=embedded_project) as rt:
        airport_by_iata.fetch(iata="JFK", runtime=rt)
        status = embedded.status(embedded_project)
        assert status is not None

        def child() -> bytes:
            hits = rt.metrics.of("airport_by_iata").hits
            row = airport_by_iata.fetch(iata="JFK", runtime=rt)  # a hit: the parent's fill, on the same server
            hit = rt.metrics.of("airport_by_iata").hits == hits + 1
            rt.close()
            return f"hit={hit} {row is not None}".encode()

        assert in_child(child) == b"hit=True True"
        after = embedded.status(embedded_project)
        assert after is not None and after.pid == status.pid
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None


def test_a_pid_file_naming_another_live_process_is_not_killed_and_the_server_is_replaced(embedded_project: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        paths = embedded.Paths.of(embedded_project)
        paths.folder.mkdir(parents=True)
        paths.pid.write_text(f"{bystander.pid}\n")  # as after a reboot: the pid now belongs to someone else
        paths.socket.touch()  # and a socket file nobody listens on
        embedded.ensure(embedded_project)
        status = embedded.status(embedded_project)
        assert status is not None and status.pid != bystander.pid
        assert bystander.poll() is None, "the process that got the old pid is left alone"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_project_path_too_long_for_a_unix_socket_gets_one_in_the_temporary_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    paths = embedded.Paths.of(deep)
    try:
        assert paths.socket.parent != paths.folder and len(os.fsencode(paths.socket)) <= embedded.MAX_SOCKET_PATH
        assert embedded.ensure(deep) == paths.socket
        status = embedded.status(deep)
        assert status is not None and status.pid == int(paths.pid.read_text())
    finally:
        assert embedded.stop(deep) is not None
    assert not paths.socket.exists()


def test_a_server_killed_under_a_running_runtime_is_replaced_and_its_reads_hit_again(db_url: str, embedded_project: Path) -> None:
    with Runtime.from_config(database_url=db_url, cache_url="embedded", project_dir=embedded_project) as rt:
        airport_by_iata.fetch(iata="JFK", runtime=rt)
        rt.cache.settle()
        before = embedded.status(embedded_project)
        assert before is not None and before.pid is not None
        os.kill(before.pid, signal.SIGKILL)
        counters = rt.metrics.of("airport_by_iata")
        row = airport_by_iata.fetch(iata="JFK", runtime=rt)  # fail-open: the database answers
        assert row is not None and counters.cache_errors >= 1
        deadline = time.monotonic() + 15
        hits = counters.hits
        while counters.hits == hits and time.monotonic() < deadline:
            time.sleep(0.05)
            assert airport_by_iata.fetch(iata="JFK", runtime=rt) == row
        assert counters.hits > hits, "the runtime's reads hit again, on the new server"
        after = embedded.status(embedded_project)
        assert after is not None and after.pid != before.pid
