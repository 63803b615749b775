"""Step 3b: walk a qualified statement and type every node (rules in ``sql_types``).

A column is typed from its source: a catalog table (nullable on the optional
side of an outer join), a derived table or CTE (its projection's type), or,
for UPDATE/DELETE, the written table.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from generator.model import Spec
from generator.schema import Catalog, TableDef
from generator.sql_types import KEY, UNKNOWN, SqlType, merge, type_by_rules


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
            for name, t in zip(insert_targets(tree, self.outer), self._target_types(tree)):
                name.meta[KEY] = t
        for node in list(tree.walk(bfs=False)):
            self.type_of(node)

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


def _nested_scopes(tree: exp.Expr) -> list[Scope]:
    """The scopes of the queries nested in an UPDATE or DELETE."""
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


def insert_targets(tree: exp.Insert, outer: dict[str, TableDef]) -> list[exp.Expr]:
    """The nodes naming the columns an INSERT fills (none without a column list)."""
    return list(tree.this.expressions) if isinstance(tree.this, exp.Schema) else []
