"""Step 4: the result's shape: named, typed columns, and what the spec says of it.

``unnamed_columns`` (FG065) runs on the parsed query; the rest on the
qualified, typed one: ``result_columns`` applies ``columns:`` overrides
(FG069), ``check_returns`` (FG066), ``check_tags`` (FG054), ``check_triggers``
(FG070), and ``single_row`` notes whether the query can return at most one
row (for a lint on ``returns: one``).
"""

from __future__ import annotations

import difflib

from sqlglot import exp

from generator.diagnostics import Diagnostic
from generator.model import Column, Spec
from generator.names import name_problem
from generator.schema import Catalog, ColumnDef
from generator.sql.parse import Source, node_offset
from generator.sql.types import merge, sql_type
from generator.sql.writes import conjuncts


def leftmost(query: exp.Expr) -> exp.Select | None:
    """The SELECT whose projections name a query's result columns."""
    while isinstance(query, exp.SetOperation):
        query = query.this
    return query if isinstance(query, exp.Select) else None


def name_scalar(spec: Spec, tree: exp.Expr) -> None:
    """``returns: scalar`` of one computed column without ``AS``: the accessor returns its value, so its name is
    ``value`` everywhere (in place; MySQL and PostgreSQL would name it two ways, and no field shows it)."""
    select = leftmost(tree)
    if spec.kind == "read" and spec.returns == "scalar" and select is not None and len(select.selects) == 1:
        [proj] = select.selects
        if not isinstance(proj, (exp.Alias, exp.Column, exp.Star)):
            proj.replace(exp.alias_(proj.copy(), "value"))


def unnamed_columns(src: Source, tree: exp.Expr) -> list[Diagnostic]:
    """FG065: a computed result column needs ``AS name`` (names differ per database)."""
    select = leftmost(tree)
    diags = []
    for proj in select.selects if select is not None else []:
        if isinstance(proj, (exp.Alias, exp.Column, exp.Star)):
            continue
        text = proj.sql(dialect=src.spec.dialect)
        msg = f"computed column {text!r} needs a name: add AS some_name (PostgreSQL would name it {_pg_name(proj)!r}, MySQL {text!r})"
        diags.append(src.diag(node_offset(src, proj), "FG065", msg))
    return diags


def _pg_name(node: exp.Expr) -> str:
    """The name PostgreSQL gives an unaliased expression."""
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return "?column?"


def result_columns(src: Source, tree: exp.Expr) -> tuple[tuple[Column, ...], list[Diagnostic]]:
    """The typed result columns, with the spec's ``columns:`` overrides applied."""
    spec = src.spec
    branches = _branches(tree)
    if not branches:
        return (), _unknown_overrides(spec, set())
    names = [p.alias_or_name for p in branches[0].selects]
    diags = []
    if not names and spec.kind == "read":
        diags.append(src.diag(0, "FG060", "the query selects no columns"))
    for b in branches[1:]:
        if len(b.selects) != len(names):
            msg = f"each side of a UNION/INTERSECT/EXCEPT selects the same number of columns: {len(names)} here, {len(b.selects)} there"
            diags.append(src.diag(node_offset(src, b), "FG060", msg))
    for i, name in enumerate(names):
        problem = name_problem(name, "column")
        if problem is not None:
            msg = f"result column {name!r} {problem}, and it names a field of the row class; rename it with AS (f.`from` AS from_id)"
            diags.append(src.diag(node_offset(src, branches[0].selects[i]), "FG065", msg))
        if name in names[:i]:
            msg = f"two result columns are named {name!r}; give one another name with AS"
            diags.append(src.diag(node_offset(src, branches[0].selects[i]), "FG065", msg))
    overrides = {o.name: o for o in spec.columns}
    columns = []
    for i, name in enumerate(names):
        t = merge([sql_type(b.selects[i]) for b in branches if i < len(b.selects)])
        o = overrides.get(name)
        py = o.type if o and o.type else t.py
        nullable = o.nullable if o and o.nullable is not None else t.nullable
        columns.append(Column(name, py, nullable, (t.scale if t.scale is not None else 0) if py == "decimal" else None))
    return tuple(columns), diags + _unknown_overrides(spec, set(names))


def _branches(tree: exp.Expr) -> list[exp.Select]:
    """The SELECTs of a query, left to right through UNION/INTERSECT/EXCEPT."""
    if isinstance(tree, exp.SetOperation):
        return _branches(tree.this) + _branches(tree.expression)
    return [tree] if isinstance(tree, exp.Select) else []


def _unknown_overrides(spec: Spec, names: set[str]) -> list[Diagnostic]:
    """FG069 for each ``columns:`` entry naming no result column."""
    diags = []
    for o in spec.columns:
        if o.name not in names:
            hint = _hint(o.name, names) or (f"; it returns {', '.join(sorted(names))}" if names else "; it returns no columns")
            diags.append(Diagnostic(o.span, "FG069", f"`columns:` names {o.name!r}, which the query does not return{hint}"))
    return diags


def _hint(name: str, names: set[str]) -> str:
    """A did-you-mean suffix for ``name`` among ``names``."""
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_returns(spec: Spec, columns: tuple[Column, ...]) -> list[Diagnostic]:
    """FG066: ``returns: scalar`` needs exactly one column; reads need columns."""
    if spec.kind != "read":
        return []
    if spec.returns == "scalar" and len(columns) != 1:
        return [
            Diagnostic(spec.returns_span, "FG066", f"returns: scalar needs exactly one result column, the query has {len(columns)}; use returns: one for a row")
        ]
    return []


