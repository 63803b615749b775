"""``flughafen-gen cache status`` and ``cache stop``: the project's embedded Valkey (flughafen/embedded.py).

``status`` shows the server's socket, pid, uptime, memory, keys and the
write-behind writes it holds not yet applied; exit 0 when it runs, 1 when not.
``stop`` stops it and removes its socket and pid file; exit 0, also when it
was not running (it says so). The server persists nothing, so ``stop``
refuses (exit 1) while writes are queued: run ``flughafen-gen worker --once``
first, or pass ``--discard-queued``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import valkey

from flughafen import embedded
from flughafen.config import load_config
from flughafen.worker import queue_figures
from generator.commands import EXIT_OK, EXIT_STALE


def _project(project: Path | None) -> Path:
    """The project's folder, from the configuration (which is checked on the way)."""
    config = load_config(project_dir=project.resolve() if project is not None else None)
    if not config.cache_url.embedded:
        print(f"note: cache_url is {config.cache_url.redacted()!r}: the application does not use this embedded server", file=sys.stderr)
    return config.project_dir


def _duration(seconds: int) -> str:
    """
    >>> _duration(3725)
    '1 h 2 min 5 s'
    >>> _duration(59)
    '59 s'
    """
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return " ".join(f"{v} {unit}" for v, unit in ((h, "h"), (m, "min"), (s, "s")) if v or unit == "s")


def queued_writes(status: embedded.Status) -> int:
    """The write-behind writes the server holds, not applied yet (stopping it loses them)."""
    client = valkey.Valkey(unix_socket_path=str(status.socket), socket_timeout=5.0)
    try:
        return sum(q.queued for q in queue_figures(client))
    finally:
        client.close()  # type: ignore[no-untyped-call]


def cache_status(project: Path | None) -> int:
    root = _project(project)
    status = embedded.status(root)
    if status is None:
        print(f"the embedded Valkey of {root} is not running (the first process that uses the cache starts it)")
        return EXIT_STALE
    print(f"the embedded Valkey of {root} is running")
    print(f"  socket         {status.socket}")
    print(f"  pid            {status.pid if status.pid is not None else '?'}")
    print(f"  uptime         {_duration(status.uptime_s)}")
    print(f"  memory         {status.memory}")
    print(f"  keys           {status.keys}")
    print(f"  queued writes  {queued_writes(status)} (write: behind, not applied yet; flughafen-gen worker applies them)")
    return EXIT_OK


def cache_stop(project: Path | None, discard_queued: bool) -> int:
    root = _project(project)
    status = embedded.status(root)
    queued = queued_writes(status) if status is not None else 0
    if queued and not discard_queued:
        print(
            f"error: the embedded Valkey of {root} holds {queued} queued write(s) not applied yet, which stopping"
            " would lose; run flughafen-gen worker --once first, or cache stop --discard-queued",
            file=sys.stderr,
        )
        return EXIT_STALE
    pid = embedded.stop(root)
    if pid is None and status is None:
        print(f"the embedded Valkey of {root} is not running; nothing to stop")
    else:
        print(f"stopped the embedded Valkey of {root}" + (f" (pid {pid})" if pid is not None else ""))
    return EXIT_OK


def main_cache(action: str, project: Path | None, discard_queued: bool) -> int:
    """``flughafen-gen cache status|stop``."""
    return cache_status(project) if action == "status" else cache_stop(project, discard_queued)
