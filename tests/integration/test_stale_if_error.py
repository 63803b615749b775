"""stale_if_error for every store kind: when the database fails, the last value stored is served, flagged."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flughafen import QueryError
from generated import airport_by_iata, flight_search, hub_route_counts, seat_map
from tests.integration.conftest import cache_url
from tests.integration.forms import Form

DOWN = "postgresql://postgres:pw@127.0.0.1:1/nowhere"  # nothing listens on port 1
DAY = datetime.date(2024, 12, 15)

# store kind -> (drop the entry, reads that must each be answered from the stale copy)
READS: dict[str, tuple[Callable[[Form, Any], None], list[Callable[[Form, Any], Any]]]] = {
    "json": (
        lambda f, rt: f(flight_search).invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt),
        [lambda f, rt: f(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)],
    ),
    "hash": (
        lambda f, rt: f(airport_by_iata).invalidate(iata="JFK", runtime=rt),
        [lambda f, rt: f(airport_by_iata).fetch(iata="JFK", runtime=rt), lambda f, rt: f(airport_by_iata).fetch_city(iata="JFK", runtime=rt)],
    ),
    "zset": (
        lambda f, rt: f(hub_route_counts).invalidate(runtime=rt),
        [lambda f, rt: f(hub_route_counts).fetch(runtime=rt), lambda f, rt: f(hub_route_counts).top(n=2, runtime=rt)],
    ),
    "bitmap": (
        lambda f, rt: f(seat_map).invalidate(flight_id=1001, runtime=rt),
        [
            lambda f, rt: f(seat_map).fetch(flight_id=1001, runtime=rt),
            lambda f, rt: f(seat_map).count(flight_id=1001, runtime=rt),
            lambda f, rt: f(seat_map).contains(flight_id=1001, seat="1A", runtime=rt),
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(READS))
def test_the_last_value_is_served_flagged_when_the_database_fails(form: Form, db_url: str, valkey_server: object, kind: str) -> None:
    drop, reads = READS[kind]
    cache = cache_url(valkey_server)
    with form.runtime_of(database_url=db_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as up:
        drop(form, up)
        fresh = [read(form, up) for read in reads]
        assert not form.last_read_was_stale()
        drop(form, up)  # the entry is gone (expired, or a write); its stale copy stays
        form.settle(up)
    with form.runtime_of(database_url=DOWN, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as down:
        for read, expected in zip(reads, fresh, strict=True):
            assert read(form, down) == expected
            assert form.last_read_was_stale()
    with form.runtime_of(database_url=DOWN, cache_url=cache, project_dir=Path.cwd(), cache_namespace="stale-copies") as strict:
        with pytest.raises(QueryError):  # the option is off: a clear error
            reads[0](form, strict)


REFUSING = {"postgres": DOWN, "mysql": "mysql://root@127.0.0.1:1/nowhere"}  # nothing listens on port 1: each connect is refused


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # the database that is up, to fill the copy; the one down is each server's
@pytest.mark.parametrize("refusing", sorted(REFUSING))
def test_a_refused_connection_is_known_at_once_not_after_the_database_timeout(form: Form, db_url: str, valkey_server: object, refusing: str) -> None:
    cache = cache_url(valkey_server)
    namespace = f"refused-{refusing}"
    # The async runtime's pool would wait this long for a connection: a refused one must not be waited for.
    timeout: dict[str, Any] = {"database_timeout": 10} if form.is_async else {}
    drop, reads = READS["hash"]
    with form.runtime_of(database_url=db_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace=namespace) as up:
        drop(form, up)
        fresh = reads[0](form, up)
        drop(form, up)
        form.settle(up)
    with form.runtime_of(
        database_url=REFUSING[refusing], cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace=namespace, **timeout
    ) as down:
        for _ in range(3):  # the first read (the pool just opened) and the next ones (the pool retrying in the background)
            started = time.monotonic()
            assert reads[0](form, down) == fresh
            assert form.last_read_was_stale()
            assert time.monotonic() - started < 5, "the stale copy waited for a connection that was refused"
    with form.runtime_of(database_url=REFUSING[refusing], cache_url=cache, project_dir=Path.cwd(), cache_namespace=namespace, **timeout) as strict:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(QueryError, match=r"airport_by_iata: the query failed on .*(refused|Can't connect)"):
                reads[0](form, strict)
            assert time.monotonic() - started < 5, "the error waited for a connection that was refused"
