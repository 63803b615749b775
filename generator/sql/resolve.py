"""Step 2: resolve tables and columns against the catalog, then qualify.

``check_names`` reports every unknown table (FG061) and every unknown or
ambiguous column (FG062) at the name's position; ``qualify_tree`` then lets
sqlglot qualify every column and expand ``*``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from generator.diagnostics import Diagnostic
from generator.schema import Catalog, TableDef
from generator.sql.parse import Source, node_offset
from generator.sql.writes import target_table

Sources = dict[str, "TableDef | Scope"]


def check_names(src: Source, tree: exp.Expr, catalog: Catalog) -> list[Diagnostic]:
    """FG061 for unknown tables, FG062 for unknown or ambiguous columns."""
    diags = _check_tables(src, tree, catalog)
    if diags:
        return diags  # columns of an unknown table would only repeat the error
    outer: Sources = {}
    target = target_table(tree)
    if target is not None:
        tdef = catalog.table(target.name)
        assert tdef is not None
        outer[target.alias_or_name] = tdef
        diags += _check_write_columns(src, tree, tdef)
    seen: set[int] = set()
    for scope in traverse_scope(tree) if not isinstance(tree, (exp.Update, exp.Delete)) else _sub_scopes(tree):
        stars = [s for s in scope.stars if isinstance(s, exp.Column) and s.table]
        for col in [*scope.columns, *stars]:
            if id(col) not in seen:
                seen.add(id(col))
                diags += _check_column(src, col, scope, catalog, outer)
        diags += _bare_star(src, scope)
    for col in _write_level_columns(tree):
        diags += _check_column(src, col, None, catalog, outer)
    return diags


def _write_level_columns(tree: exp.Expr) -> list[exp.Column]:
    """Columns of an UPDATE/DELETE outside any subquery, SET targets left out."""
    if not isinstance(tree, (exp.Update, exp.Delete)):
        return []
    set_targets = {id(e.this) for e in tree.expressions if isinstance(e, exp.EQ)} if isinstance(tree, exp.Update) else set()
    return [c for c in tree.find_all(exp.Column) if c.parent_select is None and id(c) not in set_targets]


def _sub_scopes(tree: exp.Expr) -> list[Scope]:
    """The scopes of the queries nested in an UPDATE or DELETE."""
    scopes: list[Scope] = []
    for q in tree.find_all(exp.Select):
        if q.parent_select is None:
            scopes += traverse_scope(q)
    return scopes


def _check_tables(src: Source, tree: exp.Expr, catalog: Catalog) -> list[Diagnostic]:
    """FG061 for each table that is neither in the catalog nor a CTE."""
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    diags = []
    for item in tree.find_all(exp.From, exp.Join):
        source = item.this
        if isinstance(source, exp.Table) and not isinstance(source.this, exp.Identifier):
            source = source.this
        if not isinstance(source, (exp.Table, exp.Subquery)):
            diags.append(src.diag(node_offset(src, source), "FG068", _table_function(source)))
    if diags:
        return diags
    for table in tree.find_all(exp.Table):
        if table.name in ctes and not table.db:
            continue
        if table.db or catalog.table(table.name) is None:
            names = [t.name for t in catalog.tables]
            full = f"{table.db}.{table.name}" if table.db else table.name
            hint = "; leave out FROM DUAL" if full == "dual" else _did_you_mean(table.name, names)
            msg = f"unknown table {full!r}" + hint
            diags.append(src.diag(node_offset(src, table.this), "FG061", msg))
    return diags


SERIES = (
    "WITH RECURSIVE s AS (SELECT 1 AS n UNION ALL SELECT s.n + 1 AS n FROM s WHERE s.n < 10) SELECT s.n FROM s"
    " (days: SELECT :first AS day ... SELECT s.day + INTERVAL 1 DAY AS day FROM s WHERE s.day < :last)"
)


def _table_function(node: exp.Expr) -> str:
    """FG068 for a function in FROM (``generate_series(1, 10)``): none of them exists on all three databases."""
    name = node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name() if isinstance(node, exp.Func) else node.key.upper()
    if isinstance(node, (exp.GenerateSeries, exp.ExplodingGenerateSeries)):
        name = "GENERATE_SERIES"
        fix = f"write a recursive CTE, which all three run: {SERIES}"
    elif isinstance(node, exp.Lateral):
        return "does not translate to every dialect: LATERAL is not known to MariaDB or SQLite; write a correlated subquery in the SELECT list, or a join with GROUP BY"
    elif isinstance(node, exp.Values):
        return "does not translate to every dialect: VALUES in FROM is written differently on MySQL; write SELECT 1 AS x UNION ALL SELECT 2 as a derived table or CTE"
    else:
        fix = "select from a table of the schema, a derived table or a CTE"
    return f"does not translate to every dialect: {name}() in FROM is a table function, which MySQL, PostgreSQL and SQLite do not share; {fix}"


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, if any is close.

    >>> _did_you_mean("departur", ["departure", "arrival"])
    "; did you mean 'departure'?"
    """
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def source_columns(source: TableDef | Scope | exp.Table, catalog: Catalog) -> list[str]:
    """The column names a FROM item offers: a table's, or a subquery's outputs."""
    if isinstance(source, TableDef):
        return [c.name for c in source.columns]
    if isinstance(source, exp.Table):
        tdef = catalog.table(source.name)
        return [c.name for c in tdef.columns] if tdef else []
    if source.set_operation_scopes:
        return source_columns(source.set_operation_scopes[0], catalog)
    expr = source.expression
    names: list[str] = []
    for proj in expr.selects if isinstance(expr, exp.Select) else []:
        if isinstance(proj, exp.Star):
            for inner in source.sources.values():
                names += source_columns(inner, catalog)
        elif isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star):
            inner_src = source.sources.get(proj.table)
            names += source_columns(inner_src, catalog) if inner_src is not None else []
        else:
            names.append(proj.alias_or_name)
    return names


