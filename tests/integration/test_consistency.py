"""Randomized readers and a writer on a real database and Valkey: once a write's
invalidation returns, no reader sees the old value (the classic race of a
reader storing what it read before the write is closed by leases)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generated import airport_by_iata, rename_airport
from generator.runtime import Runtime
from tests.integration.conftest import cache_url

OPS = 10_000
READERS = 4
WRITES = 1_000


@pytest.fixture(params=[True, False], ids=["near cache", "valkey only"])
def near_or_not(request: pytest.FixtureRequest, runtime: Runtime, db_url: str, valkey_server: object) -> Iterator[Runtime]:
    """airport_by_iata is near-cached (cache: near:): with local copies, and with the runtime's near cache off."""
    if request.param:
        yield runtime
        return
    with Runtime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=Path.cwd(), near_cache=False) as rt:
        yield rt


def test_no_reader_sees_a_value_older_than_the_last_returned_write(near_or_not: Runtime) -> None:
    runtime = near_or_not
    original = airport_by_iata.fetch(iata="FRA", runtime=runtime)
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
            row = airport_by_iata.fetch(iata="FRA", runtime=runtime)
            assert row is not None
            seen = int(row.name[1:]) if row.name.startswith("V") else 0
            if seen < floor:
                errors.append(f"read version {seen} after version {floor} was written")
            reads[0] += 1
            if rng.random() < 0.05:
                airport_by_iata.invalidate(iata="FRA", runtime=runtime)  # extra misses, more races

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
    assert airport_by_iata.fetch(iata="FRA", runtime=runtime) == original
    if runtime.cache.near_enabled:
        assert runtime.metrics.of("airport_by_iata").near_hits > 0, "the near cache was never used"
