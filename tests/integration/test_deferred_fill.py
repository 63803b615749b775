"""Deferred fills: a miss sends its fill script and returns; the reply is read with the thread's next command.

A miss then costs one Valkey round trip and the query. These tests pin down
what must still hold: the entry lands, a thread's later commands reach the
server after its fills, a script the server lost is run again, a refused fill
is logged and counted, and a broken connection costs nothing but the fill.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import valkey

from flughafen import Runtime
from flughafen.keys import bucket_of
from generated import airport_by_iata, seat_availability
from tests.integration.conftest import cache_url, server_kwargs
from tests.integration.forms import Form


def other_client(valkey_server: object) -> valkey.Valkey:
    return valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]


def test_a_miss_returns_with_its_fill_unanswered_and_the_next_read_answers_it(runtime: Runtime, valkey_server: object) -> None:
    row = airport_by_iata.fetch(iata="JFK", runtime=runtime)
    assert runtime.cache.unanswered() == 1
    assert airport_by_iata.fetch(iata="JFK", runtime=runtime) == row  # its reply read in the same round trip
    assert runtime.cache.unanswered() == 0
    c = runtime.metrics.of("airport_by_iata")
    assert (c.misses, c.hits, c.db_queries, c.cache_errors) == (1, 1, 1, 0)
    assert other_client(valkey_server).exists(airport_by_iata.key(iata="JFK", runtime=runtime)) == 1


def test_the_pooled_client_answers_the_thread_s_fills_first(runtime: Runtime) -> None:
    """An invalidation (or any command on another connection) reaches the server after the thread's fills."""
    client = runtime.cache.client  # held across the reads, as application code may
    seat_availability.fetch(flight_id=1001, runtime=runtime)
    assert runtime.cache.unanswered() == 1
    assert client.exists(seat_availability.key(flight_id=1001, runtime=runtime)) == 1
    assert runtime.cache.unanswered() == 0
    seat_availability.fetch(flight_id=1003, runtime=runtime)
    pipe = client.pipeline()
    pipe.exists(seat_availability.key(flight_id=1003, runtime=runtime))
    assert runtime.cache.unanswered() == 1
    assert pipe.execute() == [1]
    assert runtime.cache.unanswered() == 0
    seat_availability.fetch(flight_id=1002, runtime=runtime)
    seat_availability.invalidate(flight_id=1002, runtime=runtime)  # after the fill, so it drops the entry
    assert runtime.cache.client.exists(seat_availability.key(flight_id=1002, runtime=runtime)) == 0


def test_a_fill_whose_script_the_server_lost_is_run_again(form: Form, runtime: Runtime, valkey_server: object) -> None:
    form(airport_by_iata).fetch(iata="JFK", runtime=runtime)  # every script loaded
    other_client(valkey_server).script_flush()  # as a restart would
    form(airport_by_iata).fetch(iata="LAX", runtime=runtime)  # its fill is refused: NOSCRIPT
    form.settle(runtime)
    assert other_client(valkey_server).exists(airport_by_iata.key(iata="LAX", runtime=runtime)) == 1
    assert runtime.metrics.of("airport_by_iata").cache_errors == 0


def test_a_refused_fill_is_logged_and_counted(form: Form, runtime: Runtime, valkey_server: object, caplog: pytest.LogCaptureFixture) -> None:
    other_client(valkey_server).set(
        runtime.keyspace.tag_key("seats:1001", bucket_of(seat_availability.key(flight_id=1001, runtime=runtime))), "not a set"
    )  # the fill's SADD fails: WRONGTYPE
    row = form(seat_availability).fetch(flight_id=1001, runtime=runtime)
    assert row is not None and row.flight_id == 1001  # the caller has its rows all the same
    with caplog.at_level(logging.WARNING, logger="flughafen"):
        form.settle(runtime)
    assert runtime.metrics.of("seat_availability").cache_errors == 1
    assert "refused a fill of " + seat_availability.key(flight_id=1001, runtime=runtime) in caplog.text
    assert "WRONGTYPE" in caplog.text


def test_a_broken_connection_loses_the_fill_and_nothing_else(runtime: Runtime, valkey_server: object) -> None:
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    own = runtime.cache.call("CLIENT", "ID")  # this thread's connection, its fill answered
    airport_by_iata.fetch(iata="LAX", runtime=runtime)
    other_client(valkey_server).client_kill_filter(_id=own)
    row = airport_by_iata.fetch(iata="CDG", runtime=runtime)  # the read fails: answered from the database
    assert row is not None and row.iata == "CDG"
    assert runtime.cache.unanswered() == 0
    runtime.cache.down_until = 0.0  # skip the backoff
    assert airport_by_iata.fetch(iata="CDG", runtime=runtime) == row
    runtime.cache.settle()
    assert runtime.cache.client.exists(airport_by_iata.key(iata="CDG", runtime=runtime)) == 1


