"""Invalidations confirmed by replicas (``cache_wait_replicas``): ``invalidate_tag`` with and without WAIT,
behind Sentinel (a primary and a replica) and on a local 3-primary cluster with a replica each.

    python bench/wait.py [--quick]     # writes bench/out/wait.json and prints a table

Both runtimes of a cache run in the same process, their rounds alternating, so the ratio is what to read.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fixtures import database_url  # noqa: E402

OUT = ROOT / "bench" / "out"
DAY = datetime.date(2024, 12, 15)


def measure(db: str, url: str, entries: int, rounds: int) -> dict[str, float]:
    """Median ms of one tag's invalidation with ``entries`` entries under it, without WAIT and with it (rounds alternating)."""
    from flughafen import Runtime, invalidate_tag
    from generated import flight_search

    times: dict[str, list[float]] = {"no WAIT": [], "WAIT all replicas": []}
    with (
        Runtime.from_config(database_url=db, cache_url=url, project_dir=ROOT, near_cache=False, cache_wait_replicas=0) as plain,
        Runtime.from_config(database_url=db, cache_url=url, project_dir=ROOT, near_cache=False, cache_wait_replicas="all") as waiting,
    ):
        for _ in range(rounds):
            for name, rt in (("no WAIT", plain), ("WAIT all replicas", waiting)):
                for n in range(entries):  # every entry under route:JFK:LAX, spread over the buckets
                    flight_search.fetch(origin="JFK", destination="LAX", day=DAY + datetime.timedelta(days=n), runtime=rt)
                rt.cache.settle()
                start = time.perf_counter()
                dropped = invalidate_tag("route:JFK:LAX", rt)
                times[name].append((time.perf_counter() - start) * 1e3)
                assert dropped >= 1, dropped
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--entries", type=int, default=50)
    args = ap.parse_args(argv)
    rounds = 5 if args.quick else 41

    from flughafen.local_cluster import LocalCluster, LocalSentinel

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, LocalSentinel() as sentinel, LocalCluster(primaries=3, replicas=1) as cluster:
        db = database_url(None, Path(folder))
        results["behind Sentinel (1 replica)"] = measure(db, sentinel.url, args.entries, rounds)
        results["3-primary cluster (1 replica each)"] = measure(db, cluster.url, args.entries, rounds)
    OUT.mkdir(exist_ok=True)
    (OUT / "wait.json").write_text(json.dumps(results, indent=2))
    print(render(results, args.entries))
    return 0


def render(r: dict[str, Any], entries: int) -> str:
    lines = [f"| invalidate_tag, {entries} entries | no WAIT (ms) | WAIT all replicas (ms) | ratio |", "|---|---|---|---|"]
    for name, f in r.items():
        lines.append(f"| {name} | {f['no WAIT']:.2f} | {f['WAIT all replicas']:.2f} | {f['WAIT all replicas'] / f['no WAIT']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
