"""Before and after: this tree's runtime against an older revision's, in alternating rounds of one run.

    .venv/bin/python bench/compare.py --base b3de032 [--database URL] [--rounds 8]

The base revision is extracted with ``git archive`` into a temporary folder.
Each round starts one process per tree, in turn, against the same Valkey and
the same database; each process measures, in the same payload and keys as
bench/run.py, a raw ``GET`` + decode (the yardstick), a Valkey hit of the
flight search, a run of misses on new keys, and the hand-written miss
(``GET`` + query + ``SET``), each as wall time and as the process's CPU time
(``time.process_time``) per miss. The near cache is off in both (it did not exist
before); bench/run.py measures it. Prints medians and ratios per tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fixtures import cache_url, database_url  # noqa: E402

WORKER = r"""
import datetime, inspect, json, sys, time
tree, db, cache, n, offset = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, tree)
import msgspec, valkey
from flughafen import Runtime
from generated import flight_search
kwargs = {"near_cache": False} if "near_cache" in inspect.signature(Runtime.from_config).parameters else {}
rt = Runtime.from_config(database_url=db, cache_url=cache, **kwargs)
q = flight_search.QUERY
args = ("JFK", "LAX", datetime.date(2024, 12, 15))
q.many(args, rt)
q.many(args, rt)
key = q.key(args, rt) if len(inspect.signature(q.key).parameters) > 1 else q.key(args)  # keys are per namespace since then
host, port = cache.split("//")[1].split("/")[0].split(":")
raw = valkey.Valkey(host=host, port=int(port))
decoder = msgspec.json.Decoder()
encoder = msgspec.json.Encoder()
def per_call(fn, count):
    fn()
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1e6
if hasattr(q, "_miss_score"):
    q.miss_score = 0
out = {"raw GET + decode": per_call(lambda: decoder.decode(raw.get(key)), 2000), "hit": per_call(lambda: q.many(args, rt), 2000)}
base = datetime.date(2024, 11, 1)
days = [base + datetime.timedelta(days=(offset + i) % 3650) for i in range(n)]
q.invalidate_all(rt)
start, cpu = time.perf_counter(), time.process_time()
for day in days:
    q.many(("JFK", "LAX", day), rt)
getattr(rt.cache, "settle", lambda: None)()
out["miss"] = (time.perf_counter() - start) / n * 1e6
out["miss CPU"] = (time.process_time() - cpu) / n * 1e6
start, cpu = time.perf_counter(), time.process_time()
for day in days:
    k = f"hand:{offset}:{day}"
    if raw.get(k) is None:
        raw.set(k, encoder.encode(q.query_database(("JFK", "LAX", day), rt)), px=600_000)
out["GET + query + SET"] = (time.perf_counter() - start) / n * 1e6
out["GET + query + SET CPU"] = (time.process_time() - cpu) / n * 1e6
rt.close()
print(json.dumps(out))
"""


def extract(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--base", required=True, help="the revision to compare against, e.g. b3de032")
    p.add_argument("--database", default=None, help="database URL (default: a fresh tiny SQLite)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--misses", type=int, default=150, help="misses per process")
    args = p.parse_args(argv)
    from flughafen.embedded import start_server

    server = start_server()
    tmp = Path(tempfile.mkdtemp())
    try:
        base_tree = tmp / "base"
        base_tree.mkdir()
        extract(args.base, base_tree)
        url = database_url(args.database, tmp)
        cache = cache_url(server)
        worker = tmp / "worker.py"
        worker.write_text(WORKER)
        trees = {f"before ({args.base})": base_tree, "after (this tree)": ROOT}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for i, (name, tree) in enumerate(trees.items()):
                offset = (r * len(trees) + i) * args.misses
                done = subprocess.run(
                    [sys.executable, str(worker), str(tree), url, cache, str(args.misses), str(offset)], check=True, capture_output=True, text=True, cwd=tree
                )
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.stop()
    medians = {name: {k: statistics.median(run[k] for run in rs) for k in rs[0]} for name, rs in runs.items()}
    print(f"database: {url.split('?')[0]}; {args.rounds} rounds, processes alternated\n")
    print(
        "| tree | raw GET + decode µs | hit µs | hit / raw | miss µs | GET + query + SET µs | miss / (GET + query + SET) | miss CPU µs | GET + query + SET CPU µs | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in medians.items():
        print(
            f"| {name} | {m['raw GET + decode']:.2f} | {m['hit']:.2f} | {m['hit'] / m['raw GET + decode']:.3f} "
            f"| {m['miss']:.2f} | {m['GET + query + SET']:.2f} | {m['miss'] / m['GET + query + SET']:.3f} "
            f"| {m['miss CPU']:.2f} | {m['GET + query + SET CPU']:.2f} | {m['miss CPU'] / m['GET + query + SET CPU']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
