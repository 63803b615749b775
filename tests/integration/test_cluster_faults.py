"""Faults on a real Valkey Cluster: a primary killed while readers run (sync and async), a failover in the
middle of the consistency test's reads and writes, a slot moved to another primary while readers run."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from flughafen.keys import bucket_of
from flughafen.local_cluster import LocalCluster
from flughafen.write import GROUP
from generated import airport_by_iata, airports_in_country
from generated.aio import airport_by_iata as aio_airport_by_iata
from tests.integration.readers import Readers
from tests.integration.test_consistency import CASES, Run, exercise
from tests.integration.test_worker import _eventually, _probe_write, _run_in_thread

CODES = ["JFK", "LAX", "SFO", "ORD", "ATL", "DFW", "SEA", "BOS", "FRA", "CDG", "LHR", "MUC"]


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own (3 primaries, a replica each): this test kills one of its nodes."""
    with LocalCluster(primaries=3, replicas=1) as own:
        yield own


def _owner(cluster: LocalCluster, key: str) -> int:
    return _owner_of_slot(cluster, key_slot(bucket_of(key)[1:-1].encode()))


def _owner_of_slot(cluster: LocalCluster, slot: int) -> int:
    client = ValkeyCluster(host=cluster.host, port=cluster.ports[0])
    try:
        return int(client.nodes_manager.get_node_from_slot(slot).port)
    finally:
        client.close()


