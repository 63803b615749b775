"""Step 2b: what a write statement writes, and which columns it binds from params.

Triggers are filled from the written row: ``bound_columns`` says which of its
columns the write's parameters give.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from generator.schema import Catalog


def target_table(tree: exp.Expr) -> exp.Table | None:
    """The table an INSERT, UPDATE or DELETE writes."""
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
        target = tree.this
        if isinstance(target, exp.Schema):
            target = target.this
        return target if isinstance(target, exp.Table) else None
    return None


@dataclass(frozen=True, slots=True)
class WriteTarget:
    """The written table and its (column, param) bindings."""

    table: str
    bound: tuple[tuple[str, str], ...]  # (column, param) pairs
    set_columns: tuple[str, ...] = ()  # UPDATE: every column it sets
    set_params: tuple[tuple[str, str], ...] = ()  # UPDATE: (column, param) of each `SET column = :param`
    where_params: tuple[tuple[str, str], ...] = ()  # (column, param) of each top-level `column = :param` in WHERE


def write_target(tree: exp.Expr, catalog: Catalog) -> WriteTarget | None:
    """The written table and the columns bound from params, for triggers.

    INSERT: each column whose VALUES entry is a bare ``:param``; UPDATE: the
    ``SET col = :param`` pairs, then the WHERE's top-level ``col = :param``
    equalities (a column may appear twice: new value first, then old);
    DELETE: the WHERE equalities.
    """
    target = target_table(tree)
    if target is None:
        return None
    tdef = catalog.table(target.name)
    names = [c.name for c in tdef.columns] if tdef else []
    if isinstance(tree, exp.Insert):
        return WriteTarget(target.name, tuple(_insert_bindings(tree, names)))
    sets = _equalities(tree.expressions) if isinstance(tree, exp.Update) else []
    set_columns = (
        [e.this.name.lower() for e in tree.expressions if isinstance(e, exp.EQ) and isinstance(e.this, exp.Column)] if isinstance(tree, exp.Update) else []
    )
    where = tree.args.get("where")
    keyed = _equalities(conjuncts(where.this) if isinstance(where, exp.Where) else [])
    return WriteTarget(target.name, tuple(sets + keyed), tuple(set_columns), tuple(sets), tuple(keyed))


def _insert_bindings(tree: exp.Insert, names: Sequence[str]) -> list[tuple[str, str]]:
    """(column, param) for each VALUES entry that is a bare placeholder."""
    cols = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else list(names)
    values = tree.expression
    if not isinstance(values, exp.Values) or len(values.expressions) != 1:
        return []
    row = values.expressions[0].expressions
    return [(c, v.name) for c, v in zip(cols, row, strict=False) if isinstance(v, exp.Placeholder)]


def conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """The terms of a top-level AND chain (parentheses removed)."""
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    return [node]


def _equalities(items: Iterable[exp.Expr]) -> list[tuple[str, str]]:
    """(column, param) for each ``col = :param`` (either way round)."""
    out = []
    for item in items:
        if not isinstance(item, exp.EQ):
            continue
        left, right = item.left, item.right
        if isinstance(left, exp.Placeholder):
            left, right = right, left
        if isinstance(left, exp.Column) and isinstance(right, exp.Placeholder):
            out.append((left.name, right.name))
    return out
