"""The SQLite driver: sqlean.py when it is installed (the ``sqlite`` extra), else Python's own sqlite3.

sqlean.py is the sqlite3 module built with a recent SQLite (3.50), as wheels for
Linux, macOS and Windows. Python's sqlite3 links the system's SQLite, which may be
older than 3.44: without it, an aggregate takes no ORDER BY (``GROUP_CONCAT(x
ORDER BY y)``, ``JSON_ARRAYAGG``), and the build refuses the specs that need one.
The build proves its SQL with the same driver the runtime connects with.
"""

from __future__ import annotations

import importlib
from typing import Any


def _load() -> Any:
    try:
        return importlib.import_module("sqlean")
    except ImportError:
        return importlib.import_module("sqlite3")


driver: Any = _load()
NAME = "sqlean.py" if driver.__name__ == "sqlean" else "sqlite3"
VERSION: tuple[int, ...] = tuple(int(part) for part in driver.sqlite_version.split("."))
ORDERED_AGGREGATES = (3, 44)  # the first SQLite with ORDER BY inside an aggregate
