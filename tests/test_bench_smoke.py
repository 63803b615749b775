"""The benchmark harness runs end to end at tiny sizes (figures are not asserted: they are not tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_run_writes_results_and_keeps_the_stampede_to_one_query() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert run.main(["--quick"]) == 0
    results = json.loads((ROOT / "bench" / "out" / "results.json").read_text())
    assert set(results["hit_us"]) == {
        "raw GET + decode",
        "flughafen-gen hit",
        "flughafen-gen hit through READ_OR_LOCK",
        "flughafen-gen near hit",
        "dogpile.cache hit",
        "cashews hit",
    }
    assert set(results["miss_us"]) == {
        "bare query + SET",
        "GET + query + SET",
        "flughafen-gen miss",
        "flughafen-gen miss, fill awaited",
        "flughafen-gen miss among hits",
    }
    assert results["stampede_db_queries"]["200 cold callers"] == 1
    memory = results["memory_bytes"]
    # Every shape measured; how they compare is the benchmark's figure, not a test (the hash moves
    # between 240 and 272 bytes with allocator size classes, the json envelope sits at 272).
    assert set(memory) == {
        "hash (store: hash)",
        "json envelope (store: json)",
        "json row",
        "hash, fields by position",
        "hash floor: values only, fields by position",
        "readable floor: by column name, no bookkeeping",
    }
    assert all(size > 0 for size in memory.values())
    assert memory["hash, fields by position"] < memory["hash (store: hash)"]  # shorter field names: 192-208 against 240-272
    assert memory["hash floor: values only, fields by position"] < memory["readable floor: by column name, no bookkeeping"] <= memory["hash (store: hash)"]
    assert "airport row: hash / hash floor (memory)" in results["ratios"]
    assert (ROOT / "bench" / "out" / "results.png").stat().st_size > 0