def check_tags(spec: Spec, columns: tuple[Column, ...]) -> list[Diagnostic]:
    """FG054: a ``{row.col}`` tag field must name a result column."""
    names = {c.name for c in columns}
    diags = []
    for tag in spec.cache.tags if spec.cache else ():
        for f in tag.fields:
            if f.source == "row" and f.name not in names:
                hint = _hint(f.name, names) or f"; the query returns {', '.join(sorted(names))}"
                diags.append(Diagnostic(f.span, "FG054", f"tag field {{row.{f.name}}} names no result column{hint}"))
    return diags


def check_triggers(spec: Spec, catalog: Catalog) -> list[Diagnostic]:
    """FG070: a trigger names a table of the catalog, and its tags that table's columns."""
    diags = []
    for trig in spec.invalidate:
        tdef = catalog.table(trig.table)
        if tdef is None:
            hint = _hint(trig.table, {t.name for t in catalog.tables})
            diags.append(Diagnostic(trig.span, "FG070", f"invalidate names table {trig.table!r}, which specs/schema.sql does not define{hint}"))
            continue
        cols = {c.name for c in tdef.columns}
        for tag in trig.tags:
            for f in tag.fields:
                if f.source != "param" and f.name not in cols:
                    hint = _hint(f.name, cols) or f"; its columns: {', '.join(sorted(cols))}"
                    diags.append(Diagnostic(f.span, "FG070", f"table {tdef.name!r} has no column {f.name!r}{hint}"))
    return diags


# ------------------------------------------------------------- single row


def pinned(select: exp.Select, known: set[str] | None = None) -> set[str]:
    """``alias.column`` names fixed to one value: by ``= :param`` or ``= literal``
    in the WHERE, then through ``a.x = b.y`` equalities of the WHERE and ON.

    >>> import sqlglot
    >>> sorted(pinned(sqlglot.parse_one("SELECT 1 FROM a JOIN b ON b.x = a.x WHERE a.x = :p AND a.y > 1")))
    ['a.x', 'b.x']
    """
    conds = []
    where = select.args.get("where")
    if isinstance(where, exp.Where):
        conds += conjuncts(where.this)
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        conds += conjuncts(on) if isinstance(on, exp.Expr) else []
    eqs = [c for c in conds if isinstance(c, exp.EQ)]
    fixed = set(known or ()) | {
        _name(c) for e in eqs for c, v in ((e.left, e.right), (e.right, e.left)) if isinstance(c, exp.Column) and isinstance(v, (exp.Placeholder, exp.Literal))
    }
    pairs = [(_name(e.left), _name(e.right)) for e in eqs if isinstance(e.left, exp.Column) and isinstance(e.right, exp.Column)]
    grew = True
    while grew:
        before = len(fixed)
        fixed |= {b for a, b in pairs if a in fixed} | {a for a, b in pairs if b in fixed}
        grew = len(fixed) > before
    return fixed


def _name(col: exp.Expr) -> str:
    """``alias.column`` of a column node."""
    return f"{col.text('table')}.{col.name}"


def _keyed_aliases(select: exp.Select, catalog: Catalog, fixed: set[str]) -> tuple[set[str], set[str]]:
    """(aliases of the select's tables, those whose primary or unique key is fixed)."""
    aliases, keyed = set(), set()
    for table in select.find_all(exp.Table):
        tdef = catalog.table(table.name)
        if table.parent_select is not select:
            continue
        alias = table.alias_or_name
        aliases.add(alias)
        keys = [k for k in (tdef.primary_key, *tdef.unique) if k] if tdef else []
        if any(all(f"{alias}.{c}" in fixed for c in k) for k in keys):
            keyed.add(alias)
    return aliases, keyed


def pins_key(tree: exp.Expr, catalog: Catalog) -> bool:
    """True when the WHERE fixes a primary or unique key of every table the
    query reads (directly, or through join equalities): one row at most."""
    if not isinstance(tree, exp.Select):
        return False
    aliases, keyed = _keyed_aliases(tree, catalog, fixed_columns(tree, catalog))
    return bool(aliases) and aliases == keyed


def fixed_columns(select: exp.Select, catalog: Catalog) -> set[str]:
    """``pinned``, plus every column of a table whose key is fixed (one row of
    it), and what that fixes through join equalities, until nothing changes."""
    fixed = pinned(select)
    while True:
        _, keyed = _keyed_aliases(select, catalog, fixed)
        more = {f"{t.alias_or_name}.{c.name}" for t in select.find_all(exp.Table) if t.alias_or_name in keyed for c in _columns_of(t, catalog)}
        grown = pinned(select, fixed | more)
        if grown <= fixed:
            return fixed
        fixed |= grown


def _columns_of(table: exp.Table, catalog: Catalog) -> tuple[ColumnDef, ...]:
    """The catalog columns of a table node (none when unknown)."""
    tdef = catalog.table(table.name)
    return tdef.columns if tdef else ()


def single_row(tree: exp.Expr, catalog: Catalog) -> bool:
    """At most one row: LIMIT 1, an aggregate without GROUP BY, a key fixed in
    every table, or every GROUP BY column fixed or of a table with a fixed key."""
    if not isinstance(tree, exp.Select):
        return False
    limit = tree.args.get("limit")
    if isinstance(limit, exp.Limit) and limit.expression.name == "1":
        return True
    group = tree.args.get("group")
    if group is None:
        aggregated = any(isinstance(n, exp.AggFunc) for p in tree.selects for n in p.walk())
        return aggregated or pins_key(tree, catalog)
    fixed = fixed_columns(tree, catalog)
    _, keyed = _keyed_aliases(tree, catalog, fixed)
    return all(isinstance(e, exp.Column) and (_name(e) in fixed or e.table in keyed) for e in group.expressions)
