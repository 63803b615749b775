"""CAST, and values turned into text, as MySQL means them: refused (FG068) or rewritten per dialect.

sqlglot writes a MySQL CAST target as a type of the same name, which the
other databases may not have (``CAST(x AS UNSIGNED)`` became ``UBIGINT``,
which PostgreSQL does not know) or read otherwise. What the build holds:

| target | from | MySQL | PostgreSQL | SQLite |
|---|---|---|---|---|
| SIGNED, INT | int, bool | SIGNED | BIGINT | INTEGER |
| SIGNED, INT | decimal (rounded half away from zero) | SIGNED | BIGINT | CAST(ROUND(x) AS INTEGER) |
| UNSIGNED | an UNSIGNED column, or a literal of 0 or more | UNSIGNED | BIGINT | INTEGER |
| DECIMAL(p, s) | int, bool, decimal | DECIMAL(p, s) | DECIMAL(p, s) | ROUND(CAST(x AS REAL), s) (``sql.dialects``) |
| DOUBLE | int, decimal, float | DOUBLE | DOUBLE PRECISION | REAL |
| CHAR, CHAR(n) | anything but a float | CHAR(n) | VARCHAR(n) / TEXT | the text, SUBSTR(..., 1, n) |
| DATE | date, datetime, an ISO date literal | DATE | DATE | DATE(x) |
| DATETIME | date, datetime, an ISO literal | DATETIME | TIMESTAMP | DATETIME(x) |
| TIME | time, datetime, an ISO literal | TIME | TIME | TIME(x) |

Everything else is refused with a rewrite: a float cast to an integer,
a decimal or text (each database rounds or prints it its own way), text cast
to a number or a date (PostgreSQL fails on text that is not one, MySQL and
SQLite read what they can), UNSIGNED of a value that may be negative (MySQL
wraps it to 2^64 - n), FLOAT, BINARY, JSON, YEAR.

A value turned into text (CAST AS CHAR, CONCAT, ``||`` where it concatenates,
GROUP_CONCAT) reads as MySQL writes it: a decimal with all its scale's digits
(``62.60``; SQLite would write ``62.6``: ``PRINTF('%.2f', x)``), a bool as
``1``/``0`` (PostgreSQL would write ``true``: ``CAST(CAST(x AS INT) AS TEXT)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp

from generator.model import Dialect
from generator.schema import Catalog
from generator.sql.parse import Source
from generator.sql.types import KEY, SqlType, sql_type

T = exp.DataType.Type
INTEGERS = {T.BIGINT, T.INT, T.SMALLINT, T.TINYINT, T.MEDIUMINT}
UNSIGNED = {T.UBIGINT, T.UINT, T.USMALLINT, T.UTINYINT, T.UMEDIUMINT}
TEXTS = {T.CHAR, T.NCHAR, T.VARCHAR, T.NVARCHAR, T.TEXT}
DATETIMES = {T.DATETIME, T.TIMESTAMP}
# what each kind of target may be cast from (Python types of the source, as the typer knows them)
SOURCES: dict[str, set[str]] = {
    "integer": {"int", "bool", "decimal"},
    "decimal": {"int", "bool", "decimal"},
    "double": {"int", "decimal", "float"},
    "text": {"int", "bool", "decimal", "str", "date", "datetime", "time"},
    "date": {"date", "datetime"},
    "datetime": {"date", "datetime"},
    "time": {"time", "datetime"},
}
ISO_LITERAL = {
    "date": re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?\Z"),
    "datetime": re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?\Z"),
    "time": re.compile(r"\d{2}:\d{2}:\d{2}\Z"),
}


def target_kind(to: exp.DataType) -> str | None:
    """``integer``, ``unsigned``, ``decimal``, ``double``, ``text``, ``date``, ``datetime``, ``time``; None: not portable."""
    t = to.this
    for kind, types in (("integer", INTEGERS), ("unsigned", UNSIGNED), ("text", TEXTS), ("datetime", DATETIMES)):
        if t in types:
            return kind
    return {T.DECIMAL: "decimal", T.DOUBLE: "double", T.DATE: "date", T.TIME: "time"}.get(t)


def check_casts(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """FG068 for each CAST the table above does not hold, and each float turned into text."""
    for node in tree.find_all(exp.Cast):
        problem = cast_problem(node, catalog)
        if problem is not None:
            yield node, problem
    for joined in tree.find_all(exp.Concat, exp.DPipe, exp.GroupConcat):
        if isinstance(joined, exp.GroupConcat):
            parts = [joined_value(joined)]
        else:
            parts = joined.expressions if isinstance(joined, exp.Concat) else [joined.this, joined.expression]
        for part in parts:
            if sql_type(part).py == "float":
                yield part, f"{_name(joined)} of a float: each database prints floats its own way; cast it to DECIMAL(p, s) first (CAST(x AS DECIMAL(10, 2)))"


def _name(node: exp.Expr) -> str:
    return "CONCAT" if isinstance(node, (exp.Concat, exp.DPipe)) else "GROUP_CONCAT"


def cast_problem(node: exp.Cast, catalog: Catalog) -> str | None:
    """Why ``node`` does not mean the same on MySQL, PostgreSQL and SQLite (with a rewrite), or None."""
    kind = target_kind(node.to)
    target = {T.UBIGINT: "UNSIGNED", T.BIGINT: "SIGNED"}.get(node.to.this) or node.to.sql(dialect="mysql")
    source = sql_type(node.this).py
    if kind is None:
        return f"CAST AS {target} has no counterpart that means the same on PostgreSQL and SQLite; cast to SIGNED, DECIMAL(p, s), DOUBLE, CHAR, DATE, DATETIME or TIME, or convert in Python"
    if kind == "unsigned" and source in SOURCES["integer"]:
        if _never_negative(node.this, catalog):
            return None
        return f"CAST AS {target} wraps a negative value to 2^64 - n on MySQL only; write CAST(x AS SIGNED), which is the same for values of 0 and more"
    kind = "integer" if kind == "unsigned" else kind
    if source in SOURCES[kind]:
        return None
    if kind in ISO_LITERAL and isinstance(node.this, exp.Literal) and node.this.is_string and ISO_LITERAL[kind].match(node.this.name):
        return None
    if source == "float":
        return f"CAST of a float AS {target}: MySQL, PostgreSQL and SQLite round or print floats each their own way; keep the float (the row reads as a Python float) and round it in Python, or cast to DOUBLE"
    if source == "str":
        return f"CAST of text AS {target}: PostgreSQL fails on text that is not {_a(kind)} and MySQL and SQLite read what they can; pass a typed parameter (type: {_param_type(kind)}), or convert in Python"
    return f"CAST of a {source} value AS {target} means something else on each database; cast a value of a fitting type, or convert in Python"


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _param_type(kind: str) -> str:
    return {"integer": "int", "decimal": "decimal", "double": "float"}.get(kind, kind)


def _never_negative(node: exp.Expr, catalog: Catalog) -> bool:
    """A literal of 0 or more, or a column declared UNSIGNED in the schema."""
    if isinstance(node, exp.Literal):
        return not node.is_string and node.name.isdigit()
    if isinstance(node, exp.Column):
        table = node.find_ancestor(exp.Select)
        for t in table.find_all(exp.Table) if table is not None else []:
            if t.alias_or_name == node.table and (tdef := catalog.table(t.name)) is not None:
                cdef = tdef.column(node.name)
                return cdef is not None and "UNSIGNED" in cdef.sql_type.upper()
    return False


# ------------------------------------------------------------------ rewrites


def _typed(node: exp.Expr, t: SqlType) -> exp.Expr:
    node.meta[KEY] = t
    return node


def pg_casts(node: exp.Expr) -> exp.Expr:
    """Integer targets -> BIGINT (what SIGNED and UNSIGNED are on MySQL); a bool cast to text is 1 or 0."""
    if not isinstance(node, exp.Cast):
        return node
    kind = target_kind(node.to)
    if kind in ("integer", "unsigned"):
        node.set("to", exp.DataType.build("INT" if sql_type(node.this).py == "bool" else "BIGINT"))  # PostgreSQL casts a boolean to INT only
    elif kind == "text" and sql_type(node.this).py == "bool":
        node.set("this", _typed(exp.cast(node.this, exp.DataType.build("INT")), SqlType("int", sql_type(node.this).nullable)))
    return node


def sqlite_casts(node: exp.Expr) -> exp.Expr:
    """Integer targets -> INTEGER (a decimal rounded first); CHAR(n) -> SUBSTR(text, 1, n)."""
    if not isinstance(node, exp.Cast):
        return node
    kind = target_kind(node.to)
    if kind in ("integer", "unsigned"):
        value = node.this
        if sql_type(value).py == "decimal":
            value = _typed(exp.Round(this=value), sql_type(value))
        return _typed(exp.cast(value, exp.DataType.build("INTEGER")), sql_type(node))
    if kind == "text":
        text = as_text(node.this, "sqlite")
        length = node.to.expressions
        if length:
            n = length[0].this if isinstance(length[0], exp.DataTypeParam) else length[0]
            return _typed(exp.Substring(this=text, start=exp.Literal.number(1), length=n.copy()), sql_type(node))
        return text
    return node


def as_text(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """``node`` as the text MySQL would make of it, for PostgreSQL or SQLite.

    Text stays; a bool is ``1``/``0`` (PostgreSQL would write ``true``); a
    decimal keeps its scale's digits on SQLite (``PRINTF('%.2f', x)``, NULL
    kept NULL); other values are cast to TEXT.
    """
    t = sql_type(node)
    text = SqlType("str", t.nullable)
    if t.py == "str" and not isinstance(node, exp.Null):
        return node
    if dialect == "postgres" and t.py == "bool":
        whole = _typed(exp.cast(exp.paren(node, copy=False) if isinstance(node, exp.Binary) else node, exp.DataType.build("INT")), SqlType("int", t.nullable))
        return _typed(exp.cast(whole, exp.DataType.build("TEXT")), text)
    if dialect == "sqlite" and t.py == "decimal":
        printed = _typed(exp.Anonymous(this="PRINTF", expressions=[exp.Literal.string(f"%.{t.scale or 0}f"), node]), text)
        if not t.nullable:
            return printed
        return _typed(exp.Case(ifs=[exp.If(this=exp.Is(this=node.copy(), expression=exp.Null()), true=exp.Null())], default=printed), text)
    return _typed(exp.cast(node, exp.DataType.build("TEXT")), text)


def sqlite_text(node: exp.Expr) -> exp.Expr:
    """CONCAT, ``||`` and GROUP_CONCAT parts: decimals printed with their scale (SQLite makes text of the rest as MySQL does)."""
    if isinstance(node, exp.Concat):
        node.set("expressions", [_sqlite_part(a) for a in node.expressions])
    elif isinstance(node, exp.DPipe):
        node.set("this", _sqlite_part(node.this))
        node.set("expression", _sqlite_part(node.expression))
    elif isinstance(node, exp.GroupConcat):
        set_joined(node, _sqlite_part(joined_value(node)))
    return node


def joined_value(node: exp.GroupConcat) -> exp.Expr:
    """What GROUP_CONCAT joins (``x`` of ``GROUP_CONCAT(x ORDER BY y)``)."""
    arg: exp.Expr = node.this
    value: exp.Expr = arg.this if isinstance(arg, exp.Order) else arg
    return value


def set_joined(node: exp.GroupConcat, value: exp.Expr) -> None:
    """Replace what GROUP_CONCAT joins, keeping its ORDER BY."""
    if isinstance(node.this, exp.Order):
        node.this.set("this", value)
    else:
        node.set("this", value)


def _sqlite_part(node: exp.Expr) -> exp.Expr:
    return as_text(node, "sqlite") if sql_type(node).py == "decimal" else node
