"""store: bitmap on a real Valkey and all three databases: the seat map, and the writes that keep it and its counters.

seat_map holds flight 1001's booked seats as bits ("12A" is bit 121);
book_seat sets a bit and cancel_booking clears it, and both move
seat_availability's booked/available counters in the same script.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flughafen import Col, Param, QueryError, Runtime, invalidate_tag, row_field
from flughafen.stores.bitmap import BitmapQuery, apply, changes, hold, seat_offset
from flughafen.write import InvalidationError
from generated import book_seat, cancel_booking, seat_availability, seat_map
from generated.aio import book_seat as book_seat_aio
from generated.aio import seat_availability as seat_availability_aio
from generated.aio import seat_map as seat_map_aio
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

FLIGHT = 1001
PRICE = Decimal("99.00")


def _booking_id(runtime: Runtime, seat: str) -> int:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    return int(runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph} AND seat = {ph}", (FLIGHT, seat))[0][0])


def _db_seats(runtime: Runtime) -> list[str]:
    """The booked seats in the database, in seat-map order (the truth the cache must match)."""
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    rows = runtime.db.query(f"SELECT seat FROM booking WHERE flight_id = {ph} AND seat IS NOT NULL", (FLIGHT,))
    return sorted((str(r[0]).strip() for r in rows), key=lambda s: seat_offset(s, "ABCDEFGHIJK") or 0)


def _free_seats(runtime: Runtime, n: int) -> list[str]:
    taken = set(_db_seats(runtime))
    return [s for s in (f"{row}{letter}" for row in range(90, 120) for letter in "ABCDEFGHIJK") if s not in taken][:n]


def _sync(module: object) -> object:
    return module


def _cached(runtime: Runtime, form: Any = _sync) -> tuple[list[str], int, int, int]:
    """Members, BITCOUNT, booked and available, from the cache alone (fails if any read missed)."""
    before = runtime.metrics.of("seat_map").misses, runtime.metrics.of("seat_availability").misses
    members = form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime)
    count = form(seat_map).count(flight_id=FLIGHT, runtime=runtime)
    seats = form(seat_availability).fetch(flight_id=FLIGHT, runtime=runtime)
    assert seats is not None
    assert (runtime.metrics.of("seat_map").misses, runtime.metrics.of("seat_availability").misses) == before, "read from the database"
    return members, count, seats.booked, seats.available


# ------------------------------------------------------------------ reads


def test_the_seat_map_round_trips_as_a_valkey_bitmap(form: Form, runtime: Runtime) -> None:
    truth = _db_seats(runtime)
    assert truth, "flight 1001 has bookings in the tiny data"
    assert form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime) == truth
    assert form(seat_map).count(flight_id=FLIGHT, runtime=runtime) == len(truth)
    assert all(form(seat_map).contains(flight_id=FLIGHT, seat=s, runtime=runtime) for s in truth)
    assert not form(seat_map).contains(flight_id=FLIGHT, seat=_free_seats(runtime, 1)[0], runtime=runtime)
    c = runtime.metrics.of("seat_map")
    assert (c.misses, c.db_queries, c.hits) == (1, 1, 2 + len(truth))
    # The entry is a plain bitmap: GETBIT and BITCOUNT on the key say the same.
    client = runtime.cache.client
    key = seat_map.key(flight_id=FLIGHT, runtime=runtime)
    assert client.bitcount(key) == len(truth)
    assert all(client.getbit(key, seat_offset(s, "ABCDEFGHIJK") or 0) == 1 for s in truth)
    assert 590_000 < client.pttl(key) <= 660_000  # ttl 10m plus at most 10% jitter


def test_an_empty_set_is_cached_and_told_apart_from_a_missing_entry(form: Form, runtime: Runtime) -> None:
    assert form(seat_map).fetch(flight_id=-5, runtime=runtime) == []
    key = seat_map.key(flight_id=-5, runtime=runtime)
    assert runtime.cache.client.exists(key) == 1 and runtime.cache.client.strlen(key) == 0
    assert form(seat_map).count(flight_id=-5, runtime=runtime) == 0
    assert not form(seat_map).contains(flight_id=-5, seat="1A", runtime=runtime)
    c = runtime.metrics.of("seat_map")
    assert (c.db_queries, c.hits) == (1, 2)


def test_a_member_the_set_cannot_hold_is_refused(form: Form, runtime: Runtime) -> None:
    for bad in ["0A", "01A", "12L", "A", "12a"]:
        with pytest.raises(ValueError, match="not a member"):
            form(seat_map).contains(flight_id=FLIGHT, seat=bad, runtime=runtime)


def test_invalidation_by_params_tag_and_generation(form: Form, runtime: Runtime) -> None:
    c = runtime.metrics.of("seat_map")
    form(seat_map).count(flight_id=FLIGHT, runtime=runtime)
    form(seat_map).count(flight_id=-5, runtime=runtime)
    form(seat_map).invalidate(flight_id=FLIGHT, runtime=runtime)
    assert not runtime.cache.client.exists(seat_map.key(flight_id=FLIGHT, runtime=runtime))
    form(seat_map).count(flight_id=FLIGHT, runtime=runtime)
    form(seat_map).count(flight_id=-5, runtime=runtime)
    assert (c.db_queries, c.hits) == (3, 1)
    assert form.invalidate_tag(f"seats:{FLIGHT}", runtime) >= 1
    form(seat_map).count(flight_id=FLIGHT, runtime=runtime)
    assert c.db_queries == 4
    form(seat_map).invalidate_all(runtime=runtime)  # one INCR: both entries are gone
    form(seat_map).count(flight_id=FLIGHT, runtime=runtime)
    form(seat_map).count(flight_id=-5, runtime=runtime)
    assert c.db_queries == 6


def test_a_fill_that_raced_an_invalidation_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # a writer's invalidation lands mid-query
    form.after_query(monkeypatch, seat_map.QUERY, lambda rows: invalidate_tag(f"seats:{FLIGHT}", runtime), "rows_from_database")
    assert form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime) == _db_seats(runtime)
    assert not runtime.cache.client.exists(seat_map.key(flight_id=FLIGHT, runtime=runtime))
    assert runtime.metrics.of("seat_map").stale_fills_dropped == 1


def test_concurrent_cold_callers_run_one_query(form: Form, runtime: Runtime) -> None:
    answers = form.gather([lambda: form(seat_map).count(flight_id=FLIGHT, runtime=runtime)] * 16)
    assert answers == [len(_db_seats(runtime))] * 16
    assert runtime.metrics.of("seat_map").db_queries == 1


def test_with_valkey_unreachable_the_database_answers(form: Form, runtime: Runtime, db_url: str) -> None:
    with form.runtime_of(database_url=db_url, cache_url="valkey://127.0.0.1:1/0", project_dir=Path.cwd()) as rt:
        truth = _db_seats(runtime)
        assert form(seat_map).fetch(flight_id=FLIGHT, runtime=rt) == truth
        assert form(seat_map).count(flight_id=FLIGHT, runtime=rt) == len(truth)
        assert form(seat_map).contains(flight_id=FLIGHT, seat=truth[0], runtime=rt)
        assert rt.metrics.of("seat_map").cache_errors >= 1


# ----------------------------------------------------------------- writes


def test_booking_and_cancelling_move_bit_and_counters_in_place(form: Form, runtime: Runtime) -> None:
    members, count, booked, available = _cached_after_fill(runtime, form)
    assert count == booked == len(members)
    seat = _free_seats(runtime, 1)[0]
    assert form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=runtime) == 1
    try:
        after = _cached(runtime, form)  # still hits: the write changed the entries, it did not drop them
        assert after[1:] == (count + 1, booked + 1, available - 1)
        assert seat in after[0] and after[0] == _db_seats(runtime)
        assert form(seat_map).contains(flight_id=FLIGHT, seat=seat, runtime=runtime)
    finally:
        assert form(cancel_booking).execute(booking_id=_booking_id(runtime, seat), runtime=runtime) == 1
    back = _cached(runtime, form)
    assert back == (members, count, booked, available)
    assert not form(seat_map).contains(flight_id=FLIGHT, seat=seat, runtime=runtime)
    assert runtime.cache.client.keys("*:wip") == [] and runtime.cache.client.keys("fg:~lock:*") == []


def test_setting_a_set_bit_moves_no_counter(runtime: Runtime) -> None:
    _, count, booked, available = _cached_after_fill(runtime)
    seat = _db_seats(runtime)[0]  # already booked: its bit is set
    held = changes(book_seat.WRITE.sets, (FLIGHT, 4, seat, PRICE), [], runtime.keyspace)
    hold(runtime, held)
    assert apply(runtime, held) == [0]  # a replayed update: nothing really changed
    assert _cached(runtime)[1:] == (count, booked, available)
    free = _free_seats(runtime, 1)[0]
    for expected in ([1], [0]):  # the same update twice moves the counters once
        held = changes(book_seat.WRITE.sets, (FLIGHT, 4, free, PRICE), [], runtime.keyspace)
        hold(runtime, held)
        assert apply(runtime, held) == expected
    assert _cached(runtime)[1:] == (count + 1, booked + 1, available - 1)


def _cached_after_fill(runtime: Runtime, form: Any = _sync) -> tuple[list[str], int, int, int]:
    form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime)
    form(seat_availability).fetch(flight_id=FLIGHT, runtime=runtime)
    return _cached(runtime, form)


def test_a_write_after_an_invalidation_creates_nothing_partial(form: Form, runtime: Runtime) -> None:
    client = runtime.cache.client
    bitmap, counts = seat_map.key(flight_id=FLIGHT, runtime=runtime), seat_availability.key(flight_id=FLIGHT, runtime=runtime)
    seats = _free_seats(runtime, 3)
    try:
        # The set's entry was dropped: the write creates no set and drops the counters it can no longer vouch for.
        _cached_after_fill(runtime, form)
        form(seat_map).invalidate(flight_id=FLIGHT, runtime=runtime)
        form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=seats[0], price=PRICE, runtime=runtime)
        assert not client.exists(bitmap) and not client.exists(bitmap + ":meta") and not client.exists(counts)
        # Under an old generation: not revived, not changed.
        _cached_after_fill(runtime, form)
        form(seat_map).invalidate_all(runtime=runtime)
        old = client.get(bitmap)
        form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=seats[1], price=PRICE, runtime=runtime)
        assert client.get(bitmap) in (None, old) and not client.exists(counts)
        # The counters' entry is missing: the set moves, no counter entry appears.
        form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime)
        form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=seats[2], price=PRICE, runtime=runtime)
        assert not client.exists(counts)
        assert form(seat_map).contains(flight_id=FLIGHT, seat=seats[2], runtime=runtime)
        assert form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime) == _db_seats(runtime)
    finally:
        for s in seats:
            form(cancel_booking).execute(booking_id=_booking_id(runtime, s), runtime=runtime)
    seats_now = form(seat_availability).fetch(flight_id=FLIGHT, runtime=runtime)
    assert seats_now is not None and seats_now.booked == form(seat_map).count(flight_id=FLIGHT, runtime=runtime) == len(_db_seats(runtime))


def test_a_failed_write_releases_its_hold_and_changes_nothing(form: Form, runtime: Runtime) -> None:
    before = _cached_after_fill(runtime, form)
    taken = _db_seats(runtime)[0]
    with pytest.raises(QueryError):  # the seat is taken: the unique key refuses it
        form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=taken, price=PRICE, runtime=runtime)
    assert runtime.cache.client.keys("*:wip") == [] and runtime.cache.client.keys("fg:~lock:*") == []
    assert _cached(runtime, form) == before


def test_a_fill_in_flight_during_a_write_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader queries before the commit and stores after the update: its stale fill must be dropped."""
    seat = _free_seats(runtime, 1)[0]

    def book(rows: object) -> None:  # the reader has read before the booking commits
        book_seat.execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=runtime)

    form.after_query(monkeypatch, seat_map.QUERY, book, "rows_from_database")
    try:
        assert seat not in form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime)  # answered from its own read
        assert not runtime.cache.client.exists(seat_map.key(flight_id=FLIGHT, runtime=runtime))  # but not stored
        monkeypatch.undo()
        assert seat in form(seat_map).fetch(flight_id=FLIGHT, runtime=runtime)
    finally:
        monkeypatch.undo()
        form(cancel_booking).execute(booking_id=_booking_id(runtime, seat), runtime=runtime)


