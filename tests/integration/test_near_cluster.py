"""The near cache where a change may come from any node: invalidations from every primary of a Valkey Cluster
(one server too), a failover, and readers racing a writer of another runtime."""

from __future__ import annotations

import datetime
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from flughafen.keys import bucket_of
from flughafen.local_cluster import LocalCluster
from flughafen.write import InvalidationError
from generated import airport_by_iata, airports_in_country, flight_search, rename_airport
from tests.integration.forms import Form
from tests.integration.test_near_cache import local_keys, until

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

DAY = datetime.date(2024, 12, 15)
WAIT = 30.0  # seconds: the bound on every wait (a shared, loaded machine)


def node_of(url: str, key: str) -> str:
    """The ``host:port`` serving ``key``: its slot's primary on a cluster, the server itself otherwise."""
    if not url.startswith("valkey+cluster://"):
        return url
    host, port = url.removeprefix("valkey+cluster://").split(",")[0].rsplit(":", 1)
    client = ValkeyCluster(host=host, port=int(port))
    try:
        return str(client.nodes_manager.get_node_from_slot(client.keyslot(key)).name)
    finally:
        client.close()


def args_per_node(rt: Runtime, url: str) -> dict[str, dict[str, Any]]:
    """One flight_search parameter set per node: the first day whose key that node serves."""
    found: dict[str, dict[str, Any]] = {}
    for n in range(200):
        args = {"origin": "JFK", "destination": "LAX", "day": DAY + datetime.timedelta(days=n)}
        found.setdefault(node_of(url, flight_search.key(**args, runtime=rt)), args)  # type: ignore[arg-type]
    return found


def near_hit(form: Form, rt: Any, args: dict[str, Any]) -> bool:
    """Reads until a read is served locally (the prefix is tracked in the background)."""
    counters = rt.metrics.of("flight_search")

    def hit() -> bool:
        before = counters.near_hits
        form(flight_search).fetch(**args, runtime=rt)
        return bool(counters.near_hits > before)

    return until(hit, WAIT)


def test_another_runtimes_invalidation_drops_the_local_copy_whichever_primary_serves_it(form: Form, runtime: Runtime, db_url: str, valkey_url: str) -> None:
    per_node = args_per_node(runtime, valkey_url)
    primaries = 3 if valkey_url.startswith("valkey+cluster://") else 1
    assert len(per_node) == primaries  # keys on every primary
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd()) as other:
        for node, args in sorted(per_node.items()):
            key = flight_search.key(**args, runtime=runtime)
            assert near_hit(form, form.of(runtime), args), f"no local hit on a key of {node}"
            assert key in local_keys(runtime, form=form)
            messages = form.cache(runtime).near.messages
            flight_search.invalidate(**args, runtime=other)  # type: ignore[arg-type]
            assert until(lambda key=key: key not in local_keys(runtime, form=form), WAIT), f"a change on {node} left the local copy"
            assert form.cache(runtime).near.messages > messages  # told by the node, not by this process


# ------------------------------------------------------------ readers racing another runtime's writer

READERS = 4
WRITES = 300


def test_no_reader_serves_a_local_copy_older_than_an_invalidation_it_was_told_of(runtime: Runtime, db_url: str, valkey_url: str) -> None:
    """Readers in this runtime, a writer in another: once this runtime has taken in the messages of a write, no
    read returns an older name, though reads race the messages and each other."""
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd()) as writer:
        race(runtime, writer)
    assert runtime.metrics.of("airports_in_country").near_hits > 0, "the near cache was never used"


