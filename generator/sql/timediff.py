"""TIMESTAMPDIFF(unit, a, b) and DATEDIFF(b, a), written for PostgreSQL and SQLite as MySQL computes them.

sqlglot passes TIMESTAMPDIFF to PostgreSQL and SQLite with its arguments
reordered (PostgreSQL then reads MINUTE as a column); the build writes each
unit itself. MySQL's rules (``Item_func_timestamp_diff``): the whole units
from a to b, counted on the absolute difference and given b - a's sign (so
truncated toward zero); a date is its midnight.

- SECOND, MINUTE, HOUR, DAY, WEEK: the seconds between them, divided by the
  unit's seconds. PostgreSQL: ``TRUNC(-EXTRACT(EPOCH FROM a - b) / n)``;
  SQLite: ``-(strftime('%s', a) - strftime('%s', b)) / n`` (whole seconds:
  julianday's float would lose one at the edge). a comes before b, as in
  MySQL's call, so a parameter is bound in the same place.
- MONTH, QUARTER, YEAR: ``12 * (year(b) - year(a)) + month(b) - month(a)``,
  one less when b's day and time of the month come before a's (for b >= a;
  the same mirrored for b < a), then divided by 3 or 12 toward zero. This
  reads each argument several times, so a parameter there is refused.
- DATEDIFF(b, a): the days between their dates, time ignored.

MICROSECOND is refused: the schema's DATETIME has whole seconds, and
SQLite's ``%s`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlglot
from sqlglot import exp

from generator.model import Dialect
from generator.schema import Catalog
from generator.sql.parse import Source
from generator.sql.types import KEY, SqlType, interval_unit, sql_type

SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}
MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
DATES = ("date", "datetime")

# Templates over two markers, __a (from) and __b (to), in each dialect's own SQL.
# (a before b, once each, as MySQL's placeholders come: a parameter may be either)
PG_SECONDS = "CAST(TRUNC(-EXTRACT(EPOCH FROM (CAST(__a AS TIMESTAMP) - CAST(__b AS TIMESTAMP))) / {n}) AS BIGINT)"
SQLITE_SECONDS = "-(CAST(STRFTIME('%s', __a) AS INTEGER) - CAST(STRFTIME('%s', __b) AS INTEGER)) / {n}"
PG_MONTH = "CAST(EXTRACT(YEAR FROM CAST({x} AS TIMESTAMP)) * 12 + EXTRACT(MONTH FROM CAST({x} AS TIMESTAMP)) AS BIGINT)"
PG_REST = "CAST({x} AS TIMESTAMP) - DATE_TRUNC('month', CAST({x} AS TIMESTAMP))"
SQLITE_MONTH = "(CAST(STRFTIME('%Y', {x}) AS INTEGER) * 12 + CAST(STRFTIME('%m', {x}) AS INTEGER))"
SQLITE_REST = "STRFTIME('%d %H:%M:%S', {x})"
MONTHS_BETWEEN = (
    "CASE WHEN {later} THEN ({mb} - {ma}) - CASE WHEN {rb} < {ra} THEN 1 ELSE 0 END ELSE -(({ma} - {mb}) - CASE WHEN {ra} < {rb} THEN 1 ELSE 0 END) END"
)
LATER = {
    "postgres": "CAST(__b AS TIMESTAMP) >= CAST(__a AS TIMESTAMP)",
    "sqlite": "CAST(STRFTIME('%s', __b) AS INTEGER) >= CAST(STRFTIME('%s', __a) AS INTEGER)",
}
DAYS = {"postgres": "CAST(__b AS DATE) - CAST(__a AS DATE)", "sqlite": "CAST(JULIANDAY(DATE(__b)) - JULIANDAY(DATE(__a)) AS INTEGER)"}


def _template(dialect: Dialect, unit: str) -> str:
    """The SQL of TIMESTAMPDIFF(unit, __a, __b) for PostgreSQL or SQLite."""
    if unit in SECONDS:
        return (PG_SECONDS if dialect == "postgres" else SQLITE_SECONDS).format(n=SECONDS[unit])
    month, rest = (PG_MONTH, PG_REST) if dialect == "postgres" else (SQLITE_MONTH, SQLITE_REST)
    months = MONTHS_BETWEEN.format(later=LATER[dialect], ma=month.format(x="__a"), mb=month.format(x="__b"), ra=rest.format(x="__a"), rb=rest.format(x="__b"))
    return f"({months}) / {MONTHS[unit]}" if MONTHS[unit] > 1 else months


def _fill(template: str, dialect: Dialect, start: exp.Expr, end: exp.Expr, t: SqlType) -> exp.Expr:
    """The template parsed in ``dialect``, its markers replaced by copies of the two arguments."""
    tree = sqlglot.parse_one(template, read=dialect)

    def put(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name in ("__a", "__b") and not node.table:
            return (start if node.name == "__a" else end).copy()
        return node

    filled = tree.transform(put)
    filled = exp.paren(filled, copy=False) if isinstance(filled, exp.Binary) else filled
    filled.meta[KEY] = t
    return filled


def rewrite(dialect: Dialect) -> Callable[[exp.Expr], exp.Expr]:
    """TIMESTAMPDIFF and DATEDIFF for PostgreSQL or SQLite."""

    def run(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimestampDiff):
            return _fill(_template(dialect, interval_unit(node)), dialect, node.expression, node.this, sql_type(node))
        if isinstance(node, exp.DateDiff):
            return _fill(DAYS[dialect], dialect, node.expression, node.this, sql_type(node))
        return node

    return run


def check(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """FG068 for a unit or argument the rewrite does not hold."""
    for node in tree.find_all(exp.TimestampDiff, exp.DateDiff):
        name = "TIMESTAMPDIFF" if isinstance(node, exp.TimestampDiff) else "DATEDIFF"
        unit = interval_unit(node) if isinstance(node, exp.TimestampDiff) else "DAY"
        if unit not in SECONDS and unit not in MONTHS:
            yield node, f"{name}({unit or '?'}, ...): fractions of a second are not kept alike; use SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR"
            continue
        if unit in MONTHS and any(arg.find(exp.Placeholder) for arg in (node.expression, node.this)):
            yield (
                node,
                f"TIMESTAMPDIFF({unit}, ...) of a parameter: PostgreSQL and SQLite count months from each argument more than once, "
                "and a parameter is bound once; pass the boundary instead (f.departure >= :since), or count the months in Python",
            )
            continue
        for arg in (node.expression, node.this):
            if sql_type(arg).py not in DATES and not _iso_literal(arg):
                yield (
                    arg,
                    f"{name} of a {sql_type(arg).py} value: each database reads it its own way; pass a date or datetime "
                    "(a column, a typed parameter, or a literal such as '2024-12-15 08:30:00')",
                )


def _iso_literal(node: exp.Expr) -> bool:
    if not (isinstance(node, exp.Literal) and node.is_string):
        return False
    text = node.name
    return len(text) in (10, 19) and text[4] == "-" and text[7] == "-" and text[:4].isdigit()