def test_concurrent_bookings_leave_counters_equal_to_bitcount(runtime: Runtime) -> None:
    _, count, booked, available = _cached_after_fill(runtime)
    seats = _free_seats(runtime, 12)
    errors: list[BaseException] = []
    stop = threading.Event()

    def book(seat: str) -> None:
        try:
            book_seat.execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=runtime)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def read() -> None:  # readers keep refilling whatever a write dropped
        while not stop.is_set():
            seat_map.count(flight_id=FLIGHT, runtime=runtime)
            seat_availability.fetch(flight_id=FLIGHT, runtime=runtime)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=book, args=(s,)) for s in seats]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    try:
        assert errors == []
        _counters_match_the_database(runtime, seats, count, booked, available)
    finally:
        for s in seats:
            cancel_booking.execute(booking_id=_booking_id(runtime, s), runtime=runtime)


@pytest.mark.parametrize("form", ["async"], indirect=True)
def test_concurrent_bookings_from_tasks_leave_counters_equal_to_bitcount(form: Form, runtime: Runtime) -> None:
    """The test above with tasks on one event loop for threads: 12 bookings at once, two readers refilling."""
    _, count, booked, available = _cached_after_fill(runtime, form)
    seats = _free_seats(runtime, 12)
    rt = form.of(runtime)
    stop = asyncio.Event()

    async def read() -> None:  # readers keep refilling whatever a write dropped
        while not stop.is_set():
            await seat_map_aio.count(flight_id=FLIGHT, runtime=rt)
            await seat_availability_aio.fetch(flight_id=FLIGHT, runtime=rt)

    async def book_all() -> list[int | BaseException]:
        readers = [asyncio.create_task(read()) for _ in range(2)]
        try:
            bookings = [book_seat_aio.execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=rt) for seat in seats]
            return await asyncio.gather(*bookings, return_exceptions=True)
        finally:
            stop.set()
            await asyncio.gather(*readers)

    try:
        assert form.run(book_all(), runtime) == [1] * 12
        _counters_match_the_database(runtime, seats, count, booked, available)
    finally:
        for s in seats:
            form(cancel_booking).execute(booking_id=_booking_id(runtime, s), runtime=runtime)


