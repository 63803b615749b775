"""Step 3: type every expression of a qualified query, the catalog as authority.

Rules (simple on purpose; a spec's ``columns:`` overrides win over them):

- a column has its catalog type; it becomes nullable on the optional side of
  a LEFT/RIGHT/FULL JOIN;
- literals: ``1`` int, ``1.50`` decimal (scale 2), ``'x'`` str, NULL nullable;
  a ``:param`` has its parameter's type;
- COUNT: int, never null. SUM, AVG, MIN, MAX: nullable unless the query has
  GROUP BY and the argument is not nullable (then every group has a value).
  SUM keeps int/decimal (and its scale); AVG is float; MIN/MAX keep the type;
- COALESCE: the arguments' common type, not null if any argument is not null;
  CASE/IF: the branches' common type, nullable if a branch is or ELSE is missing;
- CAST: the target type (DECIMAL(p,s) has scale s); ROUND(x, n): decimal
  scale n, or x's type;
- ``+ - *``: int with ints, decimal with a decimal (scale: max for + and -,
  sum for *), float with a float; ``/``: decimal (scale of the dividend + 4,
  as MySQL) or float, always nullable (division by zero); DIV and MOD: int;
- a date plus a day/week interval is a date, other intervals a datetime;
- comparisons and other predicates are bool; string functions str;
  ROW_NUMBER/RANK/DENSE_RANK int; an aggregate OVER (...) its aggregate's type;
- JSON_OBJECT json, JSON_ARRAYAGG json and nullable (``sql.aggregates``);
- anything else: what sqlglot's annotation says, nullable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlglot import exp

from generator.model import PyType, Spec
from generator.schema import py_type

KEY = "fg_type"
DAY_UNITS = {"DAY", "WEEK"}
PREDICATES = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Like, exp.ILike, exp.In, exp.Between, exp.And, exp.Or, exp.Not, exp.Is, exp.Exists, exp.Boolean,
)  # fmt: skip
STRING_FUNCS = (exp.Upper, exp.Lower, exp.Concat, exp.Substring, exp.Trim, exp.Replace, exp.Left, exp.Right, exp.GroupConcat)
AGGREGATES = (exp.Sum, exp.Avg, exp.Min, exp.Max)


@dataclass(frozen=True, slots=True)
class SqlType:
    """A value's Python type, whether it may be NULL, and a decimal's scale."""

    py: PyType
    nullable: bool
    scale: int | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> SqlType:
        return self  # immutable: sqlglot copies trees often, and the copy need not copy this


UNKNOWN = SqlType("str", True)


def sql_type(node: exp.Expr) -> SqlType:
    """The type ``annotate`` stored on ``node`` (str, nullable when none)."""
    found = node.meta.get(KEY)
    return found if isinstance(found, SqlType) else UNKNOWN


def merge(types: list[SqlType]) -> SqlType:
    """The common type of several values (COALESCE, CASE, UNION).

    >>> merge([SqlType("int", False), SqlType("decimal", True, 2)])
    SqlType(py='decimal', nullable=True, scale=2)
    """
    known = [t for t in types if t is not UNKNOWN] or [UNKNOWN]
    pys = {t.py for t in known}
    nullable = any(t.nullable for t in types)
    if pys <= {"int", "decimal", "float", "bool"} and len(pys) > 1:
        py: PyType = "float" if "float" in pys else "decimal" if "decimal" in pys else "int"
    else:
        py = known[0].py
    scales = [t.scale for t in known if t.scale is not None]
    return SqlType(py, nullable, max(scales) if py == "decimal" and scales else (0 if py == "decimal" else None))


class Context(Protocol):
    """What the rules need of the typer (``sql.typer.Typer``)."""

    spec: Spec

    def type_of(self, node: exp.Expr) -> SqlType: ...
    def column(self, col: exp.Column) -> SqlType: ...
    def grouped(self, node: exp.Expr) -> bool: ...


def type_by_rules(t: Context, node: exp.Expr) -> SqlType:
    """The first rule for ``node``'s class; else sqlglot's own type, nullable."""
    for kinds, rule in RULES:
        if isinstance(node, kinds):
            return rule(t, node)
    if node.type is not None and not node.is_type(exp.DataType.Type.UNKNOWN):
        return SqlType(py_type(node.type), True)
    return UNKNOWN


# ------------------------------------------------------------------- rules


def _literal(t: Context, node: exp.Literal) -> SqlType:
    """1 int, 1.50 decimal (scale 2), 1e3 float, 'x' str; never NULL."""
    if node.is_string:
        return SqlType("str", False)
    text = node.name
    if "e" in text.lower():
        return SqlType("float", False)
    if "." in text:
        return SqlType("decimal", False, len(text.split(".")[1]))
    return SqlType("int", False)


def _placeholder(t: Context, node: exp.Placeholder) -> SqlType:
    """A ``:param`` has its parameter's type."""
    p = t.spec.param(node.name)
    return SqlType(p.type, p.nullable) if p else UNKNOWN


