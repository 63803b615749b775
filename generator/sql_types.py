"""Result column types: each projection of a qualified SELECT -> (Python type, nullable, scale).

The catalog is the authority for columns; computed expressions follow small
rules, one per kind of expression, written to give the same Python value on
all three databases (the runtime converts every driver's value to this type).

- COUNT -> int, never NULL; SUM -> its argument's type, nullable; AVG -> float, nullable
- MIN/MAX -> the argument's type, nullable unless grouped over a NOT NULL column
- COALESCE/IFNULL -> the first argument's type, NULL only if every argument may be
- CASE -> the first branch's type; CAST -> the target type; ROUND(decimal, n) -> decimal(n)
- arithmetic -> int, decimal (largest scale) or float; comparisons -> bool; strings -> str
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from generator.model import PyType
from generator.schema import Catalog, py_type


@dataclass(frozen=True, slots=True)
class Typed:
    type: PyType | None  # None: the rules do not know; the spec must say (columns:)
    nullable: bool
    scale: int | None = None


_STRING_FUNCS = (exp.Concat, exp.ConcatWs, exp.Upper, exp.Lower, exp.Substring, exp.Trim, exp.Initcap)
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.In, exp.Like, exp.Is, exp.Between, exp.Exists)


class Scope:
    """Alias -> table for one SELECT, and which aliases an outer join may leave NULL."""

    def __init__(self, select: exp.Select, catalog: Catalog):
        self.catalog = catalog
        self.tables: dict[str, str] = {}
        self.nullable: set[str] = set()
        self.grouped = select.args.get("group") is not None
        from_ = select.args.get("from_") or select.args.get("from")
        seen: list[str] = []
        if from_ is not None:
            for t in from_.find_all(exp.Table):
                self.tables[t.alias_or_name] = t.name
                seen.append(t.alias_or_name)
        for join in select.args.get("joins") or []:
            table = join.this
            alias = table.alias_or_name
            if isinstance(table, exp.Table):
                self.tables[alias] = table.name
            side = (join.side or "").upper()
            if side in ("LEFT", "FULL"):
                self.nullable.add(alias)
            if side in ("RIGHT", "FULL"):
                self.nullable.update(seen)
            seen.append(alias)

    def column(self, col: exp.Column) -> Typed:
        table_name = self.tables.get(col.table)
        table = self.catalog.table(table_name) if table_name else None
        cdef = table.column(col.name) if table else None
        if cdef is None:
            return Typed(None, True)
        return Typed(cdef.type, cdef.nullable or col.table in self.nullable, cdef.scale)


def infer(node: exp.Expression, scope: Scope) -> Typed:
    if isinstance(node, exp.Alias):
        return infer(node.this, scope)
    if isinstance(node, exp.Paren):
        return infer(node.this, scope)
    if isinstance(node, exp.Column):
        return scope.column(node)
    if isinstance(node, exp.Count):
        return Typed("int", False)
    if isinstance(node, exp.Avg):
        return Typed("float", True)
    if isinstance(node, exp.Sum):
        arg = infer(node.this, scope)
        return Typed(arg.type, True, arg.scale)
    if isinstance(node, (exp.Min, exp.Max)):
        arg = infer(node.this, scope)
        return Typed(arg.type, arg.nullable or not scope.grouped, arg.scale)
    if isinstance(node, exp.Coalesce):
        args = [infer(a, scope) for a in [node.this, *node.expressions]]
        return Typed(args[0].type, all(a.nullable for a in args), _max_scale(args))
    if isinstance(node, exp.Case):
        branches = [infer(i.args["true"], scope) for i in node.args.get("ifs") or []]
        default = node.args.get("default")
        if default is not None:
            branches.append(infer(default, scope))
        first = branches[0] if branches else Typed(None, True)
        nullable = default is None or any(b.nullable for b in branches)
        return Typed(first.type, nullable, _max_scale(branches))
    if isinstance(node, exp.If):
        a, b = infer(node.args["true"], scope), infer(node.args.get("false") or exp.null(), scope)
        return Typed(a.type or b.type, a.nullable or b.nullable, _max_scale([a, b]))
    if isinstance(node, exp.Cast):
        to = node.to
        params = [int(p.this.name) for p in to.expressions if isinstance(p, exp.DataTypeParam) and p.this.is_int]
        scale = params[1] if len(params) > 1 else (0 if py_type(to) == "decimal" else None)
        return Typed(py_type(to), infer(node.this, scope).nullable, scale)
    if isinstance(node, exp.Round):
        arg = infer(node.this, scope)
        digits = node.args.get("decimals")
        n = int(digits.name) if isinstance(digits, exp.Literal) and digits.is_int else 0
        return Typed(arg.type, arg.nullable, n if arg.type == "decimal" else None)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        a, b = infer(node.this, scope), infer(node.expression, scope)
        return Typed(_numeric(a, b), a.nullable or b.nullable, _max_scale([a, b]))
    if isinstance(node, exp.Neg):
        return infer(node.this, scope)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return Typed("str", False)
        if node.is_int:
            return Typed("int", False)
        return Typed("decimal", False, len(node.name.partition(".")[2]))
    if isinstance(node, exp.Null):
        return Typed(None, True)
    if isinstance(node, exp.Boolean) or isinstance(node, _PREDICATES):
        return Typed("bool", any(infer(c, scope).nullable for c in node.iter_expressions() if isinstance(c, exp.Column)))
    if isinstance(node, _STRING_FUNCS):
        parts = [infer(c, scope) for c in node.iter_expressions()]
        return Typed("str", any(p.nullable for p in parts))
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDatetime)):
        return Typed("datetime", False)
    if isinstance(node, exp.CurrentDate):
        return Typed("date", False)
    return Typed(None, True)


def _numeric(a: Typed, b: Typed) -> PyType | None:
    kinds = {a.type, b.type}
    if "float" in kinds:
        return "float"
    if "decimal" in kinds:
        return "decimal"
    if kinds <= {"int", "bool"}:
        return "int"
    if kinds & {"date", "datetime"}:
        return "datetime"
    return None


def _max_scale(items: list[Typed]) -> int | None:
    scales = [t.scale for t in items if t.scale is not None]
    return max(scales) if scales else None