def _counters_match_the_database(runtime: Runtime, seats: list[str], count: int, booked: int, available: int) -> None:
    """The cached set, its BITCOUNT and the counters all say what the database holds: ``seats`` booked on top of the rest."""
    runtime.cache.settle()
    truth = _db_seats(runtime)
    members = seat_map.fetch(flight_id=FLIGHT, runtime=runtime)
    availability = seat_availability.fetch(flight_id=FLIGHT, runtime=runtime)
    assert availability is not None
    assert members == truth
    assert (
        availability.booked
        == seat_map.count(flight_id=FLIGHT, runtime=runtime)
        == runtime.cache.client.bitcount(seat_map.key(flight_id=FLIGHT, runtime=runtime))
        == len(truth)
        == count + len(seats)
    )
    assert availability.available == available - len(seats) and availability.booked == booked + len(seats)


def test_a_committed_write_whose_update_cannot_reach_valkey_says_so(form: Form, runtime: Runtime, db_url: str) -> None:
    with form.runtime_of(database_url=db_url, cache_url="valkey://127.0.0.1:1/0", project_dir=Path.cwd()) as rt:
        seat = _free_seats(runtime, 1)[0]
        with pytest.raises(InvalidationError, match="committed"):
            form(book_seat).execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=rt)
        assert seat in _db_seats(runtime)
        with pytest.raises(InvalidationError):
            form(cancel_booking).execute(booking_id=_booking_id(runtime, seat), runtime=rt)
        assert seat not in _db_seats(runtime)


