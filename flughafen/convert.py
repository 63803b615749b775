"""Driver values -> the Python value a column's type promises, the same on every database.

SQLite returns text for dates and floats for decimals, pymysql returns
timedelta for TIME and Decimal for SUM of integers, PostgreSQL returns
Decimal for AVG: each column gets one converter, chosen once per query and
dialect, never per row.

>>> from decimal import Decimal
>>> converter("decimal", 2)(12.5), converter("time", None)(datetime.timedelta(hours=10, minutes=15))
(Decimal('12.50'), datetime.time(10, 15))
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Convert = Callable[[Any], Any]


def _int(v: Any) -> Any:
    return v if type(v) is int or v is None else int(v)


def _float(v: Any) -> Any:
    return v if type(v) is float or v is None else float(v)


def _str(v: Any) -> Any:
    if type(v) is str or v is None:
        return v
    return v.decode() if isinstance(v, bytes) else str(v)


def _bool(v: Any) -> Any:
    return v if type(v) is bool or v is None else bool(int(v))


def _date(v: Any) -> Any:
    if type(v) is datetime.date or v is None:
        return v
    if isinstance(v, datetime.datetime):
        return v.date()
    return datetime.date.fromisoformat(str(v)[:10])


def _datetime(v: Any) -> Any:
    if isinstance(v, datetime.datetime) or v is None:
        return v
    if isinstance(v, datetime.date):
        return datetime.datetime(v.year, v.month, v.day)
    return datetime.datetime.fromisoformat(str(v))


def _time(v: Any) -> Any:
    if isinstance(v, datetime.time) or v is None:
        return v
    if isinstance(v, datetime.timedelta):
        seconds = int(v.total_seconds())
        return datetime.time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60, v.microseconds)
    return datetime.time.fromisoformat(str(v))


def _decimal(scale: int | None) -> Convert:
    if scale is None:
        return lambda v: v if type(v) is Decimal or v is None else Decimal(str(v))
    quantum = Decimal(1).scaleb(-scale)
    return lambda v: None if v is None else (v if type(v) is Decimal else Decimal(str(v))).quantize(quantum)


def _json(v: Any) -> Any:
    """JSON text in one form, whichever database wrote it: no spaces, keys as written, numbers as Python reads them."""
    if v is None:
        return None
    value = json.loads(v) if isinstance(v, (str, bytes)) else v  # psycopg decodes a json column itself
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_SIMPLE: dict[str, Convert] = {
    "int": _int,
    "float": _float,
    "str": _str,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "json": _json,
}


def converter(type_name: str, scale: int | None) -> Convert:
    """The column's converter: one call per value, None kept (NULL)."""
    return _decimal(scale) if type_name == "decimal" else _SIMPLE[type_name]