def test_reads_keep_answering_from_the_database_while_a_killed_primary_s_slots_move(cluster: LocalCluster, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
        expected = {code: airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
        assert any(expected.values())
        victim = _owner(cluster, airport_by_iata.key(iata="JFK", runtime=rt))
        readers = Readers(lambda code: airport_by_iata.fetch(iata=code, runtime=rt), expected, 3)
        time.sleep(0.3)
        errors_before = rt.cache.errors
        cluster.kill(victim)  # mid-load: its replica takes over after the node timeout (2 s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _served_again(cluster, victim):
            time.sleep(0.2)
        time.sleep(0.5)  # the readers run on while the runtime finds the new primary
        readers.stop()
        assert readers.failures == [], readers.failures[:1]
        assert readers.wrong == []  # every read answered right: from the database while the slots moved
        assert rt.cache.errors > errors_before  # the runtime saw the node go
        assert _served_again(cluster, victim), "the replica never took over"
        assert _hits_resume(rt, "JFK", within=10), "no hits on the killed primary's slots after the failover"
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == expected["JFK"]


def _hits_resume(rt: Runtime, code: str, within: float) -> bool:
    counters = rt.metrics.of("airport_by_iata")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = counters.hits
        airport_by_iata.fetch(iata=code, runtime=rt)
        if counters.hits > before:
            return True
        time.sleep(0.05)
    return False


def _served_again(cluster: LocalCluster, dead: int) -> bool:
    """Whether a live node reports every slot served again (the replica of ``dead`` promoted)."""
    alive = next(p for p in cluster.ports if p != dead)
    return b"cluster_state:ok" in cluster.client(alive).execute_command("CLUSTER", "INFO")


# ---------------------------------------------------------------- invalidations confirmed by the replica (WAIT)


@pytest.mark.parametrize("dialect", ["sqlite"])  # the cache's failover is what is tested: one database is enough
def test_invalidations_that_returned_survive_their_primary_being_killed(cluster: LocalCluster, db_url: str) -> None:
    """As on Sentinel (test_sentinel.py): the replica of the primary serving the entries is stopped and its link filled,
    airports are renamed, the primary is SIGKILLed once the renames returned, and the replica takes over. With
    cache_wait_replicas ("all", the default on a cluster) a rename returned only once the replica confirmed it:
    no entry a returned rename dropped is served after the failover."""
    from flughafen.write import InvalidationError
    from generated import rename_airport

    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd(), socket_timeout=5.0) as rt:
        rows = {code: airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
        rt.cache.settle()
        key = airport_by_iata.key(iata="JFK", runtime=rt)
        victim = _owner(cluster, key)
        replica = _replica_of(cluster, victim)
        on_victim = {c: r for c, r in rows.items() if _owner(cluster, airport_by_iata.key(iata=c, runtime=rt)) == victim}
        keys = [airport_by_iata.key(iata=c, runtime=rt) for c in on_victim]
        copy = cluster.client(replica)
        copy.execute_command("READONLY")  # reads on the replica itself
        _eventually(lambda: all(copy.exists(k) for k in keys), 30)  # the replica copied the entries
        copy.close()
        process = cluster.processes[replica]
        process.send_signal(signal.SIGSTOP)
        resumed = threading.Timer(2.0, process.send_signal, [signal.SIGCONT])  # lets WAIT be answered
        returned, raised = [], []
        try:
            cluster.client(victim).set("ballast" + bucket_of(key), b"x" * (48 << 20))  # fills the link to the stopped replica
            resumed.start()
            for code, row in on_victim.items():
                try:
                    rename_airport.execute(airport_id=row.airport_id, name=f"{row.name} (renamed)", runtime=rt)
                    returned.append(code)
                except InvalidationError:  # committed; this process's reads skip the cache until it is made again
                    raised.append(code)
            cluster.kill(victim)
        finally:
            resumed.cancel()
            process.send_signal(signal.SIGCONT)
        try:
            _eventually(lambda: _role(cluster, replica)[0] == "master" and _served_again(cluster, victim), 60)  # the replica took over
            with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as fresh:  # another process
                stale = [code for code in returned if airport_by_iata.fetch(iata=code, runtime=fresh).name == rows[code].name]
        finally:
            for row in on_victim.values():
                try:
                    rename_airport.execute(airport_id=row.airport_id, name=row.name, runtime=rt)
                except InvalidationError:  # the name is back in the database; this cluster goes with the test
                    pass
    assert returned, f"no rename returned: {raised}"
    assert stale == [], f"stale after the failover: {stale}"


# ---------------------------------------------------------------- a failover in the middle of writes and reads


def _role(cluster: LocalCluster, port: int) -> tuple[str, int]:
    """(b"master" or b"slave" as text, the primary's port for a replica, else 0)."""
    reply = cluster.client(port).execute_command("ROLE")
    role = reply[0].decode()
    return role, int(reply[2]) if role == "slave" else 0


@pytest.mark.parametrize("form", ["sync", "async"])
def test_an_invalidation_sent_to_a_primary_just_turned_replica_goes_through_on_the_new_one(cluster: LocalCluster, db_url: str, form: str) -> None:
    """CLUSTER FAILOVER between two invalidations: the runtime's slot map still names the old primary, and it counted
    that primary's replica at the first one, so the second sends its DEL and a WAIT there. The old primary, a replica
    now, answers MOVED to the DEL and refuses the WAIT (a replica cannot WAIT). The DEL is sent again to the new
    primary, with a WAIT there: the invalidation returns, and the entry is gone."""
    key = ""

    def fail_over() -> int:
        victim = _owner(cluster, key)
        replica = _replica_of(cluster, victim)
        cluster.client(replica).execute_command("CLUSTER", "FAILOVER")
        _eventually(lambda: _owner(cluster, key) == replica and _role(cluster, victim) == ("slave", replica), 30)
        return replica

    if form == "sync":
        with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd(), socket_timeout=5.0) as rt:
            airport_by_iata.invalidate(iata="JFK", runtime=rt)
            airport_by_iata.fetch(iata="JFK", runtime=rt)
            rt.cache.settle()
            key = airport_by_iata.key(iata="JFK", runtime=rt)
            new = fail_over()
            airport_by_iata.invalidate(iata="JFK", runtime=rt)
    else:

        async def run() -> int:
            nonlocal key
            async with AsyncRuntime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd(), socket_timeout=5.0) as rt:
                await aio_airport_by_iata.invalidate(iata="JFK", runtime=rt)
                await aio_airport_by_iata.fetch(iata="JFK", runtime=rt)
                await rt.cache.settle()
                key = airport_by_iata.key(iata="JFK", runtime=rt)
                replica = await asyncio.to_thread(fail_over)
                await aio_airport_by_iata.invalidate(iata="JFK", runtime=rt)
                return replica

        new = asyncio.run(run())
    assert cluster.client(new).exists(key) == 0


def _replica_of(cluster: LocalCluster, primary: int) -> int:
    return next(p for p in cluster.ports if p != primary and _role(cluster, p) == ("slave", primary))


class Failover:
    """The replica of ``primary`` promoted, once ``after`` writes were made, in a thread of its own (the writes and
    reads go on meanwhile): ``how`` is "failover" (CLUSTER FAILOVER on the replica: nothing lost) or "kill" (the
    primary killed: its replica takes over after the node timeout). ``__call__`` is the consistency run's
    ``meanwhile``: True once the replica serves the slots."""

    def __init__(self, cluster: LocalCluster, primary: int, after: int, how: str):
        self.cluster, self.primary, self.after, self.how = cluster, primary, after, how
        self.replica = _replica_of(cluster, primary)
        self.thread = threading.Thread(target=self._run)
        self.done = False
        self.at: tuple[int, int] = (0, 0)  # the versions written when it started and when it was done

    def _run(self) -> None:
        if self.how == "kill":
            self.cluster.kill(self.primary)
        else:
            self.cluster.client(self.replica).execute_command("CLUSTER", "FAILOVER")
        deadline = time.monotonic() + 30
        while _role(self.cluster, self.replica)[0] != "master" or not _served_again(self.cluster, self.primary):
            assert time.monotonic() < deadline, "the replica was not promoted within 30 s"
            time.sleep(0.05)
        self.done = True

    def __call__(self, run: Run) -> bool:
        if run.versions == self.after and not self.thread.is_alive() and not self.done:
            self.at = (run.versions, 0)
            self.thread.start()
        if self.done and self.at[1] == 0:
            self.thread.join()
            self.at = (self.at[0], run.versions)
        return self.done


