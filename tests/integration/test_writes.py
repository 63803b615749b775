"""Write specs: after each write the dependent accessors return fresh data; write-behind loses nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from flughafen import ConfigError, Runtime
from flughafen.local_cluster import LocalCluster
from flughafen.worker import run_worker
from generated import (
    airport_by_iata,
    airports_in_country,
    book_seat,
    booked_seats,
    cancel_booking,
    flight_search,
    passenger_last_flights,
    passenger_profile,
    rename_airport,
    reprice_booking,
    reschedule_flight,
    seat_availability,
)
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

DAY = datetime.date(2024, 12, 15)


def _flight(runtime: Runtime) -> int:
    return flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0].flight_id


def _booking_id(runtime: Runtime, flight_id: int, seat: str) -> int:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    rows = runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph} AND seat = {ph}", (flight_id, seat))
    return int(rows[0][0])


def test_booking_a_seat_refreshes_search_seats_history_and_profile(form: Form, runtime: Runtime) -> None:
    flight_id = _flight(runtime)
    before_search = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    before_seats = form(seat_availability).fetch(flight_id=flight_id, runtime=runtime)
    before_profile = form(passenger_profile).fetch(passenger_id=4, runtime=runtime)
    form(passenger_last_flights).fetch(passenger_id=4, runtime=runtime)
    assert before_seats is not None and before_profile is not None

    assert form(book_seat).execute(flight_id=flight_id, passenger_id=4, seat="99K", price=Decimal("123.45"), runtime=runtime) == 1
    try:
        seats = form(seat_availability).fetch(flight_id=flight_id, runtime=runtime)
        assert seats is not None and seats.booked == before_seats.booked + 1
        search = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
        assert [f.booked_seats for f in search if f.flight_id == flight_id] == [before_search[0].booked_seats + 1]
        assert "99K" in [b.seat for b in form(booked_seats).fetch(flight_id=flight_id, runtime=runtime)]
        history = form(passenger_last_flights).fetch(passenger_id=4, runtime=runtime)
        assert flight_id in [h.flight_id for h in history]
        profile = form(passenger_profile).fetch(passenger_id=4, runtime=runtime)
        assert profile is not None and profile.bookings == before_profile.bookings + 1
    finally:
        # Cancelling looks up the booking's flight and passenger, then drops their entries.
        assert form(cancel_booking).execute(booking_id=_booking_id(runtime, flight_id, "99K"), runtime=runtime) == 1
    seats = form(seat_availability).fetch(flight_id=flight_id, runtime=runtime)
    assert seats == before_seats
    assert form(passenger_profile).fetch(passenger_id=4, runtime=runtime) == before_profile


def test_renaming_an_airport_refreshes_its_entry_and_the_country_lists(form: Form, runtime: Runtime) -> None:
    jfk = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert jfk is not None
    in_us = form(airports_in_country).fetch(country="UNITED STATES", runtime=runtime)
    form(rename_airport).execute(airport_id=jfk.airport_id, name="JOHN F KENNEDY INTL", runtime=runtime)
    try:
        renamed = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
        assert renamed is not None and renamed.name == "JOHN F KENNEDY INTL"
        listed = form(airports_in_country).fetch(country="UNITED STATES", runtime=runtime)
        assert [a.name for a in listed if a.airport_id == jfk.airport_id] == ["JOHN F KENNEDY INTL"]
        assert len(listed) == len(in_us)
    finally:
        form(rename_airport).execute(airport_id=jfk.airport_id, name=jfk.name, runtime=runtime)
    assert form(airport_by_iata).fetch(iata="JFK", runtime=runtime) == jfk


def test_rescheduling_a_flight_refreshes_searches_and_histories(form: Form, runtime: Runtime) -> None:
    flight = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0]
    later = flight.departure + datetime.timedelta(hours=2)
    form(reschedule_flight).execute(flight_id=flight.flight_id, departure=later, arrival=flight.arrival + datetime.timedelta(hours=2), runtime=runtime)
    try:
        moved = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
        assert [f.departure for f in moved if f.flight_id == flight.flight_id] == [later]
    finally:
        form(reschedule_flight).execute(flight_id=flight.flight_id, departure=flight.departure, arrival=flight.arrival, runtime=runtime)
    assert form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)[0] == flight


def _price(runtime: Runtime, booking_id: int) -> Decimal:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    return Decimal(str(runtime.db.query(f"SELECT price FROM booking WHERE booking_id = {ph}", (booking_id,))[0][0])).quantize(Decimal("0.01"))


@pytest.mark.single_node  # the write-behind worker does not run on a cluster yet
def test_write_behind_is_applied_by_the_worker_and_refreshes_readers(form: Form, runtime: Runtime) -> None:
    history = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)
    target = history[0]
    old = target.price
    assert form(reprice_booking).execute(booking_id=target.booking_id, price=Decimal("1.23"), runtime=runtime) == 0
    assert _price(runtime, target.booking_id) == old  # queued, not yet applied
    report = run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
    assert report.applied == 1
    assert _price(runtime, target.booking_id) == Decimal("1.23")
    fresh = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)
    assert [h.price for h in fresh if h.booking_id == target.booking_id] == [Decimal("1.23")]
    form(reprice_booking).execute(booking_id=target.booking_id, price=old, runtime=runtime)
    run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
    assert _price(runtime, target.booking_id) == old


class Crash(Exception):
    pass


@pytest.mark.single_node  # the write-behind worker does not run on a cluster yet
def test_a_worker_killed_after_commit_applies_nothing_twice_and_loses_nothing(form: Form, runtime: Runtime) -> None:
    history = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)
    ids = [h.booking_id for h in history[:3]]
    old = {i: _price(runtime, i) for i in ids}
    for n, booking_id in enumerate(ids):
        form(reprice_booking).execute(booking_id=booking_id, price=Decimal(f"{n + 10}.00"), runtime=runtime)

    def crash() -> None:
        raise Crash  # dies after the commit, before the acknowledgement

    with pytest.raises(Crash):
        run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50, after_commit=crash)
    assert [_price(runtime, i) for i in ids] == [Decimal("10.00"), Decimal("11.00"), Decimal("12.00")]
    assert runtime.cache.client.xpending(runtime.keyspace.stream_key(reprice_booking.WRITE.name), "flughafen-workers")["pending"] == 3

    report = run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
    assert (report.applied, report.skipped) == (0, 3)
    assert runtime.cache.client.xpending(runtime.keyspace.stream_key(reprice_booking.WRITE.name), "flughafen-workers")["pending"] == 0
    for booking_id, price in old.items():
        form(reprice_booking).execute(booking_id=booking_id, price=price, runtime=runtime)
    run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
    assert {i: _price(runtime, i) for i in ids} == old


@pytest.mark.single_node  # the write-behind worker does not run on a cluster yet
def test_a_worker_killed_before_commit_loses_nothing(form: Form, runtime: Runtime) -> None:
    target = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)[0]
    old = target.price
    form(reprice_booking).execute(booking_id=target.booking_id, price=Decimal("7.77"), runtime=runtime)
    real_apply = reprice_booking.WRITE.apply

    def dying_apply(*args: object, **kwargs: object) -> object:
        raise Crash  # dies mid-batch: the transaction rolls back

    reprice_booking.WRITE.apply = dying_apply  # type: ignore[method-assign, assignment]
    try:
        with pytest.raises(Crash):
            run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)
    finally:
        reprice_booking.WRITE.apply = real_apply  # type: ignore[method-assign]
    assert _price(runtime, target.booking_id) == old
    assert run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50).applied == 1
    assert _price(runtime, target.booking_id) == Decimal("7.77")
    form(reprice_booking).execute(booking_id=target.booking_id, price=old, runtime=runtime)
    run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50)


def test_the_worker_refuses_a_cluster_saying_why(db_url: str, valkey_cluster: LocalCluster) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=valkey_cluster.url, project_dir=Path.cwd()) as rt:
        with pytest.raises(ConfigError, match="write-behind worker does not run on a Valkey Cluster"):
            run_worker(rt, [reprice_booking.WRITE], max_idle_rounds=1)
