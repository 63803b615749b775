"""store: zset on a real Valkey and all three databases: the ranking, top/rank/score,
invalidation, leases, and score moves from writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flughafen import Runtime, invalidate_tag
from flughafen.worker import run_worker
from generated import book_seat, cancel_booking, hub_route_counts, popular_flights, reprice_booking
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster


def _client(rt: Runtime) -> Any:
    return rt.cache.client


def _expected(runtime: Runtime) -> list[tuple[str, int]]:
    """The ranking straight from the database, in Valkey's order (score, then member bytes, descending)."""
    source = "`from`" if runtime.db.dialect == "mysql" else '"from"'
    sql = f"SELECT a.iata, COUNT(*) FROM flightschedule s JOIN airport a ON a.airport_id = s.{source} WHERE a.iata IS NOT NULL GROUP BY a.airport_id, a.iata"
    rows = runtime.db.query(sql, ())
    return sorted(((str(i), int(n)) for i, n in rows), key=lambda r: (r[1], r[0].encode()), reverse=True)


def test_the_ranking_round_trips_as_a_sorted_set(form: Form, runtime: Runtime) -> None:
    cold = form(hub_route_counts).fetch(runtime=runtime)
    warm = form(hub_route_counts).fetch(runtime=runtime)
    assert cold == warm
    assert [(r.iata, r.routes) for r in warm] == _expected(runtime)
    c = runtime.metrics.of("hub_route_counts")
    assert (c.misses, c.hits, c.db_queries) == (1, 1, 1)
    key = hub_route_counts.key(runtime=runtime)
    assert _client(runtime).type(key) == b"zset"
    assert _client(runtime).zcard(key) == len(warm)
    best = warm[0]
    assert _client(runtime).zscore(key, best.iata) == best.routes


def test_top_rank_and_score_are_single_reads(form: Form, runtime: Runtime) -> None:
    ranking = form(hub_route_counts).fetch(runtime=runtime)
    assert len(ranking) > 5
    c = runtime.metrics.of("hub_route_counts")
    assert form(hub_route_counts).top(n=3, runtime=runtime) == ranking[:3]
    assert form(hub_route_counts).top(n=0, runtime=runtime) == []
    third = ranking[2]
    assert form(hub_route_counts).rank(iata=third.iata, runtime=runtime) == 2
    assert form(hub_route_counts).score(iata=third.iata, runtime=runtime) == third.routes
    assert form(hub_route_counts).rank(iata="ZZZ", runtime=runtime) is None
    assert form(hub_route_counts).score(iata="ZZZ", runtime=runtime) is None
    assert (c.hits, c.db_queries) == (5, 1)  # top(n=0) asks nothing


def test_a_read_on_a_miss_fills_the_whole_ranking(form: Form, runtime: Runtime) -> None:
    first = form(hub_route_counts).top(n=1, runtime=runtime)
    assert [(r.iata, r.routes) for r in first] == _expected(runtime)[:1]
    assert _client(runtime).zcard(hub_route_counts.key(runtime=runtime)) == len(_expected(runtime))
    member = first[0].iata
    form(hub_route_counts).invalidate(runtime=runtime)
    assert not _client(runtime).exists(hub_route_counts.key(runtime=runtime), hub_route_counts.key(runtime=runtime) + ":meta")
    assert form(hub_route_counts).rank(iata=member, runtime=runtime) == 0
    assert runtime.metrics.of("hub_route_counts").db_queries == 2


def test_invalidation_by_tag_and_all(form: Form, runtime: Runtime) -> None:
    ranking = form(hub_route_counts).fetch(runtime=runtime)
    assert form.invalidate_tag("schedule", runtime) == 2  # the sorted set and its meta
    assert not _client(runtime).exists(hub_route_counts.key(runtime=runtime))
    assert form(hub_route_counts).fetch(runtime=runtime) == ranking
    form(hub_route_counts).invalidate_all(runtime=runtime)
    c = runtime.metrics.of("hub_route_counts")
    misses = c.misses
    assert form(hub_route_counts).score(iata=ranking[0].iata, runtime=runtime) == ranking[0].routes
    assert c.misses == misses + 1


