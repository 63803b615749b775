"""What OpenTelemetry tracing costs a cache hit: without opentelemetry-api, installed but not configured, and tracing.

    .venv/bin/python bench/tracing.py [--rounds 3] [--calls 20000]

Each mode runs in a process of its own (a tracer provider, once set, stays for the
process), the modes taking turns round after round; the table gives each mode's
median time per hit and its ratio to "absent". On the flight search's tiny SQLite
data and an embedded Valkey, near cache off, as bench/profile.py. "tracing" is the
SDK's TracerProvider with a BatchSpanProcessor sending to an in-memory exporter.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("absent", "unconfigured", "tracing")


def one(mode: str, calls: int) -> float:
    """Seconds per hit in this process, in ``mode``."""
    if mode == "absent":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # import fails: as without the tracing extra
    sys.path.insert(0, str(ROOT))
    import datetime

    from bench.fixtures import cache_url, database_url
    from flughafen import Runtime
    from flughafen.embedded import start_server
    from generated import flight_search

    if mode == "tracing":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(provider)
    args = ("JFK", "LAX", datetime.date(2024, 12, 15))
    server = start_server()
    tmp = Path(tempfile.mkdtemp())
    try:
        with Runtime.from_config(database_url=database_url(None, tmp), cache_url=cache_url(server), near_cache=False) as rt:
            q = flight_search.QUERY
            for _ in range(500):
                q.many(args, rt)
            started = time.perf_counter()
            for _ in range(calls):
                q.many(args, rt)
            return (time.perf_counter() - started) / calls
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one measurement, in this process
    args = p.parse_args(argv)
    if args.mode:
        print(one(args.mode, args.calls))
        return 0
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--calls", str(args.calls)], check=True, capture_output=True, text=True)
            times[mode].append(float(out.stdout.split()[-1]))
    base = statistics.median(times["absent"])
    print("| mode | µs per hit (median) | ratio to absent |")
    print("|---|---:|---:|")
    for mode in MODES:
        m = statistics.median(times[mode])
        print(f"| {mode} | {m * 1e6:.1f} | {m / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