def test_a_socket_that_fails_to_send_forgets_the_replies_it_owed(runtime: Runtime) -> None:
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    assert runtime.cache.unanswered() == 1
    runtime.cache._connection()._sock.close()  # the next send fails before any reply is read
    row = airport_by_iata.fetch(iata="LAX", runtime=runtime)  # answered from the database
    assert row is not None and row.iata == "LAX"
    assert runtime.cache.unanswered() == 0  # a new connection owes nothing: no reply is waited for in vain
    runtime.cache.down_until = 0.0
    assert airport_by_iata.fetch(iata="LAX", runtime=runtime) == row
    assert runtime.cache.client.exists(airport_by_iata.key(iata="LAX", runtime=runtime)) == 1


def test_with_fills_awaited_the_entry_is_there_when_the_miss_returns(db_url: str, valkey_server: object) -> None:
    other_client(valkey_server).flushall()
    with Runtime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=Path.cwd(), defer_fills=False) as rt:
        airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert rt.cache.unanswered() == 0
        assert other_client(valkey_server).exists(airport_by_iata.key(iata="JFK", runtime=rt)) == 1


def test_a_thread_that_ends_owing_a_reply_has_it_read_and_its_connection_closed(
    runtime: Runtime, valkey_server: object, caplog: pytest.LogCaptureFixture
) -> None:
    other = other_client(valkey_server)
    other.set(
        runtime.keyspace.tag_key("seats:1001", bucket_of(seat_availability.key(flight_id=1001, runtime=runtime))), "not a set"
    )  # the fill will be refused
    seat_availability.fetch(flight_id=1002, runtime=runtime)  # scripts loaded, this thread's connection open
    runtime.cache.settle()
    before = other.info("clients")["connected_clients"]
    with caplog.at_level(logging.WARNING, logger="flughafen"):
        worker = threading.Thread(target=lambda: seat_availability.fetch(flight_id=1001, runtime=runtime))
        worker.start()
        worker.join()  # the thread is gone, owing its fill's reply
        gc.collect()
    assert runtime.metrics.of("seat_availability").cache_errors == 1
    assert "refused a fill of " + seat_availability.key(flight_id=1001, runtime=runtime) in caplog.text
    assert wait_for(lambda: other.info("clients")["connected_clients"] == before)


def test_threads_that_come_and_go_leave_no_connections_behind(runtime: Runtime, valkey_server: object) -> None:
    """A thread per request (a threading server) must not gather a Valkey connection per request."""
    other = other_client(valkey_server)
    airport_by_iata.fetch(iata="JFK", runtime=runtime)
    before = other.info("clients")["connected_clients"]
    for _ in range(40):
        worker = threading.Thread(target=lambda: airport_by_iata.fetch(iata="JFK", runtime=runtime))
        worker.start()
        worker.join()
    gc.collect()
    assert runtime.metrics.of("airport_by_iata").hits == 40
    assert wait_for(lambda: other.info("clients")["connected_clients"] <= before + 1)


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Whether ``condition`` holds within ``seconds`` (the server notices a closed connection on its next turn)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_refused_fills_are_each_counted_and_logged_once_every_ten_seconds(runtime: Runtime, valkey_server: object, caplog: pytest.LogCaptureFixture) -> None:
    """A refusal on every miss (here a tag key of the wrong type) must not write a log line per miss."""
    other = other_client(valkey_server)
    flights = [1001, 1002, 1003, 1004]
    for flight in flights:
        other.set(runtime.keyspace.tag_key(f"seats:{flight}", bucket_of(seat_availability.key(flight_id=flight, runtime=runtime))), "not a set")
    with caplog.at_level(logging.WARNING, logger="flughafen"):
        for flight in flights[:3]:
            seat_availability.fetch(flight_id=flight, runtime=runtime)
        runtime.cache.settle()
        assert runtime.metrics.of("seat_availability").cache_errors == 3
        assert caplog.text.count("refused a fill") == 1
        runtime.cache._refusals_logged_at -= 10  # ten seconds later
        seat_availability.fetch(flight_id=flights[3], runtime=runtime)
        runtime.cache.settle()
    assert caplog.text.count("refused a fill") == 2
    assert "(and 2 more since the last report)" in caplog.text
    assert runtime.metrics.of("seat_availability").cache_errors == 4
