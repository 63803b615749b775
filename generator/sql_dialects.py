"""One parsed query -> its SQL for MySQL/MariaDB, PostgreSQL and SQLite, with driver placeholders.

Each placeholder becomes a marker before sqlglot writes the SQL, and the
driver's placeholder after: ``%s`` for pymysql and psycopg (every literal
``%`` doubled), ``?`` for sqlite3. Rewrites fix what sqlglot would otherwise
write with another meaning (see shared DIALECTS.md):

- SQLite has no INTERVAL arithmetic: ``x + INTERVAL n DAY`` and ``DATE_ADD``
  become ``DATETIME(x, '+n day')`` (sqlglot writes ``DATE(...)``, which drops
  the time of day).
- PostgreSQL: date, datetime, time and decimal parameters are cast to their
  type, so ``:day + INTERVAL '1 DAY'`` is not ambiguous.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT a FROM t WHERE d >= :day AND d < :day + INTERVAL 1 DAY AND s LIKE 'A%'", read="mysql")
>>> render(tree, {"day": "date"})["sqlite"]
'SELECT "a" FROM "t" WHERE "d" >= ? AND "d" < DATETIME(?, \\'+1 day\\') AND "s" LIKE \\'A%\\''
>>> render(tree, {"day": "date"})["postgres"]
'SELECT "a" FROM "t" WHERE "d" >= CAST(%s AS DATE) AND "d" < CAST(%s AS DATE) + INTERVAL \\'1 DAY\\' AND "s" LIKE \\'A%%\\''
"""

from __future__ import annotations

import re

from sqlglot import exp

from generator.model import DIALECTS, Dialect

_MARKER = "__fg_param_{}__"
_MARKER_RE = re.compile(r"__fg_param_(\d+)__")
_PG_CASTS = {"date": "DATE", "datetime": "TIMESTAMP", "time": "TIME", "decimal": "NUMERIC"}
_UNITS = {"DAY", "HOUR", "MINUTE", "SECOND", "MONTH", "YEAR"}


def _with_markers(tree: exp.Expression, types: dict[str, str], dialect: Dialect) -> tuple[exp.Expression, list[str]]:
    order: list[str] = []

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            marker: exp.Expression = exp.var(_MARKER.format(len(order)))
            order.append(node.name)
            cast_to = _PG_CASTS.get(types.get(node.name, ""))
            if dialect == "postgres" and cast_to:
                marker = exp.Cast(this=marker, to=exp.DataType.build(cast_to))
            return marker
        return node

    return tree.copy().transform(swap), order


def _sqlite_interval(node: exp.Expression) -> exp.Expression:
    """``x + INTERVAL n unit`` / DATE_ADD / DATE_SUB -> ``DATETIME(x, '+n unit')``."""
    sign = None
    base: exp.Expression | None = None
    interval: exp.Expression | None = None
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        sign = "+" if isinstance(node, exp.Add) else "-"
        base, interval = node.this, node.expression
    elif isinstance(node, (exp.DateAdd, exp.DateSub)):
        sign = "+" if isinstance(node, exp.DateAdd) else "-"
        unit = node.args.get("unit")
        amount = node.expression
        base = node.this
        interval = exp.Interval(this=amount, unit=unit) if not isinstance(amount, exp.Interval) else amount
    if sign is None or base is None or not isinstance(interval, exp.Interval):
        return node
    amount = interval.this
    unit = interval.args.get("unit")
    unit_name = (unit.name if unit is not None else "").upper()
    if not isinstance(amount, exp.Literal) or unit_name not in _UNITS:
        return node
    modifier = f"{sign}{amount.name} {unit_name.lower()}"
    return exp.Anonymous(this="DATETIME", expressions=[base, exp.Literal.string(modifier)])


def render_one(tree: exp.Expression, types: dict[str, str], dialect: Dialect) -> tuple[str, list[str]]:
    """SQL text for one dialect and the parameter name of each placeholder, in order."""
    marked, order = _with_markers(tree, types, dialect)
    if dialect == "sqlite":
        marked = marked.transform(_sqlite_interval)
    text = marked.sql(dialect=dialect, identify=True)
    placeholder = "?"
    if dialect in ("mysql", "postgres"):
        text = text.replace("%", "%%")
        placeholder = "%s"
    seen = [int(m.group(1)) for m in _MARKER_RE.finditer(text)]
    text = _MARKER_RE.sub(placeholder, text)
    return text, [order[i] for i in seen]


def render(tree: exp.Expression, types: dict[str, str]) -> dict[Dialect, str]:
    return {d: render_one(tree, types, d)[0] for d in DIALECTS}
