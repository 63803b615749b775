"""Parameter checks, one code for reads and writes: a value is checked before any key, query or queue sees it.

A parameter's value must be of its declared type (a bool is no int, a datetime no
date; an int stands for a float or a decimal), None only where the parameter is
nullable, and a str parameter's pattern must match the whole value. A failed
check raises TypeError or ValueError naming the accessor (or write) and the parameter.

>>> from flughafen.spec import Param
>>> check = check_for("rename_airport", Param("name", "str", pattern="^.{1,50}$"))
>>> check("HARTSFIELD")
>>> check("")
Traceback (most recent call last):
ValueError: rename_airport: parameter 'name' does not match '^.{1,50}$': ''
>>> check_args("reschedule_flight", (check_for("reschedule_flight", Param("flight_id", "int")),), ("00000551",))
Traceback (most recent call last):
TypeError: reschedule_flight: parameter 'flight_id' must be int, got str
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from typing import Any

from flughafen.spec import PYTHON_TYPES, Param

Check = Callable[[Any], None]


def check_for(owner: str, p: Param) -> Check:
    """The check of parameter ``p`` of the accessor or write ``owner``."""
    allowed = PYTHON_TYPES[p.type]
    pattern = re.compile(p.pattern) if p.pattern else None
    where = f"{owner}: parameter {p.name!r}"

    def check(value: Any) -> None:
        if value is None:
            if not p.nullable:
                raise TypeError(f"{where} is None but not nullable")
            return
        if not isinstance(value, allowed) or (isinstance(value, bool) and p.type != "bool"):
            raise TypeError(f"{where} must be {p.type}, got {type(value).__name__}")
        if p.type == "date" and isinstance(value, datetime.datetime):
            raise TypeError(f"{where} must be a date, got a datetime")
        if pattern is not None and not pattern.fullmatch(str(value)):
            raise ValueError(f"{where} does not match {p.pattern!r}: {str(value)[:80]!r}")

    return check


def check_args(owner: str, checks: Sequence[Check], args: tuple[Any, ...]) -> None:
    """Every value of ``args`` checked; a wrong count is a TypeError too."""
    if len(args) != len(checks):
        raise TypeError(f"{owner}: takes {len(checks)} parameter(s), got {len(args)}")
    for check, value in zip(checks, args, strict=True):
        check(value)
