"""Randomized readers and a writer on a real database and Valkey: once a write's
invalidation returns, no reader sees the old value (the classic race of a
reader storing what it read before the write is closed by leases)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generated import airport_by_iata, airports_in_country, rename_airport
from flughafen import Runtime

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

OPS = 10_000
READERS = 4
WRITES = 1_000


def name_in_hash(runtime: Runtime) -> str:
    """KEF's name from airport_by_iata: a store: hash entry that rename_airport refreshes in place."""
    row = airport_by_iata.fetch(iata="KEF", runtime=runtime)
    assert row is not None
    return row.name


def name_in_country_list(runtime: Runtime) -> str:
    """KEF's name from airports_in_country: a json entry (near-cached) that rename_airport drops whole."""
    return next(r.name for r in airports_in_country.fetch(country="ICELAND", runtime=runtime) if r.iata == "KEF")


def drop_hash(runtime: Runtime) -> None:
    airport_by_iata.invalidate(iata="KEF", runtime=runtime)


def drop_country_list(runtime: Runtime) -> None:
    airports_in_country.invalidate(country="ICELAND", runtime=runtime)


CASES = {
    "hash refreshed in place": (name_in_hash, drop_hash, False),
    "json, near cache": (name_in_country_list, drop_country_list, True),
    "json, valkey only": (name_in_country_list, drop_country_list, False),
}
Case = tuple[Runtime, Callable[[Runtime], str], Callable[[Runtime], None]]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, runtime: Runtime, db_url: str, valkey_url: str) -> Iterator[Case]:
    """A reader of one airport's name, how it drops its entry, and a runtime with or without a near cache."""
    read, drop, near = CASES[request.param]
    if near:
        yield runtime, read, drop
        return
    with Runtime.from_config(database_url=db_url, cache_url=valkey_url, project_dir=Path.cwd(), near_cache=False) as rt:
        yield rt, read, drop


def test_no_reader_sees_a_value_older_than_the_last_returned_write(case: Case) -> None:
    runtime, read, drop = case
    original = airport_by_iata.fetch(iata="KEF", runtime=runtime)
    assert original is not None
    airport_id = original.airport_id
    committed = [0]  # the version whose write (commit + invalidation) has returned
    errors: list[str] = []
    stop = threading.Event()
    reads = [0]

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            floor = committed[0]
            name = read(runtime)
            seen = int(name[1:]) if name.startswith("V") else 0
            if seen < floor:
                errors.append(f"read version {seen} after version {floor} was written")
            reads[0] += 1
            if rng.random() < 0.05:
                drop(runtime)  # extra misses, more races

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    try:
        version = 0
        while (version < WRITES or reads[0] + version < OPS) and not errors:
            version += 1
            rename_airport.execute(airport_id=airport_id, name=f"V{version}", runtime=runtime)
            committed[0] = version
            time.sleep(0.0005)  # let the readers run between writes
    finally:
        stop.set()
        for t in threads:
            t.join()
        rename_airport.execute(airport_id=airport_id, name=original.name, runtime=runtime)
    assert not errors, errors[:5]
    assert version >= WRITES and reads[0] + version >= OPS
    assert read(runtime) == original.name
    if runtime.cache.near_enabled:
        assert runtime.metrics.of("airports_in_country").near_hits > 0, "the near cache was never used"
