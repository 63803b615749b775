"""``flughafen-gen cache status`` and ``cache stop``: the project's embedded Valkey (flughafen/embedded.py).

``status`` shows the server's socket, pid, uptime, memory, keys and the
write-behind writes it holds not yet applied; exit 0 when it runs, 1 when not.
When the configured cache (or ``--cache``) is another server or a Valkey
Cluster, ``status`` shows that one instead: a cluster's nodes (role, slots,
reachable), and each write-behind queue with its length, pending and dead
letters; exit 0 when every slot is served by a primary that answers (a server:
when it answers), 1 otherwise.
``stop`` stops it and removes its socket and pid file; exit 0, also when it
was not running (it says so). The server persists nothing, so ``stop``
refuses (exit 1) while writes are queued: run ``flughafen-gen worker --once``
first, or pass ``--discard-queued``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import valkey

from flughafen import embedded
from flughafen.cache import connection_kwargs
from flughafen.config import CacheUrl, load_config
from flughafen.worker import queue_figures
from generator.commands import EXIT_OK, EXIT_STALE
from generator.commands.nodes import SLOTS, cluster_client, cluster_nodes, print_nodes, served


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


def served_status(url: CacheUrl) -> int:
    """``cache status`` of a cache the project does not start: a server, or a cluster's nodes; then its queues."""
    print(f"cache {url.redacted()}")
    if url.cluster:
        nodes = cluster_nodes(url)
        print_nodes(nodes)
        if served(nodes) < SLOTS:
            return EXIT_STALE
        client: Any = cluster_client(url)
    else:
        client = valkey.Valkey(**connection_kwargs(url), socket_timeout=5.0, socket_connect_timeout=5.0)
        try:
            client.ping()
        except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError) as e:
            print(f"  does not answer ({type(e).__name__}: {e})")
            client.close()
            return EXIT_STALE
        print("  answers")
    try:
        queues = queue_figures(client)
    finally:
        client.close()
    print(f"write-behind queues: {sum(q.queued for q in queues)} queued write(s) (flughafen-gen worker applies them)")
    for q in queues:
        print(f"  {q.name:<31} {q.queued:>6} queued {q.pending:>6} pending {q.dead:>6} dead letters ({q.dead_kept} kept)")
    return EXIT_OK


def cache_status(project: Path | None, cache: str | None = None) -> int:
    config = load_config(cache_url=cache, project_dir=project.resolve() if project is not None else None)
    if not (config.cache_url.embedded or config.cache_url.off):
        return served_status(config.cache_url)
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


def main_cache(action: str, project: Path | None, discard_queued: bool, cache: str | None = None) -> int:
    """``flughafen-gen cache status|stop``."""
    return cache_status(project, cache) if action == "status" else cache_stop(project, discard_queued)
