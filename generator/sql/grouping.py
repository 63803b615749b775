"""GROUP BY and the columns it determines: MySQL's functional dependencies, made explicit.

MySQL accepts ``SELECT f.flight_id, al.airlinename ... JOIN airline al ON
al.airline_id = f.airline_id GROUP BY f.flight_id``: the flight's primary key
fixes its airline_id, the join fixes the airline's key, and so its name.
PostgreSQL accepts only the columns of the table whose key is grouped, SQLite
any column (taking one row's). ``complete_group_by`` adds each such
determined column to the GROUP BY, which then splits no group and merges
none, and every database accepts the query. A column the keys do not
determine stays loose, and ``sql.portable`` refuses it.

What determines what (``determined``), from the GROUP BY columns:
- a table's whole primary key determines its every column;
- ``a = b`` in WHERE, or in the ON of an inner join, makes a and b
  determine each other; ``col = :param`` or ``col = 'literal'`` in WHERE
  fixes col;
- in the ON of an outer join only from the kept side to the optional one (a
  row without a match has NULLs there, whatever the kept side holds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlglot import exp

from generator.schema import Catalog
from generator.sql.writes import conjuncts

Name = tuple[str, str]  # (table alias, column)


def determined(select: exp.Select, catalog: Catalog, start: Iterable[Name]) -> set[Name]:
    """Every column of ``select`` that the columns ``start`` determine (see the module docstring)."""
    found = set(start)
    edges: list[tuple[Name, Name]] = []
    where = select.args.get("where")
    for term in conjuncts(where.this) if isinstance(where, exp.Where) else []:
        if isinstance(term, exp.EQ):
            for a, b in ((term.this, term.expression), (term.expression, term.this)):
                if isinstance(a, exp.Column) and isinstance(b, (exp.Placeholder, exp.Literal)):
                    found.add((a.table, a.name))
                elif isinstance(a, exp.Column) and isinstance(b, exp.Column):
                    edges.append(((b.table, b.name), (a.table, a.name)))
    optional = outer_joined(select)
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        for term in conjuncts(on) if isinstance(on, exp.Expr) else []:
            if isinstance(term, exp.EQ) and isinstance(term.this, exp.Column) and isinstance(term.expression, exp.Column):
                x, y = (term.this.table, term.this.name), (term.expression.table, term.expression.name)
                edges += [(a, b) for a, b in ((x, y), (y, x)) if not (a[0] in optional and b[0] not in optional)]
    tables = {t.alias_or_name: catalog.table(t.name) for t in select.find_all(exp.Table) if t.parent_select is select}
    while True:
        before = len(found)
        for alias, tdef in tables.items():
            if tdef is not None and tdef.primary_key and all((alias, k) in found for k in tdef.primary_key):
                found |= {(alias, c.name) for c in tdef.columns}
        found |= {b for a, b in edges if a in found}
        if len(found) == before:
            return found


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


def complete_group_by(tree: exp.Expr, catalog: Catalog) -> None:
    """Add to each GROUP BY the columns selected, in HAVING or in ORDER BY that its keys determine (in place).

    >>> import sqlglot
    >>> from generator.schema import parse_catalog
    >>> cat = parse_catalog("CREATE TABLE f (id INT NOT NULL, a INT, PRIMARY KEY (id)); CREATE TABLE a (id INT NOT NULL, n VARCHAR(9), PRIMARY KEY (id));")
    >>> t = sqlglot.parse_one("SELECT f.id, a.n, COUNT(*) AS c FROM f JOIN a ON a.id = f.a GROUP BY f.id")
    >>> complete_group_by(t, cat)
    >>> t.args["group"].sql()
    'GROUP BY f.id, a.n'
    """
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if group is None:
            continue
        keys = {e.sql() for e in group.expressions}
        grouped = [(c.table, c.name) for c in group.expressions if isinstance(c, exp.Column)]
        fixed = determined(select, catalog, grouped)
        keyed = keyed_aliases(select, catalog, set(grouped))  # every database takes these columns as they are
        for item in [*select.selects, *clause_items(select)]:
            for col in loose_columns(item, keys, select):
                if (col.table, col.name) in fixed and col.table not in keyed and col.sql() not in keys:
                    keys.add(col.sql())
                    group.append("expressions", col.copy())


def keyed_aliases(select: exp.Select, catalog: Catalog, grouped: set[Name]) -> set[str]:
    """Aliases of the tables whose whole primary key is grouped."""
    tables = {t.alias_or_name: catalog.table(t.name) for t in select.find_all(exp.Table) if t.parent_select is select}
    return {a for a, tdef in tables.items() if tdef is not None and tdef.primary_key and all((a, k) in grouped for k in tdef.primary_key)}


def aggregate(node: exp.Expr) -> bool:
    """An aggregate call that is not a window function."""
    return isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window)


def clause_items(select: exp.Select) -> list[exp.Expr]:
    """The HAVING condition and ORDER BY keys of a SELECT."""
    having, order = select.args.get("having"), select.args.get("order")
    return ([having.this] if having is not None else []) + ([o.this for o in order.expressions] if order is not None else [])


def loose_columns(node: exp.Expr, grouped: set[str], select: exp.Select) -> Iterator[exp.Column]:
    """Columns of ``select`` in ``node`` outside aggregates and grouped expressions."""
    if node.sql() in grouped or aggregate(node) or isinstance(node, (exp.Subquery, exp.Window)):
        return
    if isinstance(node, exp.Column) and node.table and node.parent_select is select:
        yield node
        return
    for child in node.iter_expressions():
        yield from loose_columns(child, grouped, select)
