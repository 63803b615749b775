"""Writes check their parameters with the reads' code, before the database or the queue sees them."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.worker import run_worker
from generated import flight_search, rename_airport, reprice_booking, reschedule_flight
from tests.integration.forms import Form

DAY = datetime.date(2024, 12, 15)


def _one(runtime: Runtime, sql: str, *values: Any) -> Any:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    return runtime.db.query(sql.replace("?", ph), values)[0][0]


def test_a_flight_id_given_as_text_is_refused_before_the_database(form: Form, runtime: Runtime) -> None:
    flight = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0]
    departure = _one(runtime, "SELECT departure FROM flight WHERE flight_id = ?", flight.flight_id)
    later = flight.departure + datetime.timedelta(hours=1)
    with pytest.raises(TypeError, match="reschedule_flight: parameter 'flight_id' must be int, got str"):
        form(reschedule_flight).execute(flight_id=f"{flight.flight_id:08d}", departure=later, arrival=later, runtime=runtime)  # type: ignore[arg-type]
    assert _one(runtime, "SELECT departure FROM flight WHERE flight_id = ?", flight.flight_id) == departure
    assert form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0] == flight


def test_a_bool_for_an_int_and_a_date_for_a_datetime_are_refused(form: Form, runtime: Runtime) -> None:
    with pytest.raises(TypeError, match="'flight_id' must be int, got bool"):
        form(reschedule_flight).execute(flight_id=True, departure=datetime.datetime(2025, 1, 1), arrival=datetime.datetime(2025, 1, 1), runtime=runtime)
    with pytest.raises(TypeError, match="'departure' must be datetime, got date"):
        form(reschedule_flight).execute(flight_id=1, departure=DAY, arrival=datetime.datetime(2025, 1, 1), runtime=runtime)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes 3 parameter"):
        reschedule_flight.WRITE.execute((1, datetime.datetime(2025, 1, 1)), runtime)


def test_a_write_enforces_its_pattern(form: Form, runtime: Runtime) -> None:
    name = _one(runtime, "SELECT name FROM airport WHERE airport_id = ?", 1)
    for bad in ("", "x" * 51, "LINE\nBREAK"):
        with pytest.raises(ValueError, match=r"rename_airport: parameter 'name' does not match '\^\.\{1,50\}\$'"):
            form(rename_airport).execute(airport_id=1, name=bad, runtime=runtime)
    assert _one(runtime, "SELECT name FROM airport WHERE airport_id = ?", 1) == name


def test_a_write_behind_with_a_bad_parameter_is_never_queued(form: Form, runtime: Runtime) -> None:
    client: Any = runtime.cache.client
    stream = runtime.keyspace.stream_key(reprice_booking.WRITE.name)
    before = client.xlen(stream)
    with pytest.raises(TypeError, match="'booking_id' must be int"):
        form(reprice_booking).execute(booking_id="5", price=Decimal("1.00"), runtime=runtime)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'price' is None but not nullable"):
        form(reprice_booking).execute(booking_id=5, price=None, runtime=runtime)  # type: ignore[arg-type]
    assert client.xlen(stream) == before


def test_the_queue_gives_back_each_value_with_its_type(form: Form, runtime: Runtime) -> None:
    booking_id = int(_one(runtime, "SELECT MIN(booking_id) FROM booking"))
    old = Decimal(str(_one(runtime, "SELECT price FROM booking WHERE booking_id = ?", booking_id)))
    args = (booking_id, 42)  # an int for the decimal price, as a read would take it
    assert reprice_booking.WRITE.decode_args(reprice_booking.WRITE._encoder.encode(args)) == args
    assert type(reprice_booking.WRITE.decode_args(reprice_booking.WRITE._encoder.encode(args))[1]) is int
    form(reprice_booking).execute(booking_id=booking_id, price=42, runtime=runtime)  # type: ignore[arg-type]
    assert run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50).applied == 1
    assert Decimal(str(_one(runtime, "SELECT price FROM booking WHERE booking_id = ?", booking_id))) == 42
    form(reprice_booking).execute(booking_id=booking_id, price=old, runtime=runtime)
    run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
