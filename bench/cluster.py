"""Valkey Cluster figures: the hit on a local 3-primary cluster against one server (sync Runtime, and
AsyncRuntime: awaited one by one, and 1,000 gathered), the near cache's hit on each, a hit read
from a replica (``replica_reads``) against one read from the primary, and a tag invalidation's time
per bucket count (on one server and on the cluster).

    python bench/cluster.py [--quick]     # writes bench/out/cluster.json and prints a table

A process uses one bucket count (it is part of every key), so each count is measured in a
process of its own (``--child``), against the same servers. Ratios come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fixtures import cache_url, database_url  # noqa: E402
from run import interleaved, per_call_us  # noqa: E402

OUT = ROOT / "bench" / "out"
DAY = datetime.date(2024, 12, 15)
COUNTS = (1, 4, 16, 64, 256)


def child(db: str, single: str, cluster: str, entries: int, rounds: int) -> dict[str, Any]:
    """In a process whose bucket count is FLUGHAFEN_CACHE_BUCKETS: one tag's invalidation, on each cache,
    with ``entries`` entries under it (median of ``rounds``), and the hit."""
    from flughafen import Runtime, invalidate_tag
    from generated import airport_by_iata, flight_search

    out: dict[str, Any] = {}
    for name, url in (("single", single), ("cluster", cluster)):
        with Runtime.from_config(database_url=db, cache_url=url, project_dir=ROOT, near_cache=False) as rt:
            times = []
            for _ in range(rounds):
                for n in range(entries):  # every entry under route:JFK:LAX, spread over the buckets
                    flight_search.fetch(origin="JFK", destination="LAX", day=DAY + datetime.timedelta(days=n), runtime=rt)
                rt.cache.settle()
                start = time.perf_counter()
                dropped = invalidate_tag("route:JFK:LAX", rt)
                times.append((time.perf_counter() - start) * 1e3)
                assert dropped >= 1, dropped
            out[f"{name} invalidate_tag ms"] = statistics.median(times)
            airport_by_iata.fetch(iata="JFK", runtime=rt)
            out[f"{name} hit us"] = per_call_us(lambda: airport_by_iata.fetch(iata="JFK", runtime=rt), 2000)
    return out


def near_hits(db: str, single: str, cluster: str, n: int) -> dict[str, float]:
    """µs per near-cache hit (airports_in_country, ``cache: near:``), on one server and on the cluster (interleaved)."""
    from flughafen import Runtime
    from generated import airports_in_country

    with (
        Runtime.from_config(database_url=db, cache_url=single, project_dir=ROOT) as one,
        Runtime.from_config(database_url=db, cache_url=cluster, project_dir=ROOT) as many,
    ):
        for rt in (one, many):
            deadline = time.monotonic() + 30
            while rt.metrics.of("airports_in_country").near_hits == 0:  # the prefix is tracked in the background
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no near hit on {rt.config.cache_url.redacted()} within 30 s")
                airports_in_country.fetch(country="ICELAND", runtime=rt)
                time.sleep(0.01)
        return interleaved(
            {
                "one server": lambda: airports_in_country.fetch(country="ICELAND", runtime=one),
                "3-primary cluster": lambda: airports_in_country.fetch(country="ICELAND", runtime=many),
            },
            n,
        )


def async_hits(db: str, single: str, cluster: str, n: int, repeat: int = 7) -> dict[str, float]:
    """µs per async hit, on one server and on the cluster: awaited one by one, and 1,000 gathered (alternating rounds)."""
    from aio import timed

    from flughafen.aio import AsyncRuntime
    from generated.aio import airport_by_iata as aio_airport_by_iata

    async def measure() -> dict[str, float]:
        async with (
            AsyncRuntime.from_config(database_url=db, cache_url=single, project_dir=ROOT, near_cache=False) as one,
            AsyncRuntime.from_config(database_url=db, cache_url=cluster, project_dir=ROOT, near_cache=False) as many,
        ):
            for rt in (one, many):
                await aio_airport_by_iata.fetch(iata="JFK", runtime=rt)

            def awaited(rt: AsyncRuntime) -> Any:
                async def run() -> float:
                    start = time.perf_counter()
                    for _ in range(n):
                        await aio_airport_by_iata.fetch(iata="JFK", runtime=rt)
                    return (time.perf_counter() - start) / n * 1e6

                return run

            def gathered(rt: AsyncRuntime, width: int = 1000) -> Any:
                async def run() -> float:
                    start = time.perf_counter()
                    await asyncio.gather(*(aio_airport_by_iata.fetch(iata="JFK", runtime=rt) for _ in range(width)))
                    return (time.perf_counter() - start) / width * 1e6

                return run

            return await timed(
                {
                    "one server": awaited(one),
                    "3-primary cluster": awaited(many),
                    "one server, 1,000 gathered": gathered(one),
                    "3-primary cluster, 1,000 gathered": gathered(many),
                },
                repeat,
            )

    return asyncio.run(measure())


def replica_hits(db: str, n: int) -> dict[str, Any]:
    """µs per hit of ``flight_status`` (``replica_reads``) on a 3-primary cluster with a replica each: read from
    the replica, and from the primary (the same runtime and entry, replica reads switched off for those rounds).

    The bound is raised to 60 s here, so that the entry (its lifetime capped at the bound) outlives the run."""
    from flughafen import Runtime
    from flughafen.local_cluster import LocalCluster
    from generated import flight_status

    query = flight_status.QUERY
    bound = query.replica_reads
    query.replica_reads = 60
    try:
        with LocalCluster(primaries=3, replicas=1) as cluster, Runtime.from_config(database_url=db, cache_url=cluster.url, project_dir=ROOT) as rt:
            scope = query.scope(rt.keyspace)
            scope.replica_ms = 60_000
            counters = rt.metrics.of("flight_status")
            deadline = time.monotonic() + 60
            while counters.replica_hits == 0:  # the fill has reached the replica, and the runtime knows it keeps up
                if time.monotonic() > deadline:
                    raise RuntimeError("no hit was read from a replica within 60 s")
                flight_status.fetch(flight_id=1001, runtime=rt)
                rt.cache.settle()
                time.sleep(0.05)

            def reading(replica_ms: int) -> Any:
                def read() -> object:
                    scope.replica_ms = replica_ms
                    return flight_status.fetch(flight_id=1001, runtime=rt)

                return read

            hits, replica = counters.hits, counters.replica_hits
            figures = interleaved({"from the replica": reading(60_000), "from the primary": reading(0)}, n)
            calls = 1 + 7 * n  # interleaved: a warm-up call and 7 rounds of n, for each of the two
            share = (counters.replica_hits - replica) / calls
            assert counters.hits - hits == 2 * calls, "every read was a hit"
    finally:
        query.replica_reads = bound
    return {
        "hit_us": figures,
        "replica hits share of the replica rounds": share,
        "ratio replica / primary": figures["from the replica"] / figures["from the primary"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--child", nargs=3, metavar=("DB", "SINGLE", "CLUSTER"), help=argparse.SUPPRESS)
    ap.add_argument("--entries", type=int, default=50)
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else 7
    if args.child:
        print(json.dumps(child(*args.child, entries=args.entries, rounds=rounds)))
        return 0

    from flughafen import Runtime
    from flughafen.embedded import start_server
    from flughafen.keys import bucket_of, generation_in
    from flughafen.local_cluster import LocalCluster
    from generated import airport_by_iata

    server = start_server()
    cluster = LocalCluster(primaries=3).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = database_url(None, Path(folder))
            single_url = cache_url(server)
            results: dict[str, Any] = {}
            with (
                Runtime.from_config(database_url=db, cache_url=single_url, project_dir=ROOT, near_cache=False) as one,
                Runtime.from_config(database_url=db, cache_url=cluster.url, project_dir=ROOT, near_cache=False) as many,
            ):
                for rt in (one, many):
                    airport_by_iata.fetch(iata="JFK", runtime=rt)
                n = 2000 if args.quick else 20000
                hits = interleaved(
                    {
                        "one server": lambda: airport_by_iata.fetch(iata="JFK", runtime=one),
                        "3-primary cluster": lambda: airport_by_iata.fetch(iata="JFK", runtime=many),
                    },
                    n,
                )
                key = airport_by_iata.key(iata="JFK", runtime=one)
                generation = one.keyspace.generation_key("airport_by_iata")
                # What the layout adds to a hit: the bucket found in the key, the bucket's generation key built
                # (the call's own cost, an empty lambda's, taken off).
                layout = per_call_us(lambda: generation_in(generation, bucket_of(key)), n * 10) - per_call_us(lambda: None, n * 10)
                results["hit_us"] = hits
                results["hit ratio cluster / one server"] = hits["3-primary cluster"] / hits["one server"]
                results["bucket layout us per hit (bucket_of + generation key)"] = layout
                results["bucket layout share of a hit"] = layout / hits["one server"]
                results["near_hit_us"] = near_hits(db, single_url, cluster.url, n)
                results["near hit ratio cluster / one server"] = results["near_hit_us"]["3-primary cluster"] / results["near_hit_us"]["one server"]
                results["near hit / Valkey hit, cluster"] = results["near_hit_us"]["3-primary cluster"] / hits["3-primary cluster"]
            results["replica"] = replica_hits(db, n // 2)
            hits = async_hits(db, single_url, cluster.url, n // 4)
            results["async_hit_us"] = hits
            results["async hit ratio cluster / one server"] = hits["3-primary cluster"] / hits["one server"]
            results["async gathered hit ratio cluster / one server"] = hits["3-primary cluster, 1,000 gathered"] / hits["one server, 1,000 gathered"]
            per_count: dict[str, Any] = {}
            for count in COUNTS if not args.quick else (1, 16):
                for client in (server.connection_kwargs,):
                    import valkey

                    valkey.Valkey(**client).flushall()
                env = {**os.environ, "FLUGHAFEN_CACHE_BUCKETS": str(count), "PYTHONPATH": str(ROOT)}
                done = subprocess.run(
                    [sys.executable, __file__, "--child", db, single_url, cluster.url, "--entries", str(args.entries), *(["--quick"] if args.quick else [])],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                per_count[str(count)] = json.loads(done.stdout.strip().splitlines()[-1])
            results["per bucket count"] = per_count
    finally:
        cluster.stop()
        server.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "cluster.json").write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


def render(r: dict[str, Any]) -> str:
    lines = ["| read | us per call |", "|---|---|"]
    lines += [f"| hit, {name} | {us:.1f} |" for name, us in r["hit_us"].items()]
    lines += [f"| async hit, {name} | {us:.1f} |" for name, us in r["async_hit_us"].items()]
    rep = r["replica"]
    lines += [f"| hit on a cluster with replicas (replica_reads), {name} | {us:.1f} |" for name, us in rep["hit_us"].items()]
    lines += [f"| near hit, {name} | {us:.2f} |" for name, us in r["near_hit_us"].items()]
    lines.append(f"\nhit on the cluster / on one server: {r['hit ratio cluster / one server']:.2f}x (target <= 1.3x)")
    lines.append(
        f"hit read from a replica / from the primary: {rep['ratio replica / primary']:.2f}x "
        f"({rep['replica hits share of the replica rounds']:.0%} of the replica rounds' hits served by the replica)"
    )
    lines.append(f"near hit on the cluster / on one server: {r['near hit ratio cluster / one server']:.2f}x")
    lines.append(f"near hit / Valkey hit, on the cluster: {r['near hit / Valkey hit, cluster']:.3f}x")
    lines.append(f"async hit on the cluster / on one server: {r['async hit ratio cluster / one server']:.2f}x (target <= 1.3x)")
    lines.append(f"async hit, 1,000 gathered, on the cluster / on one server: {r['async gathered hit ratio cluster / one server']:.2f}x")
    lines.append(
        f"bucket layout per hit: {r['bucket layout us per hit (bucket_of + generation key)'] * 1000:.0f} ns ({r['bucket layout share of a hit']:.1%} of a hit)\n"
    )
    lines += [
        "| buckets | invalidate_tag, one server (ms) | invalidate_tag, cluster (ms) | hit, one server (us) | hit, cluster (us) |",
        "|---|---|---|---|---|",
    ]
    for count, f in r["per bucket count"].items():
        lines.append(
            f"| {count} | {f['single invalidate_tag ms']:.2f} | {f['cluster invalidate_tag ms']:.2f} | {f['single hit us']:.1f} | {f['cluster hit us']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