@pytest.mark.parametrize("dialect", ["sqlite"])  # the cache's failover is what is tested: one database is enough
@pytest.mark.parametrize("how", ["failover", "kill"])
@pytest.mark.parametrize("what", ["hash refreshed in place", "json"])
def test_no_stale_read_through_a_primary_failover_in_the_middle_of_10_000_operations(cluster: LocalCluster, db_url: str, what: str, how: str) -> None:
    read, drop, _ = CASES["hash refreshed in place" if what.startswith("hash") else "json, valkey only"]
    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
        key = airport_by_iata.key(iata="KEF", runtime=rt) if what.startswith("hash") else airports_in_country.key(country="ICELAND", runtime=rt)
        failover = Failover(cluster, _owner(cluster, key), after=300, how=how)
        run = exercise(rt, read, drop, meanwhile=failover)  # asserts 0 stale reads
        assert failover.done and failover.at[0] == 300 and failover.at[1] > failover.at[0]  # it happened while writing
        assert _role(cluster, failover.replica)[0] == "master"
        assert run.versions > failover.at[1]  # and writes went on after it
        if how == "kill":  # writes whose invalidation raised: committed, their queries read from the database meanwhile
            assert run.failed_invalidations > 0 and run.unsettled_reads > 0
        # The run's last invalidations may have failed too (the kill, or a WAIT short of time on a busy machine), with
        # no read after them to retry them: they are made again now, or the test fails.
        deadline = time.monotonic() + 30
        while not rt.cache.settle_invalidations():
            assert time.monotonic() < deadline, "the failed invalidations were never made again"
            time.sleep(0.1)
        if what.startswith("hash"):
            assert _hits_resume(rt, "KEF", within=10)


# ---------------------------------------------------------------- a slot moved while readers run


def _node_id(cluster: LocalCluster, port: int) -> str:
    return str(cluster.client(port).execute_command("CLUSTER", "MYID").decode())


def _move_slot(cluster: LocalCluster, slot: int, source: int, target: int, pause: float) -> int:
    """Moves ``slot`` from primary ``source`` to ``target`` as a resharding does (IMPORTING, MIGRATING, MIGRATE key by
    key, ``pause`` s between keys, SETSLOT NODE on every primary); returns how many keys moved."""
    src, dst = cluster.client(source), cluster.client(target)
    src_id, dst_id = _node_id(cluster, source), _node_id(cluster, target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1):
        src.execute_command("MIGRATE", cluster.host, target, "", 0, 5000, "KEYS", *keys)
        moved += len(keys)
        time.sleep(pause)  # the readers meet the slot half moved: ASK for the keys gone, TRYAGAIN for scripts over both
    for port in cluster.ports[: cluster.primaries]:
        cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return moved