def _aggregate(t: Context, node: exp.Expr) -> SqlType:
    """SUM/AVG/MIN/MAX: see the module docstring for the rules."""
    arg = t.type_of(node.this)
    nullable = arg.nullable or not t.grouped(node)
    if isinstance(node, exp.Avg):
        return SqlType("float", nullable)
    if (isinstance(node, exp.Sum) and arg.py == "bool") or isinstance(node.this, PREDICATES):
        return SqlType("int", nullable)
    return SqlType(arg.py, nullable, arg.scale)


def _coalesce(t: Context, node: exp.Expr) -> SqlType:
    """Common type; NULL only if every argument may be."""
    args = [t.type_of(a) for a in [node.this, *node.expressions]]
    m = merge(args)
    return SqlType(m.py, all(a.nullable for a in args), m.scale)


def _case(t: Context, node: exp.Case) -> SqlType:
    """Common type of the branches; nullable without ELSE."""
    branches = [t.type_of(i.args["true"]) for i in node.args.get("ifs") or []]
    default = node.args.get("default")
    branches.append(t.type_of(default) if default is not None else SqlType(branches[0].py if branches else "str", True))
    return merge(branches)


def _if(t: Context, node: exp.If) -> SqlType:
    """Common type of IF's two branches."""
    false = node.args.get("false")
    other = t.type_of(false) if false is not None else SqlType("str", True)
    return merge([t.type_of(node.args["true"]), other])


def _cast(t: Context, node: exp.Cast) -> SqlType:
    """The target type; DECIMAL(p, s) has scale s."""
    to = node.to
    params = [p.this for p in to.expressions if isinstance(p, exp.DataTypeParam)]
    scale = int(params[1].name) if len(params) > 1 and params[1].is_int else None
    py = py_type(to)
    if to.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.UDECIMAL):
        scale = scale or 0
    return SqlType(py, t.type_of(node.this).nullable, scale if py == "decimal" else None)


def _round(t: Context, node: exp.Round) -> SqlType:
    """ROUND(decimal, n) has scale n; other types stay."""
    arg = t.type_of(node.this)
    digits = node.args.get("decimals")
    n = int(digits.name) if isinstance(digits, exp.Literal) and digits.is_int else 0
    return SqlType(arg.py, arg.nullable, max(n, 0) if arg.py == "decimal" else None)


def _arithmetic(t: Context, node: exp.Binary) -> SqlType:
    """``+ - *``: int, decimal (scale max or sum) or float; date + INTERVAL."""
    left, right = t.type_of(node.left), t.type_of(node.right)
    nullable = left.nullable or right.nullable
    if isinstance(node.right, exp.Interval) or isinstance(node.left, exp.Interval):
        base, unit = (left, node.right) if isinstance(node.right, exp.Interval) else (right, node.left)
        return _interval_result(base, interval_unit(unit), base.nullable)
    pys = {left.py, right.py}
    if "float" in pys:
        return SqlType("float", nullable)
    if "decimal" in pys:
        ls, rs = left.scale or 0, right.scale or 0
        return SqlType("decimal", nullable, ls + rs if isinstance(node, exp.Mul) else max(ls, rs))
    return SqlType("int" if pys <= {"int", "bool"} else left.py, nullable)


def _interval_result(base: SqlType, unit: str, nullable: bool) -> SqlType:
    """A date plus days stays a date; anything else becomes a datetime."""
    py: PyType = "date" if base.py == "date" and unit in DAY_UNITS else "datetime"
    return SqlType(py, nullable)


def interval_unit(node: exp.Expr) -> str:
    """``DAY`` for ``INTERVAL 1 DAY`` (upper case, singular)."""
    unit = node.args.get("unit")
    return unit.name.upper().rstrip("S") if isinstance(unit, exp.Expr) else ""


