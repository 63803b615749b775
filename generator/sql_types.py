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
- anything else: what sqlglot's annotation says, nullable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from generator.model import PyType, Spec
from generator.schema import Catalog, TableDef, py_type

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
    py: PyType
    nullable: bool
    scale: int | None = None


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


class Typer:
    """Types the nodes of one qualified statement, caching in ``node.meta``."""

    def __init__(self, tree: exp.Expr, catalog: Catalog, spec: Spec, outer: dict[str, TableDef]) -> None:
        self.catalog = catalog
        self.spec = spec
        self.outer = outer
        self.scopes: dict[int, Scope] = {}
        for scope in traverse_scope(tree) or _nested_scopes(tree):
            self.scopes[id(scope.expression)] = scope

    def annotate(self, tree: exp.Expr) -> None:
        """Store a SqlType on every node of ``tree``."""
        for node in list(tree.walk(bfs=False)):
            self.type_of(node)

    def type_of(self, node: exp.Expr) -> SqlType:
        cached = node.meta.get(KEY)
        if isinstance(cached, SqlType):
            return cached
        found = self._compute(node)
        node.meta[KEY] = found
        return found

    def _compute(self, node: exp.Expr) -> SqlType:
        for kinds, rule in RULES:
            if isinstance(node, kinds):
                return rule(self, node)
        if node.type is not None and not node.is_type(exp.DataType.Type.UNKNOWN):
            return SqlType(py_type(node.type), True)
        return UNKNOWN

    # -- columns

    def column(self, col: exp.Column) -> SqlType:
        scope = self._scope(col)
        if not col.table:
            return self._alias_reference(col)
        alias = col.table
        while scope is not None and alias not in scope.sources:
            scope = scope.parent
        if scope is None:
            tdef = self.outer.get(alias)
            cdef = tdef.column(col.name) if tdef else None
            return SqlType(cdef.type, cdef.nullable, cdef.scale) if cdef else UNKNOWN
        optional = alias in outer_joined(scope.expression)
        source = scope.sources[alias]
        if isinstance(source, Scope):
            t = self._scope_output(source, col.name)
        else:
            tdef = self.catalog.table(source.name)
            cdef = tdef.column(col.name) if tdef else None
            t = SqlType(cdef.type, cdef.nullable, cdef.scale) if cdef else UNKNOWN
        return SqlType(t.py, t.nullable or optional, t.scale)

    def _scope(self, node: exp.Expr) -> Scope | None:
        parent: exp.Expr | None = node
        while parent is not None:
            if id(parent) in self.scopes:
                return self.scopes[id(parent)]
            parent = parent.parent
        return None

    def _scope_output(self, scope: Scope, name: str) -> SqlType:
        if scope.set_operation_scopes:
            return merge([self._scope_output(s, name) for s in scope.set_operation_scopes])
        select = scope.expression
        for proj in select.selects if isinstance(select, exp.Select) else []:
            if proj.alias_or_name == name:
                return self.type_of(proj)
        return UNKNOWN

    def _alias_reference(self, col: exp.Column) -> SqlType:
        query = col.find_ancestor(exp.Select, exp.SetOperation)
        while isinstance(query, exp.SetOperation):
            query = query.this
        for proj in query.selects if isinstance(query, exp.Select) else []:
            if proj is not col and proj.alias_or_name == col.name:
                return self.type_of(proj)
        return UNKNOWN

    def grouped(self, node: exp.Expr) -> bool:
        select = node.find_ancestor(exp.Select)
        return select is not None and bool(select.args.get("group"))


def _nested_scopes(tree: exp.Expr) -> list[Scope]:
    return [s for q in tree.find_all(exp.Select) if q.parent_select is None for s in traverse_scope(q)]


def outer_joined(select: exp.Expr) -> set[str]:
    """Aliases on the optional side of an outer join in ``select``.

    >>> import sqlglot
    >>> sorted(outer_joined(sqlglot.parse_one("SELECT 1 FROM a JOIN b ON 1=1 LEFT JOIN c ON 1=1 RIGHT JOIN d ON 1=1")))
    ['a', 'b', 'c']
    """
    if not isinstance(select, exp.Select):
        return set()
    from_ = select.args.get("from_") or select.args.get("from")
    seen = [from_.this.alias_or_name] if isinstance(from_, exp.From) else []
    optional: set[str] = set()
    for join in select.args.get("joins") or []:
        alias = join.this.alias_or_name
        side = (join.side or "").upper()
        if side in ("LEFT", "FULL"):
            optional.add(alias)
        if side in ("RIGHT", "FULL"):
            optional.update(seen)
        seen.append(alias)
    return optional


# ------------------------------------------------------------------- rules


def _literal(t: Typer, node: exp.Literal) -> SqlType:
    if node.is_string:
        return SqlType("str", False)
    text = node.name
    if "e" in text.lower():
        return SqlType("float", False)
    if "." in text:
        return SqlType("decimal", False, len(text.split(".")[1]))
    return SqlType("int", False)


