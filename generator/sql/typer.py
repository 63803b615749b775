"""Step 3b: walk a qualified statement and type every node (rules in ``sql.types``).

A column is typed from its source: a catalog table (nullable on the optional
side of an outer join), a derived table or CTE (its projection's type), or,
for UPDATE/DELETE, the written table.

``mark_fixed_group_keys`` also flags the GROUP BY keys that cannot split a
group (``FIXED`` in ``node.meta``), for the MySQL rewrite of text grouping.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from generator.model import Spec
from generator.schema import Catalog, TableDef
from generator.sql.grouping import determined, outer_joined
from generator.sql.types import KEY, UNKNOWN, SqlType, merge, sql_type, type_by_rules

FIXED = "fg_fixed_by_group"


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
        """Store a SqlType on every node of ``tree`` (and on an INSERT's column names)."""
        if isinstance(tree, exp.Insert):
            for name, t in zip(insert_targets(tree, self.outer), self._target_types(tree), strict=False):
                name.meta[KEY] = t
        for node in list(tree.walk(bfs=False)):
            self.type_of(node)
        mark_fixed_group_keys(tree, self.catalog)

    def _target_types(self, tree: exp.Insert) -> list[SqlType]:
        """The catalog types of the columns an INSERT fills, in order."""
        tdef = next(iter(self.outer.values()), None)
        names = [i.name for i in tree.this.expressions] if isinstance(tree.this, exp.Schema) else [c.name for c in tdef.columns] if tdef else []
        cdefs = [tdef.column(n) if tdef else None for n in names]
        return [SqlType(c.type, c.nullable, c.scale) if c else UNKNOWN for c in cdefs]

    def type_of(self, node: exp.Expr) -> SqlType:
        """The node's type, computed once and kept in ``node.meta``."""
        cached = node.meta.get(KEY)
        if isinstance(cached, SqlType):
            return cached
        found = self._compute(node)
        node.meta[KEY] = found
        return found

    def _compute(self, node: exp.Expr) -> SqlType:
        """The node's type by the rules (children first, through ``type_of``)."""
        return type_by_rules(self, node)

    # -- columns

    def column(self, col: exp.Column) -> SqlType:
        """A column's type from its source, nullable on an outer join's optional side."""
        scope = self._scope(col)
        if not col.table and scope is None and len(self.outer) == 1:
            col = exp.column(col.name, next(iter(self.outer)))  # UPDATE t SET c = c + 1
        elif not col.table:
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
        """The innermost scope whose query contains ``node``."""
        parent: exp.Expr | None = node
        while parent is not None:
            if id(parent) in self.scopes:
                return self.scopes[id(parent)]
            parent = parent.parent
        return None

    def _scope_output(self, scope: Scope, name: str) -> SqlType:
        """The type of output column ``name`` of a derived table or CTE."""
        if scope.set_operation_scopes:
            return merge([self._scope_output(s, name) for s in scope.set_operation_scopes])
        select = scope.expression
        for proj in select.selects if isinstance(select, exp.Select) else []:
            if proj.alias_or_name == name:
                return self.type_of(proj)
        return UNKNOWN

    def _alias_reference(self, col: exp.Column) -> SqlType:
        """``ORDER BY total``: the type of the select item named ``total``."""
        query = col.find_ancestor(exp.Select, exp.SetOperation)
        while isinstance(query, exp.SetOperation):
            query = query.this
        for proj in query.selects if isinstance(query, exp.Select) else []:
            if proj is not col and proj.alias_or_name == col.name:
                return self.type_of(proj)
        return UNKNOWN

    def grouped(self, node: exp.Expr) -> bool:
        """True when ``node``'s SELECT has a GROUP BY."""
        select = node.find_ancestor(exp.Select)
        return select is not None and bool(select.args.get("group"))


def mark_fixed_group_keys(tree: exp.Expr, catalog: Catalog, text: Callable[[exp.Column], bool] | None = None) -> None:
    """Flag each text GROUP BY column whose value the other keys fix anyway.

    The other keys here are the non-text ones (no collation merges their
    values) and the columns WHERE fixes (``col = :param``, ``col = 'x'``).
    From them a table's columns are fixed when its whole primary key is, and
    a column is fixed when a join equates it with a fixed one. Grouping also
    by a fixed text column cannot merge or split a group, whatever the
    collation.

    >>> import sqlglot
    >>> from generator.schema import parse_catalog
    >>> cat = parse_catalog("CREATE TABLE a (id INT NOT NULL, n VARCHAR(9), b INT, PRIMARY KEY (id)); CREATE TABLE b (id INT NOT NULL, m VARCHAR(9), PRIMARY KEY (id));")
    >>> t = sqlglot.parse_one("SELECT a.n, b.m, c.m AS x FROM a JOIN b ON b.id = a.b JOIN b AS c ON c.id > a.id GROUP BY a.id, a.n, b.m, c.m")
    >>> mark_fixed_group_keys(t, cat, text=lambda c: c.name in ("n", "m"))
    >>> [k.sql() for k in t.args["group"].expressions if k.meta.get(FIXED)]
    ['a.n', 'b.m']
    """
    is_text = text or (lambda c: sql_type(c).py == "str")
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if group is None:
            continue
        fixed = determined(select, catalog, [(c.table, c.name) for c in group.expressions if isinstance(c, exp.Column) and not is_text(c)])
        for key in group.expressions:
            if isinstance(key, exp.Column) and is_text(key) and (key.table, key.name) in fixed:
                key.meta[FIXED] = True


def _nested_scopes(tree: exp.Expr) -> list[Scope]:
    """The scopes of the queries nested in an UPDATE or DELETE."""
    return [s for q in tree.find_all(exp.Select) if q.parent_select is None for s in traverse_scope(q)]


def insert_targets(tree: exp.Insert, outer: dict[str, TableDef]) -> list[exp.Expr]:
    """The nodes naming the columns an INSERT fills (none without a column list)."""
    return list(tree.this.expressions) if isinstance(tree.this, exp.Schema) else []