def race(runtime: Runtime, writer: Runtime, meanwhile: Callable[[int], None] | None = None) -> None:
    """READERS threads of ``runtime`` read KEF's name (near-cached) while ``writer`` renames it WRITES times, each
    write followed by a fence (another key on the entry's node, whose message comes after the write's) and
    waited for until ``runtime`` took in the fence's message (or flushed everything); ``meanwhile(n)`` runs
    after write n. Asserts 0 stale reads: a read begun after that never returns an older name."""
    original = airport_by_iata.fetch(iata="KEF", runtime=runtime)
    assert original is not None
    committed = [0]
    errors: list[str] = []
    stop = threading.Event()
    reads = [0]
    key = airports_in_country.key(country="ICELAND", runtime=runtime)

    def version(rows: list[Any]) -> int:
        name = next(r.name for r in rows if r.iata == "KEF")
        return int(name[1:]) if name.startswith("V") else 0

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            floor = committed[0]
            try:
                seen = version(airports_in_country.fetch(country="ICELAND", runtime=runtime))
            except Exception as e:  # noqa: BLE001 - every failure is the test's to report
                errors.append(f"a read raised {type(e).__name__}: {e}")
                return
            if seen < floor:
                errors.append(f"read version {seen} after this runtime heard of version {floor}")
            reads[0] += 1
            if rng.random() < 0.02:
                airports_in_country.invalidate(country="ICELAND", runtime=runtime)  # extra misses, more races

    near = runtime.cache.near
    fences: set[str] = set()
    apply = near._apply

    def noting(keys: list[bytes] | None) -> None:
        fences.update(k.decode() for k in keys or () if b":fence:" in k)
        apply(keys)

    def fence(n: int) -> str:
        """A key under the query's prefix, in the entry's bucket (so on its node): its message comes after the write's."""
        return f"{runtime.keyspace.query_prefix('airports_in_country')}fence:{bucket_of(key)}:{n}"

    def heard_of(n: int, flushes: int, store: object) -> bool:
        """Every message of write ``n`` has been taken in: the fence's after them, or a flush of everything since
        the write returned; or no store was tracked when it returned (a later one is made empty, once tracked)."""
        return store is None or fence(n) in fences or near.flushes > flushes

    def write(name: str) -> None:
        """A rename whose invalidation went through: one that failed (a failover under it) is made again."""
        try:
            rename_airport.execute(airport_id=original.airport_id, name=name, runtime=writer)
        except InvalidationError:
            assert until(writer.cache.settle_invalidations, WAIT), "the writer's invalidation was never made"

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    near._apply = noting  # type: ignore[method-assign]
    for t in threads:
        t.start()
    try:
        for n in range(1, WRITES + 1):
            if errors:
                break
            write(f"V{n}")
            flushes, store = near.flushes, near.stores.get("airports_in_country")
            writer.cache.client.set(fence(n), n, px=60_000)
            assert until(lambda n=n, f=flushes, s=store: heard_of(n, f, s), WAIT), f"version {n}'s invalidation never reached this runtime"
            committed[0] = n
            if meanwhile is not None:
                meanwhile(n)
    finally:
        stop.set()
        for t in threads:
            t.join()
        write(original.name)
        near._apply = apply  # type: ignore[method-assign]
    assert not errors, errors[:5]
    assert reads[0] > WRITES
    assert until(lambda: version(airports_in_country.fetch(country="ICELAND", runtime=runtime)) == 0, WAIT)


# ------------------------------------------------------------ a failover


