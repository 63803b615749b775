"""stale_if_error for every store kind: when the database fails, the last value stored is served, flagged."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generated import airport_by_iata, flight_search, hub_route_counts, seat_map
from flughafen import QueryError, Runtime, last_read_was_stale
from tests.integration.conftest import cache_url

DOWN = "postgresql://postgres:pw@127.0.0.1:1/nowhere"  # nothing listens on port 1
DAY = datetime.date(2024, 12, 15)

# store kind -> (drop the entry, reads that must each be answered from the stale copy)
READS: dict[str, tuple[Callable[[Runtime], None], list[Callable[[Runtime], Any]]]] = {
    "json": (
        lambda rt: flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt),
        [lambda rt: flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)],
    ),
    "hash": (
        lambda rt: airport_by_iata.invalidate(iata="JFK", runtime=rt),
        [lambda rt: airport_by_iata.fetch(iata="JFK", runtime=rt), lambda rt: airport_by_iata.fetch_city(iata="JFK", runtime=rt)],
    ),
    "zset": (
        lambda rt: hub_route_counts.invalidate(runtime=rt),
        [lambda rt: hub_route_counts.fetch(runtime=rt), lambda rt: hub_route_counts.top(n=2, runtime=rt)],
    ),
    "bitmap": (
        lambda rt: seat_map.invalidate(flight_id=1001, runtime=rt),
        [
            lambda rt: seat_map.fetch(flight_id=1001, runtime=rt),
            lambda rt: seat_map.count(flight_id=1001, runtime=rt),
            lambda rt: seat_map.contains(flight_id=1001, seat="1A", runtime=rt),
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(READS))
def test_the_last_value_is_served_flagged_when_the_database_fails(db_url: str, valkey_server: object, kind: str) -> None:
    drop, reads = READS[kind]
    cache = cache_url(valkey_server)
    with Runtime.from_config(
        database_url=db_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies"
    ) as up:  # one cache, as if the same database went down
        drop(up)
        fresh = [read(up) for read in reads]
        assert not last_read_was_stale()
        drop(up)  # the entry is gone (expired, or a write); its stale copy stays
        up.cache.settle()
    with Runtime.from_config(
        database_url=DOWN, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies"
    ) as down:  # one cache, as if the same database went down
        for read, expected in zip(reads, fresh):
            assert read(down) == expected
            assert last_read_was_stale()
    with Runtime.from_config(
        database_url=DOWN, cache_url=cache, project_dir=Path.cwd(), cache_namespace="stale-copies"
    ) as strict:  # one cache, as if the same database went down
        with pytest.raises(QueryError):  # the option is off: a clear error
            reads[0](strict)
