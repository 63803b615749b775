"""``cache_url = "off"`` (the plugin's flughafen_runtime_nocache): every read queries the database, writes only commit.

Run on every test database of pyproject.toml, on the tiny FlughafenDB rows the
seed loads. Nothing is stored and no cache server is asked: a cache off is not
a cache down, so nothing is logged and no error is counted.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from decimal import Decimal

import pytest

from flughafen import Runtime, parse_cache_url
from generated import airport_by_iata, flight_search, hub_route_counts, rename_airport, reprice_booking, seat_map


def test_off_is_a_cache_url() -> None:
    assert parse_cache_url("off").off
    assert not parse_cache_url("embedded").off


def test_reads_of_every_store_query_the_database_every_time(flughafen_runtime_nocache: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt = flughafen_runtime_nocache
    caplog.set_level(logging.DEBUG, logger="flughafen")
    reads: dict[str, Callable[[], object]] = {
        "flight_search": lambda: flight_search.fetch(origin="JFK", destination="LAX", day=datetime.date(2024, 12, 15), runtime=rt),
        "airport_by_iata": lambda: airport_by_iata.fetch_city(iata="JFK", runtime=rt),
        "hub_route_counts": lambda: hub_route_counts.top(n=3, runtime=rt),
        "seat_map": lambda: seat_map.count(flight_id=1001, runtime=rt),
    }
    for name, read in reads.items():
        first, second = read(), read()
        assert first == second and first not in (None, [], 0), name
        counters = rt.metrics.of(name)
        assert (counters.hits, counters.misses, counters.db_queries, counters.cache_errors) == (0, 2, 2, 0), name
    assert airport_by_iata.fetch_city(iata="JFK", runtime=rt) == "NEW YORK"
    assert rt.cache.errors == 0
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_a_write_commits_and_the_next_read_sees_it(flughafen_runtime_nocache: Runtime) -> None:
    rt = flughafen_runtime_nocache
    before = airport_by_iata.fetch(iata="LAX", runtime=rt)
    assert before is not None
    try:
        assert rename_airport.execute(airport_id=before.airport_id, name="ANGELES", runtime=rt) == 1
        renamed = airport_by_iata.fetch(iata="LAX", runtime=rt)
        assert renamed is not None and renamed.name == "ANGELES"
    finally:
        rename_airport.execute(airport_id=before.airport_id, name=before.name, runtime=rt)
    assert rt.cache.errors == 0


def test_a_write_behind_is_applied_at_once_there_being_no_queue(flughafen_runtime_nocache: Runtime) -> None:
    rt = flughafen_runtime_nocache
    ((booking_id, price),) = rt.db.query("SELECT booking_id, price FROM booking WHERE booking_id = 1")
    try:
        assert reprice_booking.execute(booking_id=booking_id, price=Decimal("123.45"), runtime=rt) == 1
        assert Decimal(str(rt.db.query("SELECT price FROM booking WHERE booking_id = 1")[0][0])) == Decimal("123.45")
    finally:
        reprice_booking.execute(booking_id=booking_id, price=Decimal(str(price)), runtime=rt)
