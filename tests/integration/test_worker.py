"""The write-behind worker on real servers: poison pills, crashes after commit, bounded streams and
records, outages of Valkey and of the database, and `flughafen-gen worker` run as a user runs it."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flughafen import Runtime
from flughafen.spec import Param
from flughafen.worker import (
    WorkerReport,
    record_pattern,
    run_worker,
    sweep_applied,
)
from flughafen.write import APPLIED_TABLE, GROUP, WriteQuery
from generated import passenger_last_flights, reprice_booking
from tests.integration.conftest import cache_url
from tests.integration.forms import Form
from tests.integration.proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).with_name("flughafen-gen"))
WRITE = reprice_booking.WRITE


def _ph(runtime: Runtime) -> str:
    return "?" if runtime.db.dialect == "sqlite" else "%s"


def _price(runtime: Runtime, booking_id: int) -> Decimal:
    value = runtime.db.query(f"SELECT price FROM booking WHERE booking_id = {_ph(runtime)}", (booking_id,))[0][0]
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _bookings(runtime: Runtime, n: int) -> list[int]:
    return [h.booking_id for h in passenger_last_flights.fetch(passenger_id=12345, runtime=runtime)[:n]]


def _once(runtime: Runtime, **kwargs: Any) -> WorkerReport:
    return run_worker(runtime, [WRITE], max_idle_rounds=1, block_ms=50, **kwargs)


@pytest.fixture
def prices(runtime: Runtime) -> Iterator[dict[int, Decimal]]:
    """The prices of the bookings a test changes, put back after it."""
    old: dict[int, Decimal] = {}
    yield old
    for booking_id, price in old.items():
        WRITE.execute((booking_id, price), runtime)
    _once(runtime)
    assert {b: _price(runtime, b) for b in old} == old


def _remember(runtime: Runtime, prices: dict[int, Decimal], n: int) -> list[int]:
    ids = _bookings(runtime, n)
    prices.update({b: _price(runtime, b) for b in ids})
    return ids


# ---------------------------------------------------------------- poison pills


def test_an_invalid_entry_queued_by_hand_goes_to_the_dead_letters_and_the_queue_moves_on(runtime: Runtime, prices: dict[int, Decimal]) -> None:
    client: Any = runtime.cache.client
    first, second = _remember(runtime, prices, 2)
    client.xgroup_create(runtime.keyspace.stream_key(WRITE.name), GROUP, id="0", mkstream=True)
    reprice_booking.execute(booking_id=first, price=Decimal("3.01"), runtime=runtime)
    bad = [
        client.xadd(runtime.keyspace.stream_key(WRITE.name), {"args": b'["00000551", "1.00"]'}),  # an id as text
        client.xadd(runtime.keyspace.stream_key(WRITE.name), {"args": b"not json"}),
        client.xadd(runtime.keyspace.stream_key(WRITE.name), {"something": b"else"}),  # no args at all
        client.xadd(runtime.keyspace.stream_key(WRITE.name), {"args": json.dumps([second]).encode()}),  # a parameter missing
    ]
    reprice_booking.execute(booking_id=second, price=Decimal("3.02"), runtime=runtime)

    report = _once(runtime)
    assert (report.applied, report.dead) == (2, 4)
    assert (_price(runtime, first), _price(runtime, second)) == (Decimal("3.01"), Decimal("3.02"))
    letters = client.xrange(runtime.keyspace.dead_key(WRITE.name))
    assert [letter[b"id"] for _, letter in letters] == bad
    assert b"Expected `int`, got `str`" in letters[0][1][b"error"] and letters[0][1][b"entry:args"] == b'["00000551", "1.00"]'
    assert b"no 'args' field" in letters[2][1][b"error"]
    assert int(client.hget(runtime.keyspace.dead_counts, WRITE.name)) == 4
    assert client.xpending(runtime.keyspace.stream_key(WRITE.name), GROUP)["pending"] == 0
    assert _once(runtime).batches == 0  # nothing left to crash on


@pytest.fixture
def probe(runtime: Runtime) -> Iterator[WriteQuery]:
    """A write: behind into a table of its own, whose primary key the database enforces."""
    runtime.db.execute("DROP TABLE IF EXISTS fg_probe")
    runtime.db.execute("CREATE TABLE fg_probe (id INTEGER PRIMARY KEY, note VARCHAR(20) NOT NULL)")
    mark = _ph(runtime)
    insert = f"INSERT INTO fg_probe (id, note) VALUES ({mark}, {mark})"
    yield WriteQuery(
        name="probe_insert",
        sql={"mysql": insert, "postgres": insert, "sqlite": insert},
        params=(Param("id", "int"), Param("note", "str")),
        param_order=(0, 1),
        table="fg_probe",
        mode="behind",
        tags=(("probe:", 0),),
    )
    runtime.db.execute("DROP TABLE IF EXISTS fg_probe")


def test_an_entry_the_database_refuses_goes_to_the_dead_letters_and_the_others_are_applied(runtime: Runtime, probe: WriteQuery) -> None:
    for i, note in ((1, "one"), (2, "two"), (1, "again"), (3, "three")):
        probe.execute((i, note), runtime)
    report = run_worker(runtime, [probe], max_idle_rounds=1, block_ms=50)
    assert (report.applied, report.dead) == (3, 1)
    assert runtime.db.query("SELECT id, note FROM fg_probe ORDER BY id") == [(1, "one"), (2, "two"), (3, "three")]
    ((_, letter),) = runtime.cache.client.xrange(runtime.keyspace.dead_key("probe_insert"))  # type: ignore[misc]
    assert b"IntegrityError" in letter[b"error"] or b"UniqueViolation" in letter[b"error"]


def test_an_entry_that_keeps_failing_goes_to_the_dead_letters_after_its_deliveries(runtime: Runtime, probe: WriteQuery) -> None:
    probe.execute((1, "one"), runtime)
    runtime.db.execute("DROP TABLE fg_probe")  # every try fails now, for a reason that could pass
    start = time.monotonic()
    report = run_worker(runtime, [probe], max_idle_rounds=1, block_ms=50, max_deliveries=2)
    assert (report.applied, report.dead) == (0, 1)
    assert time.monotonic() - start < 10
    assert runtime.cache.client.xpending(runtime.keyspace.stream_key(probe.name), GROUP)["pending"] == 0
    runtime.db.execute("CREATE TABLE fg_probe (id INTEGER PRIMARY KEY, note VARCHAR(20) NOT NULL)")


# ---------------------------------------------------------------- a crash after the commit


class Crash(Exception):
    pass


def _crash() -> None:
    raise Crash  # the worker dies after its commit, before invalidating and acknowledging


def test_a_worker_killed_after_commit_leaves_no_stale_entry(runtime: Runtime, prices: dict[int, Decimal]) -> None:
    (booking_id,) = _remember(runtime, prices, 1)
    before = passenger_last_flights.fetch(passenger_id=12345, runtime=runtime)  # cached
    reprice_booking.execute(booking_id=booking_id, price=Decimal("9.87"), runtime=runtime)
    with pytest.raises(Crash):
        _once(runtime, after_commit=_crash)
    assert _price(runtime, booking_id) == Decimal("9.87")
    assert passenger_last_flights.fetch(passenger_id=12345, runtime=runtime) == before  # not invalidated yet

    report = _once(runtime)
    assert (report.applied, report.skipped) == (0, 1)
    fresh = passenger_last_flights.fetch(passenger_id=12345, runtime=runtime)
    assert [h.price for h in fresh if h.booking_id == booking_id] == [Decimal("9.87")]


# ---------------------------------------------------------------- bounded streams and records


def test_applied_writes_are_trimmed_from_the_stream_and_their_records_expire(runtime: Runtime, prices: dict[int, Decimal]) -> None:
    client: Any = runtime.cache.client
    ids = _remember(runtime, prices, 2)
    for n in range(1000):
        reprice_booking.execute(booking_id=ids[n % 2], price=Decimal(n), runtime=runtime)
    assert client.xlen(runtime.keyspace.stream_key(WRITE.name)) == 1000
    report = _once(runtime, keep_applied=0)
    assert report.applied == 1000 and report.batches == 10
    assert client.xlen(runtime.keyspace.stream_key(WRITE.name)) == 0
    assert _price(runtime, ids[0]) == Decimal(998) and _price(runtime, ids[1]) == Decimal(999)

    def records() -> int:
        mark = _ph(runtime)
        return int(runtime.db.query(f"SELECT COUNT(*) FROM {APPLIED_TABLE} WHERE stream_id LIKE {mark} ESCAPE '!'", (record_pattern(WRITE.name),))[0][0])

    assert records() >= 1000
    time.sleep(1.1)  # records are stamped to the second
    assert sweep_applied(runtime, [WRITE], keep=0) >= 1000
    assert records() == 0


def test_a_record_is_kept_while_its_write_is_pending(runtime: Runtime, prices: dict[int, Decimal]) -> None:
    (booking_id,) = _remember(runtime, prices, 1)
    reprice_booking.execute(booking_id=booking_id, price=Decimal("4.56"), runtime=runtime)
    with pytest.raises(Crash):
        _once(runtime, after_commit=_crash)
    time.sleep(1.1)  # records are stamped to the second
    sweep_applied(runtime, [WRITE], keep=0)  # the write is pending: its record stays
    report = _once(runtime, keep_applied=0)
    assert (report.applied, report.skipped) == (0, 1)  # not applied twice


def test_a_stream_is_trimmed_only_of_what_every_group_acknowledged(runtime: Runtime, prices: dict[int, Decimal]) -> None:
    client: Any = runtime.cache.client
    (booking_id,) = _remember(runtime, prices, 1)
    client.xgroup_create(runtime.keyspace.stream_key(WRITE.name), GROUP, id="0", mkstream=True)
    client.xgroup_create(runtime.keyspace.stream_key(WRITE.name), "audit", id="0")  # another group, which has read nothing yet
    for n in range(3):
        reprice_booking.execute(booking_id=booking_id, price=Decimal(n), runtime=runtime)
    assert _once(runtime).applied == 3
    assert client.xlen(runtime.keyspace.stream_key(WRITE.name)) == 3  # the audit group still wants them
    client.xreadgroup("audit", "a", {runtime.keyspace.stream_key(WRITE.name): ">"}, count=2)
    client.xack(runtime.keyspace.stream_key(WRITE.name), "audit", *[e for e, _ in client.xrange(runtime.keyspace.stream_key(WRITE.name), count=2)])
    reprice_booking.execute(booking_id=booking_id, price=Decimal(7), runtime=runtime)
    _once(runtime)
    assert client.xlen(runtime.keyspace.stream_key(WRITE.name)) == 2  # the audit group's third entry and the fourth


# ---------------------------------------------------------------- outages


def _run_in_thread(runtime: Runtime, writes: list[WriteQuery]) -> Callable[[], WorkerReport]:
    """Start run_worker in a thread; returns what stops it and gives its report."""
    stop = threading.Event()
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["report"] = run_worker(runtime, writes, block_ms=200, stop=stop)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def finish() -> WorkerReport:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the worker did not stop within 10 s of being told"
        if "error" in out:
            raise out["error"]
        report: WorkerReport = out["report"]
        return report

    return finish


def _eventually(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not done within {seconds} s"
        time.sleep(0.05)


def test_the_worker_carries_on_after_valkey_and_the_database_went_away(
    runtime: Runtime, prices: dict[int, Decimal], valkey_server: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, third = _remember(runtime, prices, 3)
    cache_port = int(cache_url(valkey_server).rsplit(":", 1)[1].split("/")[0])
    to_cache = Proxy(cache_port)
    to_database = Proxy({"mysql": 3306, "postgres": 5432}[runtime.db.dialect]) if runtime.db.dialect != "sqlite" else None
    database_url = runtime.config.database_url.raw
    if to_database is not None:
        database_url = database_url.replace(f":{to_database.target[1]}/", f":{to_database.port}/")
    caplog.set_level(logging.WARNING, logger="flughafen.worker")
    # The same database through another port: its own namespace, unless told it is the application's.
    same = runtime.keyspace.namespace
    with Runtime.from_config(
        database_url=database_url, cache_url=f"valkey://127.0.0.1:{to_cache.port}/0", project_dir=tmp_path, cache_namespace=same
    ) as behind:
        finish = _run_in_thread(behind, [WRITE])
        try:
            reprice_booking.execute(booking_id=first, price=Decimal("1.11"), runtime=runtime)
            _eventually(lambda: _price(runtime, first) == Decimal("1.11"))

            to_cache.cut()
            reprice_booking.execute(booking_id=second, price=Decimal("2.22"), runtime=runtime)  # the application's Valkey is up
            time.sleep(1.5)
            assert _price(runtime, second) != Decimal("2.22")
            to_cache.restore()
            _eventually(lambda: _price(runtime, second) == Decimal("2.22"))

            if to_database is not None:
                to_database.cut()
                reprice_booking.execute(booking_id=third, price=Decimal("3.33"), runtime=runtime)
                time.sleep(1.5)
                to_database.restore()
                _eventually(lambda: _price(runtime, third) == Decimal("3.33"))
        finally:
            report = finish()
            to_cache.close()
            if to_database is not None:
                to_database.close()
    # A connection cut just after the commit leaves the worker unsure: its retry finds the write applied
    # (its record committed with it) and counts it as already applied, never twice.
    assert report.applied + report.skipped == (3 if to_database is not None else 2) and report.dead == 0
    assert "retrying in" in caplog.text and "working again" in caplog.text


# ---------------------------------------------------------------- the command


def _command(runtime: Runtime, valkey_server: object, *args: str, cache: str | None = None) -> list[str]:
    return [COMMAND, "worker", "--database", runtime.config.database_url.raw, "--cache", cache or cache_url(valkey_server), *args]


def test_worker_once_on_an_empty_queue_exits_0(runtime: Runtime, valkey_server: object) -> None:
    done = subprocess.run(_command(runtime, valkey_server, "--once"), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "applied 0, skipped 0 already applied, set aside 0, in 0 batch(es)"


def _signalled(command: list[str], ready: Callable[[subprocess.Popen[str]], None], sig: signal.Signals) -> tuple[int, str, str]:
    """Start ``command``, wait until ``ready(process)`` returns, send ``sig``: (exit code, stdout, stderr)."""
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready(worker)
        assert worker.poll() is None, worker.communicate()
        worker.send_signal(sig)
        out, err = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
    return worker.returncode, out, err


def test_worker_applies_queued_writes_until_sigterm(runtime: Runtime, prices: dict[int, Decimal], valkey_server: object) -> None:
    ids = _remember(runtime, prices, 3)
    for n, booking_id in enumerate(ids):
        reprice_booking.execute(booking_id=booking_id, price=Decimal(f"5.0{n}"), runtime=runtime)

    def applied(worker: subprocess.Popen[str]) -> None:
        _eventually(lambda: [_price(runtime, b) for b in ids] == [Decimal("5.00"), Decimal("5.01"), Decimal("5.02")])
        time.sleep(0.3)  # blocked on the empty queue now, for longer than a Valkey socket timeout

    code, out, err = _signalled(_command(runtime, valkey_server, "--log-level", "debug"), applied, signal.SIGTERM)
    assert code == 0, err
    assert out.strip() == "applied 3, skipped 0 already applied, set aside 0, in 1 batch(es)"
    lines = err.strip().splitlines()
    assert any("reprice_booking: applied 3" in line for line in lines), err
    assert "SIGTERM: stopping after the batch in hand" in lines[-1]
    assert all(line[:4].isdigit() and line[10] == "T" for line in lines), err  # each line starts with its time


def test_worker_stops_on_sigint_while_it_waits(runtime: Runtime, valkey_server: object) -> None:
    def waiting(worker: subprocess.Popen[str]) -> None:
        assert worker.stderr is not None
        assert "INFO flughafen: configuration: " in worker.stderr.readline()  # the runtime says what it uses, first
        assert "applying reprice_booking" in worker.stderr.readline()
        time.sleep(1.5)  # a blocking read or two on the empty queue

    code, out, err = _signalled(_command(runtime, valkey_server), waiting, signal.SIGINT)
    assert code == 0, err
    assert "SIGINT: stopping after the batch in hand" in err
    assert out.startswith("applied 0,")


def test_worker_refuses_the_cache_off(runtime: Runtime) -> None:
    done = subprocess.run(
        [COMMAND, "worker", "--database", runtime.config.database_url.raw, "--cache", "off", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert 'cache_url is "off": there is no queue' in done.stderr and "embedded" in done.stderr


def test_stats_counts_the_dead_letters(runtime: Runtime, valkey_server: object) -> None:
    client: Any = runtime.cache.client
    client.xgroup_create(runtime.keyspace.stream_key(WRITE.name), GROUP, id="0", mkstream=True)
    client.xadd(runtime.keyspace.stream_key(WRITE.name), {"args": b'["x", "y"]'})
    assert _once(runtime).dead == 1
    done = subprocess.run(
        [COMMAND, "stats", "--database", runtime.config.database_url.raw, "--cache", cache_url(valkey_server)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("reprice_booking"))
    assert line.split() == ["reprice_booking", "0", "queued", "0", "pending", "1", "dead", "letters", "(1", "kept)"]


def test_the_worker_applies_what_either_form_queued(form: Form, runtime: Runtime, prices: dict[int, Decimal], valkey_server: object) -> None:
    """A write: behind from the async accessors is the same entry on the same stream: `flughafen-gen worker` applies it."""
    ids = _remember(runtime, prices, 3)
    before = form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)  # cached, with the old prices
    stream = runtime.keyspace.stream_key(WRITE.name)
    queued = runtime.cache.client.xlen(stream)
    for n, booking_id in enumerate(ids):
        assert form(reprice_booking).execute(booking_id=booking_id, price=Decimal(f"6.0{n}"), runtime=runtime) == 0  # queued, not applied
    assert runtime.cache.client.xlen(stream) == queued + 3
    assert [_price(runtime, b) for b in ids] == [prices[b] for b in ids]
    assert form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime) == before
    done = subprocess.run(_command(runtime, valkey_server, "--once"), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "applied 3, skipped 0 already applied, set aside 0, in 1 batch(es)"
    assert [_price(runtime, b) for b in ids] == [Decimal("6.00"), Decimal("6.01"), Decimal("6.02")]
    after = {h.booking_id: h.price for h in form(passenger_last_flights).fetch(passenger_id=12345, runtime=runtime)}
    assert [after[b] for b in ids] == [Decimal("6.00"), Decimal("6.01"), Decimal("6.02")], "the worker's invalidation did not reach the cached read"