@pytest.fixture(scope="module")
def failing_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own (3 primaries, a replica each), for tests that change its topology."""
    with LocalCluster(primaries=3, replicas=1) as cluster:
        yield cluster


def a_replica(cluster: LocalCluster) -> tuple[str, int]:
    """(``host:port`` of a primary, the port of a replica following it)."""
    for port in cluster.ports:
        client = cluster.client(port)
        try:
            role = client.execute_command("ROLE")
        finally:
            client.close()
        if role[0] in (b"slave", b"replica") and role[3] == b"connected":
            return f"{role[1].decode()}:{role[2]}", port
    raise AssertionError("no replica of the cluster follows its primary")


def test_a_failover_drops_every_local_copy_and_the_new_primary_is_tracked(failing_cluster: LocalCluster, db_url: str) -> None:
    url = failing_cluster.url
    primary, replica = a_replica(failing_cluster)
    replica_name = f"{failing_cluster.host}:{replica}"
    with (
        Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as rt,
        Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as other,
    ):
        form = Form("sync", rt, lambda **kwargs: None)
        args = args_per_node(rt, url)[primary]
        key = flight_search.key(**args, runtime=rt)
        assert near_hit(form, rt, args)
        near = rt.cache.near
        flushes = near.flushes
        failing_cluster.client(replica).execute_command("CLUSTER", "FAILOVER")
        assert until(lambda: near.flushes > flushes, WAIT), "the failover left the local copies"
        assert key not in local_keys(rt)
        assert until(lambda: replica_name in near.primaries and bool(near.stores), WAIT), "the new primary is not tracked"
        assert until(lambda: node_of(url, key) == replica_name, WAIT)
        assert near_hit(form, rt, args)  # local copies again, of the new primary's keys
        flight_search.invalidate(**args, runtime=other)  # type: ignore[arg-type]
        assert until(lambda: key not in local_keys(rt), WAIT), "a change on the new primary left the local copy"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_redirection_drops_every_local_copy(failing_cluster: LocalCluster, db_url: str, kind: str) -> None:
    """A read meeting MOVED (a slot moved to another primary, here one no entry is in) empties the near cache at once."""
    url = failing_cluster.url
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as rt:
        form = Form("sync", rt, lambda **kwargs: None)
        if kind == "async":
            form = Form("async", rt, lambda **kwargs: AsyncRuntime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd(), **kwargs))
        try:
            near_rt = form.of(rt)
            args = {"origin": "JFK", "destination": "LAX", "day": DAY}
            assert near_hit(form, near_rt, args)
            form(airport_by_iata).fetch(iata="BOS", runtime=near_rt)  # the node of BOS's slot is known
            slot = key_slot(bucket_of(airport_by_iata.key(iata="BOS", runtime=rt))[1:-1].encode())
            source = int(node_of(url, airport_by_iata.key(iata="BOS", runtime=rt)).rsplit(":", 1)[1])
            target = next(p for p in primary_ports(failing_cluster) if p != source)
            near = form.cache(rt).near
            flushes = near.flushes
            form(airport_by_iata).invalidate(iata="BOS", runtime=near_rt)
            move_slot(failing_cluster, slot, source, target)
            assert near.flushes == flushes and near.stores
            form(airport_by_iata).fetch(iata="BOS", runtime=near_rt)  # MOVED
            assert near.flushes > flushes
            assert not local_keys(rt, form=form)
            assert near_hit(form, near_rt, args)  # tracking again, local copies again
        finally:
            form.close()


def primary_ports(cluster: LocalCluster) -> list[int]:
    ports = []
    for port in cluster.ports:
        client = cluster.client(port)
        try:
            if client.execute_command("ROLE")[0] in (b"master", b"primary"):
                ports.append(port)
        finally:
            client.close()
    return ports


@pytest.mark.parametrize("dialect", ["sqlite"])  # the cache's failover is what is tested: one database is enough
def test_no_stale_read_through_a_failover_with_a_writer_in_another_runtime(failing_cluster: LocalCluster, db_url: str) -> None:
    url = failing_cluster.url
    with (
        Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as rt,
        Runtime.from_config(database_url=db_url, cache_url=url, project_dir=Path.cwd()) as writer,
    ):
        key = airports_in_country.key(country="ICELAND", runtime=rt)
        primary = node_of(url, key)
        replica = next(port for port in failing_cluster.ports if follows(failing_cluster, port) == primary)
        flushes = rt.cache.near.flushes

        def failover(n: int) -> None:
            if n == WRITES // 3:
                failing_cluster.client(replica).execute_command("CLUSTER", "FAILOVER")

        race(rt, writer, failover)
        assert node_of(url, key) == f"{failing_cluster.host}:{replica}"  # the entry's slot changed primary mid-run
        assert rt.cache.near.flushes > flushes and f"{failing_cluster.host}:{replica}" in rt.cache.near.primaries
        assert rt.metrics.of("airports_in_country").near_hits > 0, "the near cache was never used"


def follows(cluster: LocalCluster, port: int) -> str:
    """The ``host:port`` of the primary a node follows ("" for a primary)."""
    client = cluster.client(port)
    try:
        role = client.execute_command("ROLE")
    finally:
        client.close()
    return f"{role[1].decode()}:{role[2]}" if role[0] in (b"slave", b"replica") else ""


def move_slot(cluster: LocalCluster, slot: int, source: int, target: int) -> None:
    """Moves ``slot`` and its keys from primary ``source`` to primary ``target``, as a resharding does."""
    src, dst = cluster.client(source), cluster.client(target)
    src_id, dst_id = src.execute_command("CLUSTER", "MYID"), dst.execute_command("CLUSTER", "MYID")
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", cluster.host, target, "", 0, 5000, "KEYS", *keys)
    for port in primary_ports(cluster):
        cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