def test_reads_stay_right_while_a_slot_moves_to_another_primary(cluster: LocalCluster, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
        expected = {code: airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
        key = airport_by_iata.key(iata="JFK", runtime=rt)
        slot = key_slot(bucket_of(key)[1:-1].encode())
        source = _owner(cluster, key)
        target = next(p for p in cluster.ports[: cluster.primaries] if p != source)
        readers = Readers(lambda code: airport_by_iata.fetch(iata=code, runtime=rt), expected, 3)
        try:
            time.sleep(0.3)
            moved = _move_slot(cluster, slot, source, target, pause=0.02)
            time.sleep(0.5)  # the readers go on against the slot's new primary: MOVED, the slot map reloaded
        finally:
            readers.stop()
        assert moved > 0  # the slot held the entries (JFK's among them), moved one by one under the readers
        assert readers.failures == [], readers.failures[:1]
        assert readers.wrong == []
        assert _owner(cluster, key) == target
        count = ("CLUSTER", "COUNTKEYSINSLOT", slot)
        assert cluster.client(source).execute_command(*count) == 0 and cluster.client(target).execute_command(*count) > 0
        assert _hits_resume(rt, "JFK", within=10), "no hits on the moved slot"
        airport_by_iata.invalidate(iata="JFK", runtime=rt)  # an invalidation reaches the slot's new primary
        assert not cluster.client(target).exists(key)
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == expected["JFK"]


def test_the_worker_applies_each_write_once_while_its_queue_s_slot_moves(cluster: LocalCluster, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
        rt.db.execute("DROP TABLE IF EXISTS fg_probe")
        rt.db.execute("CREATE TABLE fg_probe (id INTEGER PRIMARY KEY, note VARCHAR(20) NOT NULL)")
        write = _probe_write(rt, "probe_insert")
        stream = rt.keyspace.stream_key(write.name)
        finish = _run_in_thread(rt, [write])
        try:
            for n in range(20):
                write.execute((n, "before"), rt)
            _eventually(lambda: len(rt.db.query("SELECT id FROM fg_probe")) == 20)
            source = _owner_of_slot(cluster, key_slot(stream.encode()))
            target = next(p for p in cluster.ports[: cluster.primaries] if p != source)
            assert _move_slot(cluster, key_slot(stream.encode()), source, target, pause=0) >= 1  # the stream, its group in it
            for n in range(20, 40):
                write.execute((n, "after"), rt)  # queued on the new primary; the worker finds it there
            _eventually(lambda: len(rt.db.query("SELECT id FROM fg_probe")) == 40)
        finally:
            report = finish()
            rows = rt.db.query("SELECT id, note FROM fg_probe ORDER BY id")
            rt.db.execute("DROP TABLE IF EXISTS fg_probe")
        assert report.applied == 40 and report.dead == 0  # each once: the probe's primary key refuses a second time
        assert rows == [(n, "before" if n < 20 else "after") for n in range(40)]
        assert int(rt.cache.client.xpending(stream, GROUP)["pending"]) == 0


def test_async_reads_keep_answering_from_the_database_while_a_killed_primary_s_slots_move(cluster: LocalCluster, db_url: str) -> None:
    async def scenario() -> None:
        async with AsyncRuntime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
            expected = {code: await aio_airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
            assert any(expected.values())
            victim = _owner(cluster, airport_by_iata.key(iata="JFK", runtime=rt))
            stop = asyncio.Event()
            wrong: list[str] = []
            failures: list[BaseException] = []

            async def reader() -> None:
                while not stop.is_set():
                    for code, answer in expected.items():
                        try:
                            got = await aio_airport_by_iata.fetch(iata=code, runtime=rt)
                        except BaseException as e:  # noqa: BLE001 - every failure is the test's to report
                            failures.append(e)
                            return
                        if got != answer:
                            wrong.append(code)
                    await asyncio.sleep(0)

            readers = [asyncio.create_task(reader()) for _ in range(3)]
            await asyncio.sleep(0.3)
            errors_before = rt.cache.errors
            cluster.kill(victim)  # mid-load: its replica takes over after the node timeout (2 s)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not await asyncio.to_thread(_served_again, cluster, victim):
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # the readers run on while the runtime finds the new primary
            stop.set()
            await asyncio.gather(*readers)
            assert failures == [], failures[:1]
            assert wrong == []  # every read answered right: from the database while the slots moved
            assert rt.cache.errors > errors_before  # the runtime saw the node go
            counters = rt.metrics.of("airport_by_iata")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                before = counters.hits
                assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected["JFK"]
                if counters.hits > before:
                    break
                await asyncio.sleep(0.05)
            assert counters.hits > before, "no hits on the killed primary's slots after the failover"

    asyncio.run(scenario())


def test_async_reads_follow_a_slot_moving_to_another_primary_ask_then_moved(cluster: LocalCluster, db_url: str) -> None:
    async def scenario() -> None:
        async with AsyncRuntime.from_config(database_url=db_url, cache_url=cluster.url, project_dir=Path.cwd()) as rt:
            expected = await aio_airport_by_iata.fetch(iata="JFK", runtime=rt)
            await rt.cache.settle()
            key = airport_by_iata.key(iata="JFK", runtime=rt)
            slot = key_slot(bucket_of(key)[1:-1].encode())
            source = _owner(cluster, key)
            target = next(p for p in cluster.ports[: cluster.primaries] if p != source)
            src, dst = cluster.client(source), cluster.client(target)
            src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            assert key.encode() in keys
            src.execute_command("MIGRATE", cluster.host, target, "", 0, 5000, "KEYS", *keys)
            assert src.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
            assert await rt.cache.call("EXISTS", key) == 1  # ASK from the source: sent to the target, right behind ASKING
            # A read's script also reads keys that do not exist (the lock): the target answers TRYAGAIN while
            # the slot is moving, and the read answers from the database.
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected
            await asyncio.sleep(0.3)  # past the cache's first backoff
            counters = rt.metrics.of("airport_by_iata")
            hits, errors = counters.hits, counters.cache_errors
            for port in cluster.ports[: cluster.primaries]:
                cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=rt) == expected  # MOVED: the slot map read again
            assert counters.hits == hits + 1
            assert rt.cache._owners[slot] == f"{cluster.host}:{target}"
            assert counters.cache_errors == errors

    asyncio.run(scenario())
