"""store: hash on a real Valkey and all three databases: typed round trips, single fields,
invalidation, leases, and rename_airport's write-through refresh of the cached row."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from flughafen import Col, Param, Runtime, invalidate_tag
from flughafen.keys import buckets
from flughafen.stores.hash import HashQuery, refresh_in_place
from generated import airport_by_iata, airports_in_country, rename_airport
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster


def _client(rt: Runtime) -> Any:
    return rt.cache.client


@dataclass(frozen=True, slots=True)
class Typed:
    i: int
    s: str
    f: float
    d: Decimal
    b: bool
    day: datetime.date
    at: datetime.datetime
    t: datetime.time
    n: str | None


TYPED_SQL = "SELECT 42 AS i, 'a:b c\u00e9' AS s, 1.5 AS f, 12.50 AS d, 1 AS b, '2024-12-15' AS day, '2024-12-15 10:30:05' AS at, '10:15:00' AS t, NULL AS n"
TYPED = HashQuery(
    name="typed_hash_test",
    version="000000000001",
    sql={"mysql": TYPED_SQL, "postgres": TYPED_SQL, "sqlite": TYPED_SQL},
    params=(Param("k", "str"),),
    param_order=(),
    row=Typed,
    columns=(
        Col("i", "int"),
        Col("s", "str"),
        Col("f", "float"),
        Col("d", "decimal", scale=2),
        Col("b", "bool"),
        Col("day", "date"),
        Col("at", "datetime"),
        Col("t", "time"),
        Col("n", "str", nullable=True),
    ),
    returns="one",
    key=("typed:", 0),
    ttl=60,
)
EXPECTED = Typed(
    42, "a:b c\u00e9", 1.5, Decimal("12.50"), True, datetime.date(2024, 12, 15), datetime.datetime(2024, 12, 15, 10, 30, 5), datetime.time(10, 15), None
)


def test_every_type_round_trips_exactly_through_the_hash(runtime: Runtime) -> None:
    cold = TYPED.one(("x",), runtime)
    warm = TYPED.one(("x",), runtime)
    assert cold == warm == EXPECTED
    assert str(warm.d) == "12.50"  # type: ignore[union-attr]
    c = runtime.metrics.of("typed_hash_test")
    assert (c.misses, c.hits, c.db_queries) == (1, 1, 1)
    stored = _client(runtime).hgetall(TYPED.key(("x",), runtime))
    assert (
        stored[b"d"] == b"12.5" and stored[b"f"] == b"1.5" and stored[b"b"] == b"1"
    )  # shortest text; the scale is restored on reading and stored[b"at"] == b"2024-12-15T10:30:05"
    assert b"n" not in stored  # NULL: no field
    assert TYPED.field(("x",), "t", runtime) == datetime.time(10, 15)
    assert TYPED.field(("x",), "n", runtime) is None
    assert TYPED.field(("x",), "d", runtime) == Decimal("12.50")


def test_airport_round_trip_is_a_hash_with_exact_decimals(form: Form, runtime: Runtime) -> None:
    cold = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    warm = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert cold == warm and cold is not None
    c = runtime.metrics.of("airport_by_iata")
    assert (c.misses, c.hits, c.db_queries) == (1, 1, 1)
    assert cold == airport_by_iata.QUERY.query_database(("JFK",), runtime)
    key = airport_by_iata.key(iata="JFK", runtime=runtime)
    assert _client(runtime).type(key) == b"hash"
    assert Decimal(_client(runtime).hget(key, "latitude").decode()) == cold.latitude  # readable by field name, trailing zeros dropped


def test_single_fields_are_read_alone_and_a_field_miss_fills_the_row(form: Form, runtime: Runtime) -> None:
    assert form(airport_by_iata).fetch_city(iata="LAX", runtime=runtime) == "LOS ANGELES"  # a miss: the whole row is stored
    c = runtime.metrics.of("airport_by_iata")
    assert (c.misses, c.db_queries) == (1, 1)
    row = form(airport_by_iata).fetch(iata="LAX", runtime=runtime)
    assert row is not None
    assert form(airport_by_iata).fetch_name(iata="LAX", runtime=runtime) == row.name
    assert form(airport_by_iata).fetch_airport_id(iata="LAX", runtime=runtime) == row.airport_id
    assert form(airport_by_iata).fetch_latitude(iata="LAX", runtime=runtime) == row.latitude
    assert (c.hits, c.db_queries) == (4, 1)
    assert form(airport_by_iata).fetch_city(iata="ZZZ", runtime=runtime) is None  # no such airport


def test_an_empty_result_is_cached_and_told_apart_from_a_missing_entry(form: Form, runtime: Runtime) -> None:
    assert form(airport_by_iata).fetch(iata="ZZZ", runtime=runtime) is None
    key = airport_by_iata.key(iata="ZZZ", runtime=runtime)
    assert _client(runtime).hkeys(key) == [b"~"]
    assert 250_000 < _client(runtime).pttl(key) <= 330_000  # negative_ttl 5m, jitter 10%
    assert form(airport_by_iata).fetch(iata="ZZZ", runtime=runtime) is None
    assert form(airport_by_iata).fetch_name(iata="ZZZ", runtime=runtime) is None
    c = runtime.metrics.of("airport_by_iata")
    assert (c.misses, c.hits, c.db_queries) == (1, 2, 1)


def test_ttl_has_jitter(form: Form, runtime: Runtime) -> None:
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    ttl_ms = _client(runtime).pttl(airport_by_iata.key(iata="JFK", runtime=runtime))
    assert 86_390_000 < ttl_ms <= 86_400_000 * 1.1


def test_invalidation_by_params_tag_and_all(form: Form, runtime: Runtime) -> None:
    jfk = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert jfk is not None
    form(airport_by_iata).fetch(iata="LAX", runtime=runtime)
    form(airport_by_iata).invalidate(iata="JFK", runtime=runtime)
    assert not _client(runtime).exists(airport_by_iata.key(iata="JFK", runtime=runtime))
    assert _client(runtime).exists(airport_by_iata.key(iata="LAX", runtime=runtime))
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert form.invalidate_tag(f"airport:{jfk.airport_id}", runtime) == 1
    assert not _client(runtime).exists(airport_by_iata.key(iata="JFK", runtime=runtime))
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    c = runtime.metrics.of("airport_by_iata")
    misses = c.misses
    form(airport_by_iata).invalidate_all(runtime=runtime)  # O(1): the hashes stay, their generation is old
    assert form(airport_by_iata).fetch(iata="JFK", runtime=runtime) == jfk
    assert form(airport_by_iata).fetch_city(iata="LAX", runtime=runtime) == "LOS ANGELES"
    assert c.misses == misses + 2


def test_a_fill_that_raced_an_invalidation_is_dropped(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    form.after_query(monkeypatch, airport_by_iata.QUERY, lambda result: invalidate_tag(f"airport:{result.airport_id}", runtime))
    assert form(airport_by_iata).fetch(iata="JFK", runtime=runtime) is not None
    assert not _client(runtime).exists(airport_by_iata.key(iata="JFK", runtime=runtime))
    assert runtime.metrics.of("airport_by_iata").stale_fills_dropped == 1


def test_concurrent_misses_on_one_hash_run_one_query(form: Form, runtime: Runtime) -> None:
    out = form.gather([lambda: form(airport_by_iata).fetch(iata="FRA", runtime=runtime)] * 24)
    assert len(out) == 24 and all(o == out[0] for o in out) and out[0] is not None
    assert runtime.metrics.of("airport_by_iata").db_queries == 1


def test_rename_refreshes_the_cached_hash_in_place(form: Form, runtime: Runtime) -> None:
    jfk = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert jfk is not None
    form(airports_in_country).fetch(country="UNITED STATES", runtime=runtime)
    key = airport_by_iata.key(iata="JFK", runtime=runtime)
    form(rename_airport).execute(airport_id=jfk.airport_id, name="IDLEWILD", runtime=runtime)
    try:
        assert _client(runtime).hget(key, "name") == b"IDLEWILD"  # refreshed, not dropped
        c = runtime.metrics.of("airport_by_iata")
        before = (c.hits, c.db_queries)
        renamed = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
        assert renamed is not None and renamed.name == "IDLEWILD" and renamed.city == jfk.city
        assert form(airport_by_iata).fetch_name(iata="JFK", runtime=runtime) == "IDLEWILD"
        assert (c.hits, c.db_queries) == (before[0] + 2, before[1])  # from the cache, no query
        assert renamed == airport_by_iata.QUERY.query_database(("JFK",), runtime)
        listed = form(airports_in_country).fetch(country="UNITED STATES", runtime=runtime)  # json: dropped and refilled
        assert [a.name for a in listed if a.airport_id == jfk.airport_id] == ["IDLEWILD"]
    finally:
        form(rename_airport).execute(airport_id=jfk.airport_id, name=jfk.name, runtime=runtime)
    assert form(airport_by_iata).fetch(iata="JFK", runtime=runtime) == jfk


def test_a_write_never_revives_or_half_creates_an_entry(form: Form, runtime: Runtime) -> None:
    jfk = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
    assert jfk is not None
    key = airport_by_iata.key(iata="JFK", runtime=runtime)
    form(airport_by_iata).invalidate(iata="JFK", runtime=runtime)
    form(rename_airport).execute(airport_id=jfk.airport_id, name="IDLEWILD", runtime=runtime)
    try:
        assert not _client(runtime).exists(key)  # no partial hash of one field
        form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
        form(airport_by_iata).invalidate_all(runtime=runtime)
        form(rename_airport).execute(airport_id=jfk.airport_id, name="IDLEWILD 2", runtime=runtime)
        assert not _client(runtime).exists(key)  # an entry of an old generation is dropped, not refreshed
        renamed = form(airport_by_iata).fetch(iata="JFK", runtime=runtime)
        assert renamed is not None and renamed.name == "IDLEWILD 2"
    finally:
        form(rename_airport).execute(airport_id=jfk.airport_id, name=jfk.name, runtime=runtime)


def test_a_late_refresh_of_an_older_write_never_overwrites_a_newer_one(runtime: Runtime) -> None:
    jfk = airport_by_iata.fetch(iata="JFK", runtime=runtime)
    assert jfk is not None
    key = airport_by_iata.key(iata="JFK", runtime=runtime)
    refresh = rename_airport.WRITE.refresh
    tag = f"airport:{jfk.airport_id}"
    client = _client(runtime)
    older = [int(client.incr(runtime.keyspace.sequence_in(b))) for b in buckets()]  # two writes' tickets, in commit order
    newer = [int(client.incr(runtime.keyspace.sequence_in(b))) for b in buckets()]
    assert refresh_in_place(runtime, refresh, (jfk.airport_id, "NEWER"), [tag], newer) == []
    assert refresh_in_place(runtime, refresh, (jfk.airport_id, "OLDER"), [tag], older) == []  # arrives late
    assert client.hget(key, "name") == b"NEWER"
    airport_by_iata.invalidate(iata="JFK", runtime=runtime)
    # A row filled after the older write took its ticket may hold either value: dropped, never overwritten.
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    assert refresh_in_place(runtime, refresh, (jfk.airport_id, "OLDER"), [tag], older) == []
    assert not client.exists(key)
