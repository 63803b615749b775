"""Valkey slow or dropping connections: bounded waits, answers from the database, then hits again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flughafen.embedded import start_server
from generated import airport_by_iata
from tests.integration.forms import Form

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def debug_server() -> Iterator[Any]:
    server = start_server(config={"enable-debug-command": "yes"})
    yield server
    server.stop()


def _hits_resume(form: Form, rt: Any, within: float) -> bool:
    c = rt.metrics.of("airport_by_iata")
    deadline = time.monotonic() + within
    before = c.hits
    while time.monotonic() < deadline:
        form(airport_by_iata).fetch(iata="JFK", runtime=rt)
        if c.hits > before:
            return True
        time.sleep(0.02)
    return False


def test_a_slow_valkey_costs_a_bounded_wait_and_the_database_answers(form: Form, debug_server: Any, db_url: str) -> None:
    url = f"valkey://127.0.0.1:{debug_server.port}/0"
    with form.runtime_of(database_url=db_url, cache_url=url, project_dir=ROOT, socket_timeout=0.2) as rt:
        expected = form(airport_by_iata).fetch(iata="JFK", runtime=rt)
        admin = debug_server.client()
        sleeper = threading.Thread(target=lambda: admin.execute_command("DEBUG", "SLEEP", "1.5"))
        sleeper.start()
        time.sleep(0.1)  # the server is now stuck for 1.5 s
        start = time.monotonic()
        assert form(airport_by_iata).fetch(iata="JFK", runtime=rt) == expected
        took = time.monotonic() - start
        sleeper.join()
        admin.close()
        assert took < 0.8, f"a read waited {took:.2f} s on a stuck Valkey"
        assert rt.metrics.of("airport_by_iata").cache_errors >= 1
        assert _hits_resume(form, rt, within=1.5)


def test_dropped_connections_are_remade(form: Form, debug_server: Any, db_url: str) -> None:
    url = f"valkey://127.0.0.1:{debug_server.port}/0"
    with form.runtime_of(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        expected = form(airport_by_iata).fetch(iata="JFK", runtime=rt)
        admin = debug_server.client()
        killed = admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        admin.close()
        assert killed >= 1
        for _ in range(5):
            assert form(airport_by_iata).fetch(iata="JFK", runtime=rt) == expected  # never an exception
        assert _hits_resume(form, rt, within=1.0)
