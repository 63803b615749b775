"""Every seed spec returns the expected rows, the same typed rows on MariaDB, PostgreSQL and SQLite."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.settings import load_settings
from generator.accessors import read_modules

MODULES = {m.QUERY.name: m for m in read_modules(load_settings())}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_examples_return_the_same_rows_on_every_database(name: str, runtime: Runtime, dialect: str, results: dict[str, dict[str, Any]]) -> None:
    module: ModuleType = MODULES[name]
    assert module.EXAMPLES, f"{name} has no examples"
    got = [module.QUERY.query_database(tuple(example.values()), runtime) for example in module.EXAMPLES]
    for example, rows in zip(module.EXAMPLES, got):
        assert rows not in (None, []), f"{name}{example} found nothing on {dialect}"
    seen = results.setdefault(name, {})
    seen[dialect] = got
    reference = next(iter(seen.values()))
    assert got == reference, f"{name} differs between {next(iter(seen))} and {dialect}"


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return {}


def test_worked_examples_find_what_the_workshop_promises(runtime: Runtime) -> None:
    airport = MODULES["airport_by_iata"].fetch(iata="JFK", runtime=runtime)
    assert (airport.name, airport.city, airport.country) == ("KENNEDY INTL", "NEW YORK", "UNITED STATES")
    assert isinstance(airport.latitude, Decimal)

    out = MODULES["flight_search"].fetch(origin="JFK", destination="LAX", day=datetime.date(2024, 12, 15), runtime=runtime)
    assert [f.flightno for f in out] == ["AF9001", "AF9003"]
    assert all(f.departure.date() == datetime.date(2024, 12, 15) for f in out)
    back = MODULES["flight_search"].fetch(origin="LAX", destination="JFK", day=datetime.date(2024, 12, 22), runtime=runtime)
    assert [f.flightno for f in back] == ["AF9002", "AF9004"]

    trip = MODULES["round_trip"].fetch(
        origin="JFK", destination="LAX", outbound_day=datetime.date(2024, 12, 15), return_day=datetime.date(2024, 12, 22), runtime=runtime
    )
    assert [(f.origin, f.destination) for f in trip] == [("JFK", "LAX")] * 2 + [("LAX", "JFK")] * 2

    history = MODULES["passenger_last_flights"].fetch(passenger_id=12345, runtime=runtime)
    assert len(history) == 10
    assert [h.departure for h in history] == sorted((h.departure for h in history), reverse=True)
    assert {h.status for h in history} == {"landed"}

    seats = MODULES["seat_availability"].fetch(flight_id=1001, runtime=runtime)
    assert seats is not None and seats.booked >= 1 and seats.available == seats.capacity - seats.booked
    booked = MODULES["booked_seats"].fetch(flight_id=1001, runtime=runtime)
    assert len(booked) == seats.booked

    profile = MODULES["passenger_profile"].fetch(passenger_id=12345, runtime=runtime)
    assert profile is not None and profile.bookings == 12 and profile.total_spent > Decimal("0")

    germany = MODULES["country_airport_stats"].fetch(country="GERMANY", runtime=runtime)
    assert germany is not None and germany.airports == 457
    assert len(MODULES["airports_in_country"].fetch(country="GERMANY", runtime=runtime)) == 457
    hubs = MODULES["hub_route_counts"].top(n=10, runtime=runtime)
    assert len(hubs) == 10 and [h.routes for h in hubs] == sorted((h.routes for h in hubs), reverse=True)
    assert MODULES["hub_route_counts"].rank(iata=hubs[0].iata, runtime=runtime) == 0
