"""``flughafen-gen worker``: applies the queued ``write: behind`` writes (flughafen/worker.py does the work).

It reads the queues of the Valkey the application queues on: a ``valkey://``
server, a ``valkey+cluster://`` cluster (each queue on the primary serving its
slot), or with ``cache_url = "embedded"`` the project's embedded server,
which every process of the project shares. ``off`` has no queue and is
refused. SIGTERM or SIGINT finishes the batch in hand, then exits 0; a second
one stops at once (the writes in hand stay queued).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from flughafen import Runtime
from flughafen.config import load_config
from flughafen.settings import load_settings
from flughafen.worker import run_worker
from generator.accessors import write_modules
from generator.commands import EXIT_ERRORS, EXIT_OK


def main_worker(database_url: str | None, cache_url: str | None, consumer: str, batch: int, once: bool, log_level: str) -> int:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z", stream=sys.stderr)
    log = logging.getLogger("flughafen.worker")
    settings = load_settings()
    config = load_config(database_url, cache_url, settings.root)
    behind = [m.WRITE for m in write_modules(settings) if m.WRITE.mode == "behind"]
    if not behind:
        print(f"no write: behind specs in {settings.package}; nothing to do", file=sys.stderr)
        return EXIT_OK
    if config.cache_url.off:
        print(
            'error: cache_url is "off": there is no queue (a write: behind is applied at once); set FLUGHAFEN_CACHE_URL '
            '(or cache_url in [tool.flughafen]) to the Valkey the application queues on: "embedded" or a valkey:// URL',
            file=sys.stderr,
        )
        return EXIT_ERRORS
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal: stop now; the writes in hand stay queued
        log.info("%s: stopping after the batch in hand", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with Runtime(config, socket_timeout=2.0, near_cache=False) as rt:
            names = ", ".join(w.name for w in behind)
            log.info("worker %s: applying %s from %s to %s", consumer, names, config.cache_url.redacted(), config.database_url.redacted())
            report = run_worker(
                rt,
                behind,
                consumer=consumer,
                batch_size=batch,
                block_ms=100 if once else 1000,
                max_idle_rounds=1 if once else None,
                stop=stop,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"applied {report.applied}, skipped {report.skipped} already applied, set aside {report.dead}, in {report.batches} batch(es)")
    return EXIT_OK
