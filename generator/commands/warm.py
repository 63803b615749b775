"""``flughafen-gen warm NAME --params FILE | --from-query SQL``: fill the cache ahead of traffic.

Parameter sets come from a JSON lines file or from a query's rows, 100 at a
time. A json entry's batch is one MGET, a query per missing entry, and one
pipeline of fill scripts (with the leases of a read: an entry that raced an
invalidation is not stored); the other stores fill each missing entry as a read.
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from flughafen import Runtime
from flughafen.settings import Settings
from generator.accessors import module as accessor
from generator.commands import EXIT_ERRORS

CHUNK = 100


class WarmInputError(ValueError):
    """A parameter set that cannot be read; the message names the line or row and the parameter."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"{value!r} is not a bool (true, false, 1 or 0)")


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        if value.time() != datetime.time(0) or value.tzinfo is not None:
            raise ValueError(f"{value!r} is a date and time, not a date")
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def _datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        raise ValueError(f"{value!r} is a date, not a date and time")
    return datetime.datetime.fromisoformat(str(value))


def _time(value: Any) -> datetime.time:
    if isinstance(value, datetime.time):
        return value
    if isinstance(value, datetime.timedelta):  # MySQL drivers return TIME columns as a timedelta
        if not datetime.timedelta(0) <= value < datetime.timedelta(days=1):
            raise ValueError(f"{value!r} is not a time of day")
        return (datetime.datetime.min + value).time()
    return datetime.time.fromisoformat(str(value))


def _int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, (int, float, Decimal)):
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    return int(str(value).strip())


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return Decimal(str(value))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


# Each parameter type's reader: values from JSON (text, numbers, booleans) or from a
# database driver's row (dates, decimals, MySQL's timedelta for TIME), checked, not guessed.
_PARSE: dict[str, Any] = {
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "decimal": _decimal,
    "int": _int,
    "float": _float,
    "str": _str,
    "bool": _bool,
}


def _typed(query: Any, values: dict[str, Any], where: str) -> tuple[Any, ...]:
    """A parameter set in the query's order, each value of its parameter's type."""
    unknown = sorted(set(values) - {p.name for p in query.params})
    if unknown:
        raise WarmInputError(
            f"{where}: {', '.join(map(repr, unknown))} is not a parameter of {query.name} (its parameters: {', '.join(p.name for p in query.params)})"
        )
    out: list[Any] = []
    for p in query.params:
        value = values.get(p.name)
        if value is None:
            out.append(None)
            continue
        try:
            out.append(_PARSE[p.type](value))
        except (ValueError, TypeError, ArithmeticError) as e:
            raise WarmInputError(f"{where}: parameter {p.name!r} ({p.type}): {e}") from None
    return tuple(out)


def _read_params(path: Path, query: Any) -> list[tuple[Any, ...]]:
    """Parameter sets from a JSON lines file: one object a line."""
    sets = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except json.JSONDecodeError as e:
            raise WarmInputError(f"{path}:{number}: not JSON: {e.msg} at column {e.colno}") from None
        if not isinstance(values, dict):
            raise WarmInputError(f'{path}:{number}: each line is one JSON object of parameters, such as {{"flight_id": 1}}')
        sets.append(_typed(query, values, f"{path}:{number}"))
    return sets


def warm(name: str, params_file: Path | None, from_query: str | None, database_url: str | None, cache_url: str | None, settings: Settings) -> int:
    query = getattr(accessor(settings, name), "QUERY", None)
    if query is None:
        print(f"error: {name} is a write; warm fills the cache of reads", file=sys.stderr)
        return 2
    # A params file is read first: one that cannot be read starts no server (the embedded one) and opens no database.
    sets = _read_params(params_file, query) if params_file is not None else None
    with Runtime.from_config(database_url=database_url, cache_url=cache_url, project_dir=settings.root) as rt:
        if sets is None:
            assert from_query is not None
            with rt.db.connection() as conn:
                cur = conn.cursor()
                cur.execute(from_query)
                names = [d[0] for d in cur.description]
                sets = [_typed(query, dict(zip(names, row, strict=False)), f"--from-query row {n}") for n, row in enumerate(cur.fetchall(), 1)]
                cur.close()
        counters = rt.metrics.of(name)
        filled = 0
        for start in range(0, len(sets), CHUNK):
            filled += query.warm_batch(sets[start : start + CHUNK], rt)
            done = min(start + CHUNK, len(sets))
            sys.stderr.write(f"\r  {name}: {done:,}/{len(sets):,} parameter sets, {filled:,} filled")
            sys.stderr.flush()
        sys.stderr.write("\n")
        print(f"warmed {name}: {len(sets)} parameter sets, {filled} filled, {counters.hits} already cached")
    return 0


def main_warm(name: str, params_file: Path | None, from_query: str | None, database_url: str | None, cache_url: str | None, settings: Settings) -> int:
    """``flughafen-gen warm``: ``warm``, with a parameter file or query it cannot read told in one line (exit 2)."""
    try:
        return warm(name, params_file, from_query, database_url, cache_url, settings)
    except WarmInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERRORS
