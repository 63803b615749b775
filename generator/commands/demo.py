"""``flughafen-gen demo``: every generated accessor, cold and warm, on real servers.

It calls each accessor of the configured package with its spec's examples:
once cold (a miss: the database, then a SET) and many times warm (hits), and
prints one table row per example. A ranking (store: zset) is read as
``top(n=10)``: cold, the whole ranking is queried and stored.

With a ``seed`` function configured, a database that has none of the schema's
tables yet (the embedded default's SQLite file on a first run) gets them, made
from the schema file, and the seed's rows. This repository's seed loads the
``tiny`` FlughafenDB data set.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flughafen.config import DatabaseUrl
from flughafen.extras import require
from flughafen.settings import Settings, load_settings
from generator.accessors import read_modules

WARM_CALLS = 200
TOP_N = 10  # a ranking (store: zset) is read as its top 10, as the seed's hub and popularity queries ask


@dataclass(frozen=True, slots=True)
class DemoRow:
    spec: str
    example: str
    rows: int
    miss_ms: float
    hit_ms: float
    hit_rate: float

    @property
    def speedup(self) -> float:
        return self.miss_ms / self.hit_ms if self.hit_ms > 0 else float("inf")


def _count(result: object) -> int:
    if isinstance(result, list):
        return len(result)
    return 0 if result is None else 1


def _median_ms(call: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _call(module: ModuleType, runtime: Any, example: dict[str, object]) -> tuple[Callable[[], object], str]:
    """What a user calls, and how the table shows it: ``fetch``, or a ranking's (store: zset) top 10."""
    shown = ", ".join(f"{k}={v}" for k, v in example.items())
    if hasattr(module, "top"):
        return lambda: module.top(**example, n=TOP_N, runtime=runtime), f"top(n={TOP_N})" + (f", {shown}" if shown else "")
    return lambda: module.fetch(**example, runtime=runtime), shown


def measure(module: ModuleType, runtime: Any, example: dict[str, object]) -> DemoRow:
    name = module.QUERY.name
    call, shown = _call(module, runtime, example)
    module.invalidate(**example, runtime=runtime)
    before = runtime.metrics.snapshot().get(name, {})
    start = time.perf_counter()
    result = call()
    miss_ms = (time.perf_counter() - start) * 1000
    hit_ms = _median_ms(call, WARM_CALLS)
    after = runtime.metrics.snapshot()[name]
    hits = after["hits"] - before.get("hits", 0)
    misses = after["misses"] - before.get("misses", 0)
    return DemoRow(name, shown, _count(result), miss_ms, hit_ms, hits / max(hits + misses, 1))


def render(rows: list[DemoRow]) -> str:
    head = ["accessor", "example", "rows", "db (miss) ms", "cache (hit) ms", "speedup", "hit rate"]
    body = [[r.spec, r.example, str(r.rows), f"{r.miss_ms:.2f}", f"{r.hit_ms:.3f}", f"{r.speedup:.0f}x", f"{r.hit_rate:.1%}"] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    numeric = {2, 3, 4, 5, 6}

    def fmt(line: list[str]) -> str:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=False))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in numeric else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(head), rule, *(fmt(line) for line in body)])


def run_demo(database_url: str | None = None, cache_url: str | None = None, settings: Settings | None = None) -> int:
    from flughafen import Runtime, load_config

    settings = settings or load_settings()
    modules = read_modules(settings)
    config = load_config(database_url=database_url, cache_url=cache_url, project_dir=settings.root)
    db_url = config.database_url
    print(f"database: {db_url.redacted()}", file=sys.stderr)
    print(f"cache:    {config.cache_url.redacted()}", file=sys.stderr)
    if settings.seed is not None:
        _make_and_seed(settings, db_url)
    rows: list[DemoRow] = []
    with Runtime.from_config(database_url=db_url.raw, cache_url=config.cache_url.raw, project_dir=settings.root) as runtime:
        for module in modules:
            for example in module.EXAMPLES:
                rows.append(measure(module, runtime, dict(example)))
    print(render(rows))
    print(
        f"\n{len(rows)} calls cold and {WARM_CALLS} warm each; times are medians on this machine "
        "(db = a miss: the read, the query, and the store sent without waiting; cache = a hit: one Valkey round trip + decode, or a local copy for specs with `near:`)."
    )
    if importlib.util.find_spec("aiosqlite") is None and db_url.dialect == "sqlite":
        print("\n(the async part needs pip install 'flughafen-gen[sqlite-async]')")
        return 0
    print(
        f"\nThe same calls through the async accessors ({settings.package}.aio), on an AsyncRuntime; warm: {WARM_CALLS} calls at once through asyncio.gather:\n"
    )
    print(render(asyncio.run(_measure_async(settings, modules, db_url.raw, config.cache_url.raw))))
    return 0


def _async_call(twin: ModuleType, example: dict[str, object], runtime: Any) -> Callable[[], Any]:
    """``_call``'s call through the async twin of a module."""
    if hasattr(twin, "top"):
        return lambda: twin.top(**example, n=TOP_N, runtime=runtime)
    return lambda: twin.fetch(**example, runtime=runtime)


async def _measure_async(settings: Settings, modules: list[ModuleType], database_url: str, cache_url: str) -> list[DemoRow]:
    """Each example cold (a miss) and warm (WARM_CALLS hits gathered at once: time per call) through ``<package>.aio``."""
    from flughafen.aio import AsyncRuntime

    rows: list[DemoRow] = []
    async with AsyncRuntime.from_config(database_url=database_url, cache_url=cache_url, project_dir=settings.root) as runtime:
        for module in modules:
            twin = importlib.import_module(f"{settings.package}.aio.{module.__name__.rsplit('.', 1)[1]}")
            for example in module.EXAMPLES:
                name, call = module.QUERY.name, _async_call(twin, dict(example), runtime)
                await twin.invalidate(**example, runtime=runtime)
                before = runtime.metrics.snapshot().get(name, {})
                start = time.perf_counter()
                result = await call()
                miss_ms = (time.perf_counter() - start) * 1000
                start = time.perf_counter()
                await asyncio.gather(*(call() for _ in range(WARM_CALLS)))
                hit_ms = (time.perf_counter() - start) * 1000 / WARM_CALLS
                after = runtime.metrics.snapshot()[name]
                hits, misses = after["hits"] - before.get("hits", 0), after["misses"] - before.get("misses", 0)
                rows.append(DemoRow(name, _call(module, runtime, dict(example))[1], _count(result), miss_ms, hit_ms, hits / max(hits + misses, 1)))
    return rows


def _make_and_seed(settings: Settings, url: DatabaseUrl) -> None:
    """A database with none of the schema's tables gets them, and the seed's rows; any other is left as it is."""
    require("sqlglot", "flughafen-gen demo (it makes the tables of a new database from your schema)")
    from generator.databases import catalog_of, create_tables, missing_tables, seed
    from generator.dataset.load import ensure_database

    catalog = catalog_of(settings)
    ensure_database(url)
    if len(missing_tables(url, catalog)) < len(catalog.tables):
        return
    print(f"making the tables of {settings.shown(settings.schema)} and seeding them with {settings.seed} (once)...", file=sys.stderr)
    create_tables(url, catalog)
    seed(settings, url)