def _date_add(t: Context, node: exp.Expr) -> SqlType:
    """DATE_ADD/DATE_SUB left after normalize (refused later, typed anyway)."""
    base = t.type_of(node.this)
    return _interval_result(base, interval_unit(node), base.nullable)


def _div(t: Context, node: exp.Div) -> SqlType:
    """``/``: float with a float, else decimal with 4 more digits, always nullable."""
    left, right = t.type_of(node.left), t.type_of(node.right)
    if "float" in (left.py, right.py):
        return SqlType("float", True)
    return SqlType("decimal", True, (left.scale or 0) + 4)


def _same(t: Context, node: exp.Expr) -> SqlType:
    """The argument's type (aliases, parentheses, ABS, FLOOR...)."""
    return t.type_of(node.this)


def _predicate(t: Context, node: exp.Expr) -> SqlType:
    """bool; NULL when an operand may be (IS, EXISTS and <=> never are)."""
    if isinstance(node, (exp.Is, exp.Exists, exp.Boolean, exp.NullSafeEQ, exp.NullSafeNEQ)):
        return SqlType("bool", False)
    kids = [c for c in node.iter_expressions() if not isinstance(c, exp.Query)]
    return SqlType("bool", any(t.type_of(k).nullable for k in kids))


def _string(t: Context, node: exp.Expr) -> SqlType:
    """str; NULL when an argument may be (GROUP_CONCAT always may)."""
    kids = list(node.iter_expressions())
    return SqlType("str", any(t.type_of(k).nullable for k in kids) or isinstance(node, exp.GroupConcat))


def _fixed(py: PyType, nullable: bool) -> Callable[[Context, exp.Expr], SqlType]:
    """A rule giving one fixed type."""
    return lambda t, node: SqlType(py, nullable)


def _of_arg(py: PyType) -> Callable[[Context, exp.Expr], SqlType]:
    """A rule giving ``py``, nullable as the argument is."""
    return lambda t, node: SqlType(py, t.type_of(node.this).nullable)


def _int_of_args(t: Context, node: exp.Expr) -> SqlType:
    """TIMESTAMPDIFF, DATEDIFF: a whole number, NULL when an argument is."""
    return SqlType("int", t.type_of(node.this).nullable or t.type_of(node.expression).nullable)


def _subquery(t: Context, node: exp.Subquery) -> SqlType:
    """A scalar subquery: its one column's type, nullable (no row)."""
    query = node.this
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Select) and query.selects:
        inner = t.type_of(query.selects[0])
        return SqlType(inner.py, True, inner.scale)
    return UNKNOWN


RULES: list[tuple[type | tuple[type, ...], Callable[[Context, exp.Expr], SqlType]]] = [
    (exp.Column, lambda t, n: t.column(n)),  # type: ignore[arg-type]
    (exp.Literal, _literal),  # type: ignore[list-item]
    (exp.Null, lambda t, n: UNKNOWN),
    (exp.Placeholder, _placeholder),  # type: ignore[list-item]
    ((exp.Alias, exp.Paren, exp.Neg, exp.Abs, exp.Floor, exp.Ceil), _same),
    (exp.Count, _fixed("int", False)),
    (AGGREGATES, _aggregate),
    (exp.Coalesce, _coalesce),
    (exp.Case, _case),  # type: ignore[list-item]
    (exp.If, _if),  # type: ignore[list-item]
    (exp.Cast, _cast),  # type: ignore[list-item]
    (exp.Round, _round),  # type: ignore[list-item]
    (exp.Div, _div),  # type: ignore[list-item]
    ((exp.IntDiv, exp.Mod), lambda t, n: SqlType("int", True)),
    ((exp.Add, exp.Sub, exp.Mul), _arithmetic),  # type: ignore[list-item]
    ((exp.DateAdd, exp.DateSub), _date_add),
    (PREDICATES, _predicate),
    (exp.Length, _of_arg("int")),
    ((exp.TimestampDiff, exp.DateDiff), _int_of_args),
    (STRING_FUNCS, _string),
    (exp.CurrentTimestamp, _fixed("datetime", False)),
    (exp.CurrentDate, _fixed("date", False)),
    (exp.TsOrDsToDate, _of_arg("date")),
    (exp.Subquery, _subquery),  # type: ignore[list-item]
    ((exp.RowNumber, exp.Rank, exp.DenseRank), _fixed("int", False)),
    (exp.JSONArrayAgg, _fixed("json", True)),  # no row: NULL
    (exp.JSONObject, _fixed("json", False)),
    (exp.Window, _same),
]
