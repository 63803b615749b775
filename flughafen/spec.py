"""What a generated module tells the runtime about its spec: parameters, result columns, triggers."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from flughafen.keys import Template


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    pattern: str | None = None
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    type: str
    nullable: bool = False
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    table: str
    tags: tuple[Template, ...] = ()
    all: bool = False


# The Python values a parameter of each type accepts (bool never stands for a number).
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "decimal": (Decimal, int),
    "bool": (bool,),
    "date": (datetime.date,),
    "datetime": (datetime.datetime,),
    "time": (datetime.time,),
}
