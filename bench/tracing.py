"""What OpenTelemetry tracing costs a cache hit: without opentelemetry-api, installed but not configured, and tracing.

    .venv/bin/python bench/tracing.py [--rounds 20] [--calls 5000]

One process; the three modes take turns, round after round, and the table gives
each one's median time per hit and its ratio to "absent". The modes are set on
flughafen.tracing the way its import and its look for a provider leave it:
"absent" as when the import of opentelemetry failed (no tracing extra);
"unconfigured" as with the package installed and no tracer provider set; "tracing"
with a tracer of the SDK's TracerProvider, a SimpleSpanProcessor handing each span
to an in-memory exporter (in the calling thread: no export thread competing for the
GIL in the other modes' turns). The order of the modes turns round each round.
On the flight search's tiny SQLite data and an embedded Valkey, near cache off,
as bench/profile.py.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from bench.fixtures import cache_url, database_url  # noqa: E402
from flughafen import Runtime, tracing  # noqa: E402
from flughafen.embedded import start_server  # noqa: E402
from generated import flight_search  # noqa: E402

ARGS = ("JFK", "LAX", datetime.date(2024, 12, 15))
MODES = ("absent", "unconfigured", "tracing")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--calls", type=int, default=5000)
    args = p.parse_args(argv)
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("flughafen")
    state = {"absent": (None, None), "unconfigured": (trace, None), "tracing": (trace, tracer)}
    times: dict[str, list[float]] = {m: [] for m in MODES}
    server = start_server()
    tmp = Path(tempfile.mkdtemp())
    try:
        with Runtime.from_config(database_url=database_url(None, tmp), cache_url=cache_url(server), near_cache=False) as rt:
            q = flight_search.QUERY
            for _ in range(500):
                q.many(ARGS, rt)
            for n in range(args.rounds):
                for mode in MODES[n % 3 :] + MODES[: n % 3]:
                    tracing._otel, tracing._tracer = state[mode]  # type: ignore[assignment, attr-defined]
                    gc.collect()  # the garbage of the turn before is not collected in this one
                    started = time.perf_counter()
                    for _ in range(args.calls):
                        q.many(ARGS, rt)
                    times[mode].append((time.perf_counter() - started) / args.calls)
                    exporter.clear()
    finally:
        provider.shutdown()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(times["absent"])
    print(f"| mode | µs per hit (median of {args.rounds} rounds of {args.calls}) | ratio to absent |")
    print("|---|---:|---:|")
    for mode in MODES:
        m = statistics.median(times[mode])
        print(f"| {mode} | {m * 1e6:.1f} | {m / base:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
