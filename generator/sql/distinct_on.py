"""PostgreSQL's ``SELECT DISTINCT ON (k) ... ORDER BY k, x`` for MySQL and SQLite, which have none.

The first row of each ``k`` in the ORDER BY's order, kept by ``ROW_NUMBER()``;
the query's own ORDER BY, LIMIT and OFFSET then apply to those rows, as on
PostgreSQL (sqlglot's own rewrite dropped the outer ORDER BY)::

    SELECT _t.a AS a, _t.b AS b
    FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY k ORDER BY k, x) AS _row_number FROM ...) AS _t
    WHERE _t._row_number = 1
    ORDER BY _t.a, _t._order_1
    LIMIT ...

An ORDER BY key that is not a result column is carried out of the derived
table as a hidden column (``_order_1``), which the outer SELECT leaves out.
Every node made here carries its type, for the rewrites that follow.
"""

from __future__ import annotations

from sqlglot import exp

from generator.sql.types import KEY, SqlType, sql_type

ROW_NUMBER = "_row_number"
DERIVED = "_t"


def _typed(node: exp.Expr, t: SqlType) -> exp.Expr:
    node.meta[KEY] = t
    return node


def distinct_on(node: exp.Expr) -> exp.Expr:
    """``SELECT DISTINCT ON (...)`` -> a ROW_NUMBER() derived table, keeping ORDER BY, LIMIT and OFFSET."""
    distinct = node.args.get("distinct") if isinstance(node, exp.Select) else None
    on = distinct.args.get("on") if isinstance(distinct, exp.Distinct) else None
    if not isinstance(node, exp.Select) or on is None:
        return node
    keys = list(on.expressions) if isinstance(on, exp.Tuple) else [on]
    order = node.args.get("order")
    ordered: list[exp.Ordered] = list(order.expressions) if isinstance(order, exp.Order) else []
    inner = node.copy()
    for arg in ("distinct", "order", "limit", "offset"):
        inner.set(arg, None)
    names = {p.alias_or_name: p for p in inner.selects}
    shown = [p.alias_or_name for p in inner.selects]
    window_keys: list[exp.Expr] = []
    outer_keys: list[exp.Expr] = []
    for i, o in enumerate(ordered, 1):
        expr = o.this
        by_name = names.get(expr.name) if isinstance(expr, exp.Column) and not expr.table else None
        source = by_name.unalias() if by_name is not None else expr
        window_keys.append(_ordered_like(o, source.copy()))
        alias = next((a for a, p in names.items() if by_name is p or p.unalias().sql() == expr.sql()), None)
        if alias is None:
            alias = f"_order_{i}"
            inner.select(_typed(exp.alias_(expr.copy(), alias, quoted=True), sql_type(expr)), copy=False)
        outer_keys.append(_ordered_like(o, _column(alias, sql_type(source))))
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=window_keys) if window_keys else None,
    )
    inner.select(_typed(exp.alias_(_typed(window, SqlType("int", False)), ROW_NUMBER, quoted=True), SqlType("int", False)), copy=False)
    first = _typed(exp.EQ(this=_column(ROW_NUMBER, SqlType("int", False)), expression=exp.Literal.number(1)), SqlType("bool", False))
    outer = exp.Select(
        expressions=[_typed(exp.alias_(_column(name, sql_type(names[name])), name, quoted=True), sql_type(names[name])) for name in shown],
        where=exp.Where(this=first),
    )
    outer.set(
        "from_" if "from_" in exp.Select.arg_types else "from",
        exp.From(this=exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(DERIVED, quoted=True)))),
    )
    if outer_keys:
        outer.set("order", exp.Order(expressions=outer_keys))
    for arg in ("limit", "offset"):
        if node.args.get(arg) is not None:
            outer.set(arg, node.args[arg].copy())
    return _typed(outer, sql_type(node))


def _column(name: str, t: SqlType) -> exp.Expr:
    return _typed(exp.column(name, DERIVED, quoted=True), t)


def _ordered_like(o: exp.Ordered, key: exp.Expr) -> exp.Ordered:
    """A sort key like ``o`` (direction, null order) on another expression."""
    copy = o.copy()
    copy.set("this", key)
    return copy