def test_a_fill_that_raced_an_invalidation_is_dropped(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    form.after_query(monkeypatch, hub_route_counts.QUERY, lambda result: invalidate_tag("schedule", runtime))
    assert form(hub_route_counts).fetch(runtime=runtime)
    assert not _client(runtime).exists(hub_route_counts.key(runtime=runtime), hub_route_counts.key(runtime=runtime) + ":meta")
    assert runtime.metrics.of("hub_route_counts").stale_fills_dropped == 1


def test_booking_and_cancelling_move_a_flights_score_in_place(form: Form, runtime: Runtime) -> None:
    ranking = form(popular_flights).fetch(runtime=runtime)
    assert [(r.flight_id, r.bookings) for r in ranking] == _bookings(runtime)
    flight = ranking[-1]  # the least booked: a move changes its rank
    key = popular_flights.key(runtime=runtime)
    c = runtime.metrics.of("popular_flights")
    assert form(book_seat).execute(flight_id=flight.flight_id, passenger_id=4, seat="98K", price=Decimal("10.00"), runtime=runtime) == 1
    try:
        assert _client(runtime).zscore(key, str(flight.flight_id)) == flight.bookings + 1  # moved, not dropped
        queries = c.db_queries
        assert form(popular_flights).score(flight_id=flight.flight_id, runtime=runtime) == flight.bookings + 1
        moved = form(popular_flights).fetch(runtime=runtime)
        assert c.db_queries == queries  # from the cache
        assert [(r.flight_id, r.bookings) for r in moved] == _bookings(runtime)  # what the database says now
    finally:
        assert form(cancel_booking).execute(booking_id=_booking_id(runtime, flight.flight_id, "98K"), runtime=runtime) == 1
    assert form(popular_flights).fetch(runtime=runtime) == ranking
    assert c.db_queries == 1


def test_a_move_never_writes_into_a_dropped_or_old_ranking(form: Form, runtime: Runtime) -> None:
    ranking = form(popular_flights).fetch(runtime=runtime)
    flight = ranking[0]
    key = popular_flights.key(runtime=runtime)
    form(popular_flights).invalidate_all(runtime=runtime)  # the stored ranking is of an old generation now
    form(book_seat).execute(flight_id=flight.flight_id, passenger_id=4, seat="97K", price=Decimal("10.00"), runtime=runtime)
    try:
        assert _client(runtime).zscore(key, str(flight.flight_id)) == flight.bookings  # untouched
        assert form(popular_flights).score(flight_id=flight.flight_id, runtime=runtime) == flight.bookings + 1  # refilled
        form(popular_flights).invalidate(runtime=runtime)
        form(cancel_booking).execute(booking_id=_booking_id(runtime, flight.flight_id, "97K"), runtime=runtime)
        assert not _client(runtime).exists(key)  # nothing created by the move
    finally:
        ph = "?" if runtime.db.dialect == "sqlite" else "%s"
        runtime.db.execute(f"DELETE FROM booking WHERE flight_id = {ph} AND seat = {ph}", (flight.flight_id, "97K"))
    assert form(popular_flights).score(flight_id=flight.flight_id, runtime=runtime) == flight.bookings


def test_a_fill_that_read_before_a_committed_move_is_dropped(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ranking = form(popular_flights).fetch(runtime=runtime)
    flight = ranking[0]
    form(popular_flights).invalidate(runtime=runtime)

    def book(result: object) -> None:  # the reader has read before this booking
        book_seat.execute(flight_id=flight.flight_id, passenger_id=4, seat="96K", price=Decimal("10.00"), runtime=runtime)

    form.after_query(monkeypatch, popular_flights.QUERY, book)
    try:
        form(popular_flights).fetch(runtime=runtime)
        monkeypatch.undo()
        assert not _client(runtime).exists(popular_flights.key(runtime=runtime))  # the fill was refused: it missed the booking
        assert runtime.metrics.of("popular_flights").stale_fills_dropped == 1
        assert form(popular_flights).score(flight_id=flight.flight_id, runtime=runtime) == flight.bookings + 1
    finally:
        monkeypatch.undo()
        form(cancel_booking).execute(booking_id=_booking_id(runtime, flight.flight_id, "96K"), runtime=runtime)
    assert form(popular_flights).score(flight_id=flight.flight_id, runtime=runtime) == flight.bookings


@pytest.mark.single_node  # write: behind, whose worker does not run on a cluster yet
def test_a_write_that_does_not_touch_the_count_leaves_the_ranking(form: Form, runtime: Runtime) -> None:
    ranking = form(popular_flights).fetch(runtime=runtime)
    assert reprice_booking.WRITE.scores == () and "popular_flights" not in reprice_booking.WRITE.generations
    booking_id = _booking_id(runtime, ranking[0].flight_id, _any_seat(runtime, ranking[0].flight_id))
    price = runtime.db.query(("SELECT price FROM booking WHERE booking_id = " + ("?" if runtime.db.dialect == "sqlite" else "%s")), (booking_id,))[0][0]
    form(reprice_booking).execute(booking_id=booking_id, price=Decimal(str(price)), runtime=runtime)
    assert run_worker(runtime, [reprice_booking.WRITE], max_idle_rounds=1, block_ms=50).applied == 1
    c = runtime.metrics.of("popular_flights")
    assert form(popular_flights).top(n=3, runtime=runtime) == ranking[:3]
    assert (c.misses, c.hits) == (1, 1)  # still cached: a price is not a booking count


def _any_seat(runtime: Runtime, flight_id: int) -> str:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    return str(runtime.db.query(f"SELECT seat FROM booking WHERE flight_id = {ph} ORDER BY seat", (flight_id,))[0][0])


def _bookings(runtime: Runtime) -> list[tuple[int, int]]:
    rows = runtime.db.query("SELECT flight_id, COUNT(*) FROM booking GROUP BY flight_id", ())
    return sorted(((int(f), int(n)) for f, n in rows), key=lambda r: (r[1], str(r[0]).encode()), reverse=True)


def _booking_id(runtime: Runtime, flight_id: int, seat: str) -> int:
    ph = "?" if runtime.db.dialect == "sqlite" else "%s"
    rows = runtime.db.query(f"SELECT booking_id FROM booking WHERE flight_id = {ph} AND seat = {ph}", (flight_id, seat))
    return int(rows[0][0])


def test_stale_if_error_serves_the_last_ranking_when_the_database_is_down(form: Form, db_url: str, valkey_server: object) -> None:
    from pathlib import Path

    from flughafen import QueryError
    from tests.integration.conftest import cache_url

    cache = cache_url(valkey_server)
    with form.runtime_of(database_url=db_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as up:
        form(hub_route_counts).invalidate(runtime=up)
        fresh = form(hub_route_counts).fetch(runtime=up)
        form(hub_route_counts).invalidate(runtime=up)  # the entry is gone; its stale copy stays
    down_url = "postgresql://postgres:pw@127.0.0.1:1/nowhere"
    with form.runtime_of(database_url=down_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as down:
        assert form(hub_route_counts).top(n=3, runtime=down) == fresh[:3]
        assert form.last_read_was_stale()
    with form.runtime_of(database_url=down_url, cache_url=cache, project_dir=Path.cwd(), cache_namespace="stale-copies") as strict:
        with pytest.raises(QueryError, match="hub_route_counts"):
            form(hub_route_counts).fetch(runtime=strict)


def test_concurrent_misses_on_one_ranking_run_one_query(form: Form, runtime: Runtime) -> None:
    out = form.gather([lambda: form(hub_route_counts).top(n=5, runtime=runtime)] * 16)
    assert len(out) == 16 and all(o == out[0] for o in out)
    assert runtime.metrics.of("hub_route_counts").db_queries == 1


def test_the_ranking_and_its_meta_expire_together_after_the_ttl_with_jitter(form: Form, runtime: Runtime) -> None:
    form(hub_route_counts).fetch(runtime=runtime)
    key = hub_route_counts.key(runtime=runtime)
    ttl_ms, meta_ms = _client(runtime).pttl(key), _client(runtime).pttl(key + ":meta")
    assert 6 * 3600_000 - 10_000 < ttl_ms <= 6 * 3600_000 * 1.1
    assert abs(ttl_ms - meta_ms) < 1000