def _placeholder(t: Typer, node: exp.Placeholder) -> SqlType:
    p = t.spec.param(node.name)
    return SqlType(p.type, p.nullable) if p else UNKNOWN


def _aggregate(t: Typer, node: exp.Expr) -> SqlType:
    arg = t.type_of(node.this)
    nullable = arg.nullable or not t.grouped(node)
    if isinstance(node, exp.Avg):
        return SqlType("float", nullable)
    if isinstance(node, exp.Sum) and arg.py == "bool" or isinstance(node.this, PREDICATES):
        return SqlType("int", nullable)
    return SqlType(arg.py, nullable, arg.scale)


def _coalesce(t: Typer, node: exp.Expr) -> SqlType:
    args = [t.type_of(a) for a in [node.this, *node.expressions]]
    m = merge(args)
    return SqlType(m.py, all(a.nullable for a in args), m.scale)


def _case(t: Typer, node: exp.Case) -> SqlType:
    branches = [t.type_of(i.args["true"]) for i in node.args.get("ifs") or []]
    default = node.args.get("default")
    branches.append(t.type_of(default) if default is not None else SqlType(branches[0].py if branches else "str", True))
    return merge(branches)


def _if(t: Typer, node: exp.If) -> SqlType:
    false = node.args.get("false")
    other = t.type_of(false) if false is not None else SqlType("str", True)
    return merge([t.type_of(node.args["true"]), other])


def _cast(t: Typer, node: exp.Cast) -> SqlType:
    to = node.to
    params = [p.this for p in to.expressions if isinstance(p, exp.DataTypeParam)]
    scale = int(params[1].name) if len(params) > 1 and params[1].is_int else None
    py = py_type(to)
    if to.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.UDECIMAL):
        scale = scale or 0
    return SqlType(py, t.type_of(node.this).nullable, scale if py == "decimal" else None)


def _round(t: Typer, node: exp.Round) -> SqlType:
    arg = t.type_of(node.this)
    digits = node.args.get("decimals")
    n = int(digits.name) if isinstance(digits, exp.Literal) and digits.is_int else 0
    return SqlType(arg.py, arg.nullable, max(n, 0) if arg.py == "decimal" else None)


def _arithmetic(t: Typer, node: exp.Binary) -> SqlType:
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
    py: PyType = "date" if base.py == "date" and unit in DAY_UNITS else "datetime"
    return SqlType(py, nullable)


def interval_unit(node: exp.Expr) -> str:
    """``DAY`` for ``INTERVAL 1 DAY`` (upper case, singular)."""
    unit = node.args.get("unit")
    return unit.name.upper().rstrip("S") if isinstance(unit, exp.Expr) else ""


def _date_add(t: Typer, node: exp.Expr) -> SqlType:
    base = t.type_of(node.this)
    return _interval_result(base, interval_unit(node), base.nullable)


def _div(t: Typer, node: exp.Div) -> SqlType:
    left, right = t.type_of(node.left), t.type_of(node.right)
    if "float" in (left.py, right.py):
        return SqlType("float", True)
    return SqlType("decimal", True, (left.scale or 0) + 4)


def _same(t: Typer, node: exp.Expr) -> SqlType:
    return t.type_of(node.this)


def _predicate(t: Typer, node: exp.Expr) -> SqlType:
    if isinstance(node, (exp.Is, exp.Exists, exp.Boolean, exp.NullSafeEQ, exp.NullSafeNEQ)):
        return SqlType("bool", False)
    kids = [c for c in node.iter_expressions() if not isinstance(c, exp.Query)]
    return SqlType("bool", any(t.type_of(k).nullable for k in kids))


def _string(t: Typer, node: exp.Expr) -> SqlType:
    kids = list(node.iter_expressions())
    return SqlType("str", any(t.type_of(k).nullable for k in kids) or isinstance(node, exp.GroupConcat))


def _fixed(py: PyType, nullable: bool) -> Callable[[Typer, exp.Expr], SqlType]:
    return lambda t, node: SqlType(py, nullable)


def _of_arg(py: PyType) -> Callable[[Typer, exp.Expr], SqlType]:
    return lambda t, node: SqlType(py, t.type_of(node.this).nullable)


def _subquery(t: Typer, node: exp.Subquery) -> SqlType:
    query = node.this
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Select) and query.selects:
        inner = t.type_of(query.selects[0])
        return SqlType(inner.py, True, inner.scale)
    return UNKNOWN


RULES: list[tuple[type | tuple[type, ...], Callable[[Typer, exp.Expr], SqlType]]] = [
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
    (STRING_FUNCS, _string),
    (exp.CurrentTimestamp, _fixed("datetime", False)),
    (exp.CurrentDate, _fixed("date", False)),
    (exp.TsOrDsToDate, _of_arg("date")),
    (exp.Subquery, _subquery),  # type: ignore[list-item]
    ((exp.RowNumber, exp.Rank, exp.DenseRank), _fixed("int", False)),
    (exp.Window, _same),
]