def _ids_query() -> BitmapQuery[IdRow, int]:
    """An int-member set without the lock: a flight's booking ids (bit n: booking n)."""
    text = "SELECT b.booking_id FROM booking b WHERE b.flight_id = {}"
    return BitmapQuery[IdRow, int](
        name="booking_ids",
        version="test00000001",
        sql={"mysql": text.format("%s"), "postgres": text.format("%s"), "sqlite": text.format("?")},
        params=(Param("flight_id", "int"),),
        param_order=(0,),
        row=IdRow,
        columns=(Col("booking_id", "int"),),
        member="booking_id",
        key=("ids:", 0),
        tags=(("ids:", row_field("booking_id")),),
        ttl=60,
        negative_ttl=5,
        stampede="none",
    )


@dataclass(frozen=True, slots=True)
class IdRow:
    booking_id: int


def test_an_int_member_set_without_the_lock_round_trips(runtime: Runtime) -> None:
    q = _ids_query()
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    ids = sorted(int(r[0]) for r in runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph}", (FLIGHT,)))
    assert q.members((FLIGHT,), runtime) == ids == q.members((FLIGHT,), runtime)
    assert q.count((FLIGHT,), runtime) == len(ids)
    assert q.contains((FLIGHT,), ids[0], runtime)
    assert q.contains((FLIGHT,), ids[-1] + 1, runtime) is False
    assert runtime.cache.client.getbit(q.key((FLIGHT,), runtime), ids[0]) == 1
    assert (runtime.metrics.of("booking_ids").db_queries, runtime.metrics.of("booking_ids").hits) == (1, 4)
    with pytest.raises(ValueError, match="not a member"):
        q.contains((FLIGHT,), -1, runtime)
    assert 55_000 < runtime.cache.client.pttl(q.key((FLIGHT,), runtime)) <= 60_000  # no jitter here
    assert invalidate_tag(f"ids:{ids[0]}", runtime) == 1  # tagged from its rows
    assert q.count((FLIGHT,), runtime) == len(ids) and runtime.metrics.of("booking_ids").db_queries == 2
    assert q.members((-5,), runtime) == [] and 0 < runtime.cache.client.pttl(q.key((-5,), runtime)) <= 5_000  # negative_ttl


