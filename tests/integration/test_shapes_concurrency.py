"""Writers and readers at once on the hash and zset shapes: once every write has returned,
the cache holds what the database holds (refreshes in ticket order, score moves counted once)."""

from __future__ import annotations

import random
import threading
from decimal import Decimal
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.protocol import Sleep
from flughafen.stores import hash as hash_store
from generated import airport_by_iata, book_seat, cancel_booking, popular_flights, rename_airport
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

ROUNDS = 30


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_renames_leave_the_cached_row_equal_to_the_database(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    real = hash_store.refresh_steps

    def late(*args: Any) -> Any:
        yield Sleep(random.random() * 0.005)  # widen the gap between commit and refresh: refreshes arrive out of order
        return (yield from real(*args))

    monkeypatch.setattr(hash_store, "refresh_steps", late)
    original = form(airport_by_iata).fetch(iata="FRA", runtime=runtime)
    assert original is not None

    def writer(name: str) -> Any:
        return lambda: form(rename_airport).execute(airport_id=original.airport_id, name=name, runtime=runtime)

    try:
        for round_ in range(ROUNDS):
            form(airport_by_iata).fetch(iata="FRA", runtime=runtime)  # cached, so the writes refresh it
            form.gather([writer(f"R{round_}W{w}") for w in range(3)])
            assert form(airport_by_iata).fetch(iata="FRA", runtime=runtime) == airport_by_iata.QUERY.query_database(("FRA",), runtime), f"round {round_}"
    finally:
        form(rename_airport).execute(airport_id=original.airport_id, name=original.name, runtime=runtime)
    assert form(airport_by_iata).fetch(iata="FRA", runtime=runtime) == original


def test_concurrent_bookings_and_cancellations_keep_the_ranking_exact(runtime: Runtime) -> None:
    ranking = popular_flights.fetch(runtime=runtime)
    flights = [r.flight_id for r in ranking[:3]] + [r.flight_id for r in ranking[-3:]]
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        rng = random.Random(t)
        ph = "?" if runtime.db.dialect == "sqlite" else "%s"
        try:
            for i in range(25):
                flight = rng.choice(flights)
                seat = f"{100 + i}{'ABCDEFGHIJK'[t]}"
                book_seat.execute(flight_id=flight, passenger_id=4, seat=seat, price=Decimal("1.00"), runtime=runtime)
                if rng.random() < 0.5:
                    booking = runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph} AND seat = {ph}", (flight, seat))[0][0]
                    cancel_booking.execute(booking_id=int(booking), runtime=runtime)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            popular_flights.top(n=5, runtime=runtime)
            popular_flights.score(flight_id=rng.choice(flights), runtime=runtime)
            if rng.random() < 0.05:
                popular_flights.invalidate(runtime=runtime)

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in readers:
        t.start()
    try:
        _run([threading.Thread(target=writer, args=(t,)) for t in range(4)])
    finally:
        stop.set()
        for t in readers:
            t.join()
        ph = "?" if runtime.db.dialect == "sqlite" else "%s"
        assert not errors, errors[:3]
        cached = popular_flights.fetch(runtime=runtime)
        fresh = popular_flights.QUERY.query_database((), runtime)
        runtime.db.execute(f"DELETE FROM booking WHERE passenger_id = {ph} AND price = {ph} AND seat LIKE {ph}", (4, Decimal("1.00"), "1%"))
    assert cached == fresh
    popular_flights.invalidate(runtime=runtime)
    assert popular_flights.fetch(runtime=runtime) == ranking
