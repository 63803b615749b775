"""Write-through refresh of ``store: hash`` entries: which writes may update a cached row in place.

An UPDATE that sets a column a hash read spec shows can refresh the field
(HSET after commit) instead of dropping the entry, when it is safe to:

- every SET is ``column = :param`` (the new value is known);
- the read spec's trigger on the written table names tags whose fields the
  write's WHERE binds by equality (the entries to refresh are found by tag,
  and two writes of one tag lock the same rows, so they commit in the order
  of the tickets they take);
- each set column is projected as is (``a.name`` or ``a.name AS x``), from
  the written table read once, and the query uses it nowhere else (not in
  WHERE, JOIN, GROUP BY, ORDER BY or another expression): changing it
  changes that field and nothing else of the row.

Anything else keeps the plain invalidation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from generator.model import CompiledQuery, Field, Literal_
from generator.sql.writes import _equalities, conjuncts


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    spec: str
    version: str
    tag: tuple[object, ...]  # str literal or ("param", name)
    fields: tuple[tuple[str, str], ...]  # (hash field, write param)


def _set_pairs(tree: exp.Expr) -> list[tuple[str, str]] | None:
    if not isinstance(tree, exp.Update):
        return None
    pairs = _equalities(tree.expressions)
    return pairs if len(pairs) == len(tree.expressions) else None


def _projections(read: CompiledQuery, table: str, columns: set[str]) -> dict[str, str] | None:
    """Column of ``table`` -> result column, when each is projected as is and used nowhere else."""
    tree = sqlglot.parse_one(read.spec.sql, read=read.spec.dialect)
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return None
    tables = list(tree.find_all(exp.Table))
    aliases = {t.alias_or_name for t in tables if t.name.lower() == table}
    if len(aliases) != 1 or sum(1 for t in tables if t.name.lower() == table) != 1:
        return None
    alias = aliases.pop()
    single = len(tables) == 1

    def ours(col: exp.Column) -> bool:
        return col.name.lower() in columns and (col.table == alias or (not col.table and single))

    found: dict[str, str] = {}
    for item in select.expressions:
        inner = item.this if isinstance(item, exp.Alias) else item
        if isinstance(inner, exp.Column) and ours(inner):
            found[inner.name.lower()] = item.alias_or_name.lower()
    uses = [c for c in tree.find_all(exp.Column) if ours(c)]
    if set(found) != columns or len(uses) != len(columns):
        return None
    return found


def refresh_plans(write: CompiledQuery, reads: list[CompiledQuery]) -> tuple[RefreshPlan, ...]:
    tree = sqlglot.parse_one(write.spec.sql, read=write.spec.dialect)
    sets = _set_pairs(tree)
    if not sets or write.written_table is None or write.spec.write != "through":
        return ()
    where = tree.args.get("where")
    keyed = dict(_equalities(conjuncts(where.this) if isinstance(where, exp.Where) else []))
    plans: list[RefreshPlan] = []
    for r in sorted(reads, key=lambda q: q.spec.name):
        if r.spec.cache is None or r.spec.cache.store != "hash":
            continue
        mapping = _projections(r, write.written_table, {c for c, _ in sets})
        if mapping is None:
            continue
        for trig in r.spec.invalidate:
            if trig.table != write.written_table or trig.all:
                continue
            for t in trig.tags:
                if not all(isinstance(p, Literal_) or (isinstance(p, Field) and p.name in keyed) for p in t.parts):
                    continue
                tag = tuple(p.text if isinstance(p, Literal_) else ("param", keyed[p.name]) for p in t.parts if isinstance(p, (Literal_, Field)))
                fields = tuple(sorted((mapping[c], param) for c, param in sets))
                plans.append(RefreshPlan(r.spec.name, r.version, tag, fields))
    return tuple(plans)