def test_randomized_readers_never_see_a_set_or_counter_older_than_the_last_returned_write(runtime: Runtime) -> None:
    """Bookings one by one, then cancellations, under readers that also invalidate: after a write
    returns, no reader sees a seat map or a booked count from before it."""
    base = len(_db_seats(runtime))
    seats = _free_seats(runtime, 80)
    state = ("up", 0)  # direction, and the bookings in place once the last write returned
    errors: list[str] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        import random

        rng = random.Random(seed)
        while not stop.is_set():
            direction, done = state
            count = seat_map.count(flight_id=FLIGHT, runtime=runtime)
            row = seat_availability.fetch(flight_id=FLIGHT, runtime=runtime)
            assert row is not None
            if state[0] != direction:
                continue  # the writer turned round meanwhile: the floor no longer holds
            for what, seen in (("bitcount", count), ("booked", row.booked), ("capacity - available", row.capacity - row.available)):
                if (direction == "up" and seen < base + done) or (direction == "down" and seen > base + done):
                    errors.append(f"{what} {seen} after {direction} to {base + done}")
            roll = rng.random()
            if roll < 0.03:
                seat_map.invalidate(flight_id=FLIGHT, runtime=runtime)
            elif roll < 0.06:
                seat_availability.invalidate(flight_id=FLIGHT, runtime=runtime)
            elif roll < 0.07:
                seat_map.invalidate_all(runtime=runtime)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    booked: list[str] = []
    try:
        for seat in seats:
            book_seat.execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=runtime)
            booked.append(seat)
            state = ("up", len(booked))
            time.sleep(0.002)  # let the readers run, and hit, between writes
        state = ("down", len(booked))
        while booked:
            cancel_booking.execute(booking_id=_booking_id(runtime, booked[-1]), runtime=runtime)
            booked.pop()
            state = ("down", len(booked))
            time.sleep(0.002)
    finally:
        stop.set()
        for t in threads:
            t.join()
        for seat in booked:
            cancel_booking.execute(booking_id=_booking_id(runtime, seat), runtime=runtime)
    assert not errors, errors[:5]
    row = seat_availability.fetch(flight_id=FLIGHT, runtime=runtime)
    assert row is not None and row.booked == seat_map.count(flight_id=FLIGHT, runtime=runtime) == base
    assert runtime.metrics.of("seat_map").hits > 0 and runtime.metrics.of("seat_availability").hits > 0


