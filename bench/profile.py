"""Where a cache read spends its time: a pyinstrument profile of many hits, near hits or misses.

    .venv/bin/python bench/profile.py hit [--calls 20000]
    .venv/bin/python bench/profile.py near
    .venv/bin/python bench/profile.py miss
    .venv/bin/python bench/profile.py aio-hit     # the same on an AsyncRuntime (aio-near, aio-miss too)

On the flight search's tiny SQLite data and an embedded Valkey, as bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyinstrument import Profiler  # noqa: E402

from bench.fixtures import cache_url, database_url  # noqa: E402
from flughafen import Runtime  # noqa: E402
from flughafen.aio import AsyncRuntime  # noqa: E402
from flughafen.embedded import start_server  # noqa: E402
from generated import flight_search  # noqa: E402

ARGS = ("JFK", "LAX", datetime.date(2024, 12, 15))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("path", choices=["hit", "near", "miss", "aio-hit", "aio-near", "aio-miss"])
    p.add_argument("--calls", type=int, default=20_000)
    args = p.parse_args(argv)
    server = start_server()
    tmp = Path(tempfile.mkdtemp())
    try:
        url = database_url(None, tmp)
        if args.path.startswith("aio-"):
            asyncio.run(_profile_async(url, cache_url(server), args.path.removeprefix("aio-"), args.calls))
            return 0
        with Runtime.from_config(database_url=url, cache_url=cache_url(server), near_cache=args.path == "near") as rt:
            q = flight_search.QUERY
            for _ in range(100):
                q.many(ARGS, rt)
            q.scope(rt.keyspace).miss_score = 0
            base = datetime.date(2024, 11, 1)
            calls = (
                [("JFK", "LAX", base + datetime.timedelta(days=i % 3650)) for i in range(min(args.calls, 3000))] if args.path == "miss" else [ARGS] * args.calls
            )
            profiler = Profiler(interval=0.0001)
            profiler.start()
            for call in calls:
                q.many(call, rt)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


async def _profile_async(url: str, cache: str, path: str, calls: int) -> None:
    """The same reads through the async shell, awaited one after another."""
    async with AsyncRuntime.from_config(database_url=url, cache_url=cache, near_cache=path == "near") as rt:
        q = flight_search.QUERY
        for _ in range(100):
            await q.many_async(ARGS, rt)
        q.miss_score = 0
        base = datetime.date(2024, 11, 1)
        reads = [("JFK", "LAX", base + datetime.timedelta(days=i % 3650)) for i in range(min(calls, 3000))] if path == "miss" else [ARGS] * calls
        profiler = Profiler(interval=0.0001, async_mode="disabled")
        profiler.start()
        for read in reads:
            await q.many_async(read, rt)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    sys.exit(main())
