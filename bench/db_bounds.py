"""What the async read and statement bounds cost per database call: ``SELECT 1`` on an AsyncDatabase with the
default bounds, and with every bound off (``statement_timeout=0&read_timeout=0``).

    python bench/db_bounds.py [--quick]     # writes bench/out/db_bounds.json and prints a table

Both pools run in the same process and event loop, their rounds alternating, so the ratio is what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
SERVERS = {"mysql": "mysql://root@127.0.0.1:3306/mysql", "postgres": "postgresql://postgres@127.0.0.1:5432/postgres"}


async def measure(url: str, calls: int, rounds: int) -> dict[str, float]:
    """Median µs of one ``SELECT 1`` per configuration (rounds alternating)."""
    from flughafen.db_async import AsyncDatabase

    off = "statement_timeout=0" if url.startswith("sqlite") else "statement_timeout=0&read_timeout=0"
    dbs = {"bounded (defaults)": AsyncDatabase(url, size=1), "unbounded": AsyncDatabase(f"{url}?{off}", size=1)}
    times: dict[str, list[float]] = {name: [] for name in dbs}
    try:
        for db in dbs.values():
            await db.query("SELECT 1")  # connected
        for _ in range(rounds):
            for name, db in dbs.items():
                start = time.perf_counter()
                for _ in range(calls):
                    await db.query("SELECT 1")
                times[name].append((time.perf_counter() - start) / calls * 1e6)
    finally:
        for db in dbs.values():
            await db.close()
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = ap.parse_args(argv)
    calls, rounds = (50, 3) if args.quick else (500, 15)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {**SERVERS, "sqlite": f"sqlite:///{tmp}/bench.sqlite3"}
        for dialect, url in urls.items():
            results[dialect] = asyncio.run(measure(url, calls, rounds))
    OUT.mkdir(exist_ok=True)
    (OUT / "db_bounds.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| database | bounded µs | unbounded µs | ratio |\n|---|---|---|---|")
    for dialect, r in results.items():
        bounded, unbounded = r["bounded (defaults)"], r["unbounded"]
        print(f"| {dialect} | {bounded:.0f} | {unbounded:.0f} | {bounded / unbounded:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
