"""The runtime behind Sentinel (``valkey+sentinel://``), sync and async: the primary the sentinel names, through a
failover, a killed primary, and invalidations that the replica confirmed (WAIT) before they returned."""

from __future__ import annotations

import datetime
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from flughafen.local_cluster import LocalSentinel
from flughafen.replication import ReplicationTimeout
from flughafen.write import InvalidationError
from generated import airport_by_iata, airports_in_country, flight_search, rename_airport
from tests.integration.forms import FORMS, Form

ROOT = Path(__file__).resolve().parents[2]
CODES = ["JFK", "LAX", "SFO", "ORD", "FRA", "CDG"]
DAY = datetime.date(2024, 12, 15)
WITHIN = 60.0  # seconds: the bound on every wait (a shared 2-core machine)


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    with LocalSentinel() as own:
        yield own


@pytest.fixture(params=FORMS)
def sform(request: pytest.FixtureRequest, sentinel: LocalSentinel, db_url: str) -> Iterator[Form]:
    """A form (tests/integration/forms.py) whose runtimes are behind the test's own sentinel."""
    kind = Runtime if request.param == "sync" else AsyncRuntime

    def make(**kwargs: Any) -> Runtime | AsyncRuntime:
        return kind.from_config(**{"database_url": db_url, "cache_url": sentinel.url, "project_dir": ROOT, **kwargs})  # type: ignore[arg-type]

    with Runtime.from_config(database_url=db_url, cache_url=sentinel.url, project_dir=ROOT) as rt:
        made = Form(request.param, rt, make)
        try:
            yield made
        finally:
            made.close()


def until(condition: Callable[[], bool], within: float = WITHIN) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def exists(sentinel: LocalSentinel, port: int, key: str) -> int:
    server = sentinel.client(port)
    try:
        return int(server.exists(key))
    finally:
        server.close()


def reading_while(form: Form, action: Callable[[], Any], expected: dict[str, Any]) -> tuple[list[str], int, Any]:
    """Reads every code over and over (the test's thread: the form's loop is its own) while ``action`` runs in a thread;
    returns (the codes read wrong, the reads made, what ``action`` returned). A read that raises fails the test."""
    done: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(action())
        except BaseException as e:  # noqa: BLE001 - reported below
            failed.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    wrong, reads = [], 0
    while thread.is_alive() or reads < len(expected):
        for code, answer in expected.items():
            if form(airport_by_iata).fetch(iata=code, runtime=form.runtime) != answer:
                wrong.append(code)
            reads += 1
    thread.join()
    if failed:
        raise failed[0]
    return wrong, reads, done[0]


