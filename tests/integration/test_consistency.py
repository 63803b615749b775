"""Randomized readers and a writer on a real database and Valkey: once a write's
invalidation returns, no reader sees the old value (the classic race of a
reader storing what it read before the write is closed by leases)."""

from __future__ import annotations

import random
import threading
import time

from generated import airport_by_iata, rename_airport
from generator.runtime import Runtime

OPS = 10_000
READERS = 4
WRITES = 1_000


def test_no_reader_sees_a_value_older_than_the_last_returned_write(runtime: Runtime) -> None:
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
