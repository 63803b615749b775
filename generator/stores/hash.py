"""``store: hash``: a ``returns: one`` row as a Valkey hash, a field per column; writes may refresh a field in place.

Spec rules: ``returns: one`` and no ``stampede: early`` (FG094).

Write plans: an UPDATE that sets a column a hash read spec shows can refresh
the field (HSET after commit) instead of dropping the entry, when it is safe to:

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from generator.code import Code, literal
from generator.model import CompiledQuery, Field, FromParam, Literal_, StoreOptions, TagPart, Value
from generator.stores.base import CacheSection, Reader, StoreKind, StorePlan, WritePlans, need_returns, refuse_early, tag_tuple


@dataclass(frozen=True, slots=True)
class HashRefreshPlan(StorePlan):
    """Set ``fields`` of the entries under ``tag`` to the write's parameters."""

    spec: str
    version: str
    tag: tuple[TagPart, ...]
    fields: tuple[tuple[str, str], ...]  # (hash field, write parameter)

    def values(self) -> tuple[Value, ...]:
        return tuple(p for p in self.tag if not isinstance(p, str)) + tuple(FromParam(param) for _, param in self.fields)

    def expression(self, index: Mapping[str, int]) -> Code:
        fields = literal(tuple((field, index[param]) for field, param in self.fields))
        return Code(f"HashRefresh({literal(self.spec)}, {literal(self.version)}, tag={tag_tuple(self.tag, index)}, fields={fields})")

    def summary(self) -> str:
        return f"{self.spec} ({', '.join(name for name, _ in self.fields)} refreshed in place)"


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


def refresh_plans(write: CompiledQuery, reads: Sequence[CompiledQuery]) -> tuple[HashRefreshPlan, ...]:
    """The hash entries ``write`` may refresh in place (see the module's docstring)."""
    sets = write.set_params
    if write.statement != "update" or not sets or len(sets) != len(write.set_columns) or write.written_table is None or write.spec.write != "through":
        return ()
    keyed = dict(write.where_params)
    plans: list[HashRefreshPlan] = []
    for r in HASH.mine(reads):
        mapping = _projections(r, write.written_table, {c for c, _ in sets})
        if mapping is None:
            continue
        for trig in r.spec.invalidate:
            if trig.table != write.written_table or trig.all:
                continue
            for t in trig.tags:
                if not all(isinstance(p, Literal_) or (isinstance(p, Field) and p.name in keyed) for p in t.parts):
                    continue
                tag = tuple(p.text if isinstance(p, Literal_) else FromParam(keyed[p.name]) for p in t.parts)
                fields = tuple(sorted((mapping[c], param) for c, param in sets))
                plans.append(HashRefreshPlan(r.spec.name, r.version, tag, fields))
    return tuple(plans)


class Hash(StoreKind):
    name = "hash"
    summary = "a returns: one row, a field per column"
    template = "accessor_hash.py.jinja"
    test_template = "test_accessor_hash.py.jinja"
    codes = ("FG094",)
    write_arg = "refresh"

    def read_options(self, r: Reader, cache: CacheSection) -> StoreOptions | None:
        need_returns(r, cache, self.name, "one", "a hash holds one row", "FG094")
        refuse_early(r, cache, self.name, "FG094")
        return StoreOptions()

    def plan_write(self, write: CompiledQuery, reads: Sequence[CompiledQuery]) -> WritePlans:
        return WritePlans(refresh_plans(write, reads))

    def write_import(self, plans: Sequence[StorePlan]) -> Code:
        return Code("from flughafen.stores.hash import HashRefresh")


HASH = Hash()
