"""stale_if_error for every store kind: when the database fails, the last value stored is served, flagged."""

from __future__ import annotations

import datetime
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