def fills_reach(form: Form, sentinel: LocalSentinel, port: int) -> None:
    """After a failover: a miss fills the primary on ``port``, and is then a hit."""
    rt = form.runtime
    key = flight_search.key(origin="JFK", destination="LAX", day=DAY, runtime=rt)

    def filled() -> bool:
        try:
            form(flight_search).invalidate(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        except Exception:  # noqa: BLE001 - sent on a connection the failover closed: the caller is told, and tries again
            return False
        form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        form.settle(rt)
        return exists(sentinel, port, key) == 1

    assert until(filled), "no fill reached the new primary"
    hits = rt.metrics.of("flight_search").hits
    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
    assert rt.metrics.of("flight_search").hits == hits + 1


def test_reads_fills_and_tags_go_to_the_primary_the_sentinel_names(sform: Form, sentinel: LocalSentinel) -> None:
    rt = sform.runtime
    jfk = sform(airport_by_iata).fetch(iata="JFK", runtime=rt)
    sform.settle(rt)
    assert sform(airport_by_iata).fetch(iata="JFK", runtime=rt) == jfk
    assert rt.metrics.of("airport_by_iata").hits == 1
    key = airport_by_iata.key(iata="JFK", runtime=rt)
    assert exists(sentinel, sentinel.primary_port(), key) == 1
    assert sform.invalidate_tag(f"airport:{jfk.airport_id}", rt) == 1
    assert exists(sentinel, sentinel.primary_port(), key) == 0


def test_reads_stay_right_through_a_failover_and_fill_the_new_primary(sform: Form, sentinel: LocalSentinel) -> None:
    expected = {code: sform(airport_by_iata).fetch(iata=code, runtime=sform.runtime) for code in CODES}
    wrong, reads, new = reading_while(sform, sentinel.failover, expected)
    assert wrong == [] and reads >= len(CODES)
    assert new == sentinel.ports["replica"]
    fills_reach(sform, sentinel, new)


def test_reads_stay_right_when_the_primary_is_killed_and_fill_the_new_one(sform: Form, sentinel: LocalSentinel) -> None:
    """A crash, not a handover: the connection is lost, reads answer from the database, the next connect asks the sentinel."""
    expected = {code: sform(airport_by_iata).fetch(iata=code, runtime=sform.runtime) for code in CODES}
    sform.settle(sform.runtime)
    wrong, _, new = reading_while(sform, sentinel.kill_primary, expected)
    assert wrong == []
    assert new == sentinel.ports["replica"]
    fills_reach(sform, sentinel, new)


def test_the_near_cache_behind_sentinel_serves_locally_and_is_dropped_when_the_primary_changes(sform: Form, sentinel: LocalSentinel) -> None:
    """The sentinel is made to name another server while the old one stays up (a primary cut off from the sentinels,
    say): no invalidation message tells of the change, yet the local copies go, and tracking moves to the new primary."""
    rt = sform.runtime
    c = rt.metrics.of("airports_in_country")

    def near_hit() -> bool:
        before = c.near_hits
        sform(airports_in_country).fetch(country="ICELAND", runtime=rt)
        return c.near_hits > before

    assert until(near_hit), "no near hit behind the sentinel"
    near = sform.cache(rt).near
    flushes = near.flushes
    old, other = sentinel.ports["primary"], sentinel.ports["replica"]
    promoted = sentinel.client(other)
    watcher = sentinel.client(sentinel.ports["sentinel"])
    try:
        promoted.execute_command("REPLICAOF", "NO", "ONE")
        watcher.execute_command("SENTINEL", "REMOVE", sentinel.service)
        watcher.execute_command("SENTINEL", "MONITOR", sentinel.service, sentinel.host, other, 1)
    finally:
        promoted.close()
        watcher.close()
    assert sentinel.primary_port() == other
    assert until(lambda: near.flushes > flushes), "the near cache kept its copies of the old primary's entries"
    assert not near.stores.get("airports_in_country") or not near.stores["airports_in_country"].entries
    assert until(near_hit), "no near hit after the primary changed"
    assert near_tracked(sentinel, other) and not near_tracked(sentinel, old)


def near_tracked(sentinel: LocalSentinel, port: int) -> bool:
    """Whether a client of the server on ``port`` has CLIENT TRACKING on (flag ``t``)."""
    server = sentinel.client(port)
    try:
        return any("t" in str(c.get("flags", "")) for c in server.client_list())
    finally:
        server.close()


# ------------------------------------------------------ invalidations confirmed by the replica (WAIT)


def _ballast(sentinel: LocalSentinel) -> None:
    """Fills the link to the (stopped) replica: what the primary writes next waits in its own buffers."""
    primary = sentinel.client(sentinel.primary_port())
    try:
        primary.set("ballast", b"x" * (48 << 20))
    finally:
        primary.close()


@pytest.mark.parametrize("dialect", ["sqlite"])  # the cache's failover is what is tested: one database is enough
def test_invalidations_that_returned_survive_the_primary_being_killed(sform: Form, sentinel: LocalSentinel, db_url: str) -> None:
    """Renames return, then the primary is SIGKILLed before its replica (stopped meanwhile, its link full) copied them.
    With ``cache_wait_replicas`` ("all", the default behind Sentinel) a rename returns only once the replica confirmed
    its invalidation, so the promoted replica serves no entry a returned rename dropped (with 0, it serves the old names)."""
    with sform.runtime_of(socket_timeout=5.0) as rt:
        assert sform.cache(rt).wait_replicas == -1
        rows = {code: sform(airport_by_iata).fetch(iata=code, runtime=rt) for code in CODES}
        sform.settle(rt)
        keys = [airport_by_iata.key(iata=code, runtime=sform.runtime) for code in CODES]
        assert until(lambda: all(exists(sentinel, sentinel.ports["replica"], k) for k in keys)), "the replica did not copy the entries"
        replica = sentinel.by_port[sentinel.ports["replica"]]
        replica.send_signal(signal.SIGSTOP)
        resumed = threading.Timer(2.0, replica.send_signal, [signal.SIGCONT])  # lets WAIT be answered
        returned, raised = [], []
        try:
            _ballast(sentinel)
            resumed.start()
            for code, row in rows.items():
                try:
                    sform(rename_airport).execute(airport_id=row.airport_id, name=f"{row.name} (renamed)", runtime=rt)
                    returned.append(code)
                except InvalidationError:  # committed; this process's reads skip the cache until it is made again
                    raised.append(code)
            sentinel.kill(sentinel.primary_port())
        finally:
            resumed.cancel()
            replica.send_signal(signal.SIGCONT)
        try:
            new = sentinel.promoted(sentinel.ports["primary"])
            assert new == sentinel.ports["replica"]
            with sform.runtime_of() as fresh:  # another process: it knows of no failed invalidation
                stale = [code for code in returned if sform(airport_by_iata).fetch(iata=code, runtime=fresh).name == rows[code].name]
        finally:
            for row in rows.values():
                try:
                    rename_airport.execute(airport_id=row.airport_id, name=row.name, runtime=sform.runtime)
                except InvalidationError:  # the name is back in the database; this cache goes with the test's sentinel
                    pass
    assert returned, f"no rename returned: {raised}"
    assert stale == [], f"stale after the failover: {stale}"


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_too_few_confirmations_fail_the_invalidation_and_its_reads_skip_the_cache(sform: Form, sentinel: LocalSentinel, db_url: str) -> None:
    """Two replicas asked for, one there: the invalidation raises, and this process's reads of the tag's queries answer
    from the database until it is made again."""
    with sform.runtime_of(cache_wait_replicas=2, socket_timeout=2.0) as rt:
        jfk = sform(airport_by_iata).fetch(iata="JFK", runtime=rt)
        sform.settle(rt)
        with pytest.raises(ReplicationTimeout, match="1 of 2 replica"):
            sform.invalidate_tag(f"airport:{jfk.airport_id}", rt)
        assert sform.cache(rt).unsettled
        c = rt.metrics.of("airport_by_iata")
        hits = c.hits
        for _ in range(3):
            assert sform(airport_by_iata).fetch(iata="JFK", runtime=rt) == jfk
        assert c.hits == hits  # the cache skipped: the database answered