def _check_column(src: Source, col: exp.Column, scope: Scope | None, catalog: Catalog, outer: Sources) -> list[Diagnostic]:
    """FG062 when ``col`` names no column, an unknown alias, or several columns."""
    name, where = col.name, node_offset(src, col.this)
    if isinstance(col.this, exp.Star) and not col.table:
        return []
    if col.table:
        source = _find_source(col.table, scope, outer)
        if source is None:
            aliases = _visible_aliases(scope, outer)
            msg = f"no table or alias {col.table!r} here" + _did_you_mean(col.table, aliases)
            return [src.diag(node_offset(src, col.args["table"]), "FG062", msg)]
        names = source_columns(source, catalog)
        if isinstance(col.this, exp.Star) or name in names:
            return []
        return [src.diag(where, "FG062", f"unknown column '{col.table}.{name}'" + _did_you_mean(name, names))]
    holders = _holders(name, scope, catalog, outer)
    if len(holders) == 1:
        return []
    if len(holders) > 1:
        options = " or ".join(f"{a}.{name}" for a in holders)
        return [src.diag(where, "FG062", f"ambiguous column {name!r}: qualify it as {options}")]
    if _is_alias_reference(col, scope):
        return []
    everything = [c for s in _all_sources(scope, outer).values() for c in source_columns(s, catalog)]
    return [src.diag(where, "FG062", f"unknown column {name!r}" + _did_you_mean(name, everything))]


