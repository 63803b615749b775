"""Every script names each key it touches in KEYS: reads, fills, stale copies, invalidations
and writes of every store kind run with scripts that refuse any other key.

Valkey does not check it within one slot, so the check is the scripts' own: each runs with a
prologue whose ``redis.call`` raises on a key the script was not given. Any refusal would
surface as a cache error (reads and fills fail open), so the test counts them.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey

from flughafen import Runtime, invalidate_tag, scripts
from flughafen.scripts import KindScripts, Script
from generated import airport_by_iata, book_seat, cancel_booking, flight_search, hub_route_counts, popular_flights, rename_airport, seat_map
from tests.integration.test_bitmap import FLIGHT, PRICE, _booking_id, _free_seats

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

DAY = datetime.date(2024, 12, 15)
DOWN = "postgresql://postgres:pw@127.0.0.1:1/nowhere"  # nothing listens on port 1

# Shadows the global ``redis`` for the rest of the script: its calls check their keys first.
GUARD = """
local real_redis = redis
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local MANY = {MGET = true, DEL = true, EXISTS = true}
local function check(k)
  if not declared[k] then error('undeclared key ' .. tostring(k)) end
end
local redis = {call = function(cmd, ...)
  local args = {...}
  if MANY[string.upper(cmd)] then
    for _, k in ipairs(args) do check(k) end
  else
    check(args[1])
  end
  return real_redis.call(cmd, ...)
end}
"""


def guarded(source: str) -> str:
    """The script with the guard after its shebang line (which must stay first)."""
    if source.startswith("#!"):
        first, _, rest = source.partition("\n")
        return first + "\n" + GUARD + rest
    return GUARD + source


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> None:
    every: list[Script] = []
    for value in vars(scripts).values():
        if isinstance(value, Script):
            every.append(value)
        elif isinstance(value, KindScripts):
            every += [value.hit, value.read_or_lock, value.fill]
    for script in every:
        source = guarded(script.source)
        monkeypatch.setattr(script, "source", source)
        monkeypatch.setattr(script, "sha", Script(source).sha)


def test_the_guard_refuses_a_key_the_script_was_not_given(runtime: Runtime, guard: None) -> None:
    with pytest.raises(valkey.exceptions.ResponseError, match=r"undeclared key k:x"):
        runtime.cache.script(guarded("return redis.call('GET', KEYS[1] .. ':x')"), ["k"], [])


@pytest.fixture
def strict(runtime: Runtime, guard: None, caplog: pytest.LogCaptureFixture) -> Iterator[Runtime]:
    with caplog.at_level(logging.WARNING, logger="flughafen"):
        yield runtime
        runtime.cache.settle()
    counted = {name: c.get("cache_errors", 0) for name, c in runtime.metrics.snapshot().items()}
    assert runtime.cache.errors == 0, caplog.text
    assert not any(counted.values()), counted
    assert "refused" not in caplog.text and "undeclared" not in caplog.text, caplog.text


def test_every_kind_s_reads_fills_and_invalidations_name_their_keys(strict: Runtime) -> None:
    rt = strict
    for _ in range(3):  # a miss, then READ_OR_LOCK (misses lately), then hits
        flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        airport_by_iata.fetch(iata="JFK", runtime=rt)
        hub_route_counts.fetch(runtime=rt)
        hub_route_counts.rank(iata="JFK", runtime=rt)
        popular_flights.top(n=3, runtime=rt)
        seat_map.count(flight_id=FLIGHT, runtime=rt)
        seat_map.contains(flight_id=FLIGHT, seat="1A", runtime=rt)
    batch = [("JFK", "LAX", DAY + datetime.timedelta(days=n)) for n in range(12)]
    flight_search.QUERY.warm_batch(batch, rt)
    flight_search.fetch_batch(batch, runtime=rt)
    assert invalidate_tag("route:JFK:LAX", rt) >= 1
    flight_search.invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
    airport_by_iata.invalidate_all(rt)
    hub_route_counts.invalidate(runtime=rt)
    for name in ("hub_route_counts", "flight_search", "airport_by_iata", "seat_map"):
        assert rt.metrics.of(name).hits >= 1, name


def test_writes_of_every_kind_name_their_keys(strict: Runtime) -> None:
    rt = strict
    jfk = airport_by_iata.fetch(iata="JFK", runtime=rt)
    assert jfk is not None
    seat_map.count(flight_id=FLIGHT, runtime=rt)
    popular_flights.top(n=3, runtime=rt)
    rename_airport.execute(airport_id=jfk.airport_id, name=jfk.name, runtime=rt)  # a hash refreshed in place
    seat = _free_seats(rt, 1)[0]
    book_seat.execute(flight_id=FLIGHT, passenger_id=4, seat=seat, price=PRICE, runtime=rt)  # bits, counters, scores
    cancel_booking.execute(booking_id=_booking_id(rt, seat), runtime=rt)
    assert airport_by_iata.fetch(iata="JFK", runtime=rt) == jfk


def test_stale_copies_are_read_naming_their_keys(runtime: Runtime, guard: None, db_url: str) -> None:
    url = runtime.config.cache_url.raw
    reads = [
        lambda rt: flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt),
        lambda rt: airport_by_iata.fetch(iata="JFK", runtime=rt),
        lambda rt: hub_route_counts.fetch(runtime=rt),
        lambda rt: seat_map.fetch(flight_id=FLIGHT, runtime=rt),
    ]
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as up:
        fresh = [read(up) for read in reads]
        up.cache.settle()
        assert up.cache.errors == 0
    with Runtime.from_config(database_url=DOWN, cache_url=url, project_dir=Path.cwd(), stale_if_error=600, cache_namespace="stale-copies") as down:
        down.cache.client.execute_command("PING")
        for read, expected in zip(reads, fresh, strict=True):
            airport_by_iata.invalidate_all(down)  # the entries gone: only their stale copies answer
            flight_search.invalidate_all(down)
            hub_route_counts.invalidate_all(down)
            seat_map.invalidate_all(down)
            assert read(down) == expected
        assert down.cache.errors == 0