def test_a_fill_that_took_the_lock_from_an_invalidation_during_a_write_is_dropped(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalidation deletes a held lock mid-write; a reader takes the lock and reads from before
    the commit; the write's update runs before that reader stores: the reader's fill must go."""
    before = _cached_after_fill(runtime)
    held = changes(book_seat.WRITE.sets, (FLIGHT, 4, _free_seats(runtime, 1)[0], PRICE), [], runtime.keyspace)
    hold(runtime, held)
    seat_availability.invalidate(flight_id=FLIGHT, runtime=runtime)  # deletes the entry and the held lock
    query = seat_availability.QUERY
    real = query.query_database

    def read_before_the_commit_store_after_the_update(args: tuple[object, ...], rt: Runtime) -> object:
        row = real(args, rt)  # the database as it was before the write's commit
        assert apply(rt, held) == [-1_000_000_000]  # the hold was broken: set and counters dropped
        return row

    monkeypatch.setattr(query, "query_database", read_before_the_commit_store_after_the_update)
    row = seat_availability.fetch(flight_id=FLIGHT, runtime=runtime)
    assert row is not None and row.booked == before[2]
    assert not runtime.cache.client.exists(seat_availability.key(flight_id=FLIGHT, runtime=runtime))  # not stored
    assert not runtime.cache.client.exists(seat_map.key(flight_id=FLIGHT, runtime=runtime))
    assert runtime.metrics.of("seat_availability").stale_fills_dropped == 1


def test_a_delete_of_many_rows_moves_the_counters_by_the_bits_cleared_and_a_row_without_a_seat_drops(runtime: Runtime) -> None:
    """The update of a DELETE that touched several looked-up rows: one script, counters moved by the bits really cleared."""
    seats = _free_seats(runtime, 2)
    for s in seats:
        book_seat.execute(flight_id=FLIGHT, passenger_id=4, seat=s, price=PRICE, runtime=runtime)
    try:
        _, count, booked, available = _cached_after_fill(runtime)
        rows = [SimpleNamespace(flight_id=FLIGHT, seat=s, passenger_id=4) for s in [*seats, "119K"]]  # 119K: never booked
        held = changes(cancel_booking.WRITE.sets, (0,), rows, runtime.keyspace)
        hold(runtime, held)
        assert apply(runtime, held) == [-2]
        assert _cached(runtime)[1:] == (count - 2, booked - 2, available + 2)
        assert not any(seat_map.contains(flight_id=FLIGHT, seat=s, runtime=runtime) for s in seats)
        held = changes(cancel_booking.WRITE.sets, (0,), [SimpleNamespace(flight_id=FLIGHT, seat=None, passenger_id=4)], runtime.keyspace)
        hold(runtime, held)
        assert apply(runtime, held) == [-1_000_000_000]  # no seat: the counters cannot follow the set
        assert not runtime.cache.client.exists(seat_map.key(flight_id=FLIGHT, runtime=runtime), seat_availability.key(flight_id=FLIGHT, runtime=runtime))
    finally:
        for s in seats:
            cancel_booking.execute(booking_id=_booking_id(runtime, s), runtime=runtime)