def _find_source(alias: str, scope: Scope | None, outer: Sources) -> TableDef | Scope | exp.Table | None:
    """The FROM item an alias names, looking outwards through enclosing scopes."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return outer.get(alias)


def _all_sources(scope: Scope | None, outer: Sources) -> dict[str, TableDef | Scope | exp.Table]:
    """Every FROM item visible from ``scope``, inner names winning."""
    found: dict[str, TableDef | Scope | exp.Table] = dict(outer)
    chain = []
    while scope is not None:
        chain.append(scope)
        scope = scope.parent
    for s in reversed(chain):
        found.update(s.sources)
    return found


def _visible_aliases(scope: Scope | None, outer: Sources) -> list[str]:
    """The aliases visible from ``scope`` (for a did-you-mean hint)."""
    return list(_all_sources(scope, outer))


def _holders(name: str, scope: Scope | None, catalog: Catalog, outer: Sources) -> list[str]:
    """Aliases of the innermost scope level that has a column ``name``."""
    while scope is not None:
        found = [a for a, s in scope.sources.items() if name in source_columns(s, catalog)]
        if found:
            return found
        scope = scope.parent
    return [a for a, s in outer.items() if name in source_columns(s, catalog)]


def _is_alias_reference(col: exp.Column, scope: Scope | None) -> bool:
    """True for ``GROUP BY routes`` / ``HAVING``/``ORDER BY`` naming a select
    alias, or the ORDER BY of a UNION naming an output column."""
    query = scope.expression if scope is not None else None
    if not isinstance(query, exp.Query) or not col.find_ancestor(exp.Group, exp.Having, exp.Order):
        return False
    while isinstance(query, exp.SetOperation):
        query = query.this
    return isinstance(query, exp.Select) and col.name in {p.alias_or_name for p in query.selects}


def _bare_star(src: Source, scope: Scope) -> list[Diagnostic]:
    """FG062 for ``SELECT *`` with nothing to expand it to."""
    select = scope.expression
    if isinstance(select, exp.Select) and not scope.sources and any(isinstance(p, exp.Star) for p in select.selects):
        return [src.diag(0, "FG062", "`*` needs a FROM clause to name its columns")]
    return []


# ------------------------------------------------------------------- writes


def _check_write_columns(src: Source, tree: exp.Expr, tdef: TableDef) -> list[Diagnostic]:
    """Columns an INSERT lists or an UPDATE sets must exist in the written table."""
    names = [c.name for c in tdef.columns]
    cols: list[exp.Expr] = []
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        cols = list(tree.this.expressions)
    if isinstance(tree, exp.Update):
        cols = [e.this for e in tree.expressions if isinstance(e, exp.EQ)]
    diags = []
    for col in cols:
        if col.name not in names:
            msg = f"table {tdef.name!r} has no column {col.name!r}" + _did_you_mean(col.name, names)
            diags.append(src.diag(node_offset(src, col), "FG062", msg))
    if isinstance(tree, exp.Insert):
        diags += _check_values_width(src, tree, len(cols) or len(names))
    return diags


def _check_values_width(src: Source, tree: exp.Insert, width: int) -> list[Diagnostic]:
    """FG062 for a VALUES row whose width differs from the column list."""
    values = tree.expression
    diags = []
    if isinstance(values, exp.Values):
        for row in values.expressions:
            if len(row.expressions) != width:
                msg = f"VALUES row has {len(row.expressions)} values for {width} columns"
                diags.append(src.diag(node_offset(src, row), "FG062", msg))
    return diags


# ---------------------------------------------------------------- qualify


def qualify_tree(tree: exp.Expr, catalog: Catalog, dialect: str) -> exp.Expr:
    """Qualify every column with its table alias and expand ``*`` (in place).

    Raises OptimizeError only for what ``check_names`` did not catch.
    """
    schema: dict[str, object] = dict(catalog.sqlglot_schema())
    return qualify(
        tree,
        schema=schema,
        dialect=dialect,
        identify=True,
        quote_identifiers=True,
        validate_qualify_columns=True,
    )


def tables_read(tree: exp.Expr) -> tuple[str, ...]:
    """Sorted catalog tables the statement names (CTE names left out)."""
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return tuple(sorted({t.name for t in tree.find_all(exp.Table) if t.name not in ctes}))
