"""Read specs' ``invalidate:`` entries joined to the write specs that fire them.

A write to table T fires every read spec's trigger on T. Each trigger tag's
``{column}`` must be known after the write: bound by the write's parameters
(``WHERE booking_id = :booking_id`` binds booking_id), or looked up from the
touched rows before the write (``lookup: true``, UPDATE and DELETE only). If
neither, the build fails (FG071) and names the three ways out.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from generator.stores.bitmap import SetPlan, check_kept_tags, plan_sets
from generator.diagnostics import Diagnostic, SpecError
from generator.model import CompiledQuery, Dialect, DIALECTS, Field, Literal_
from generator.sql.dialects import render


@dataclass(frozen=True, slots=True)
class LookupPlan:
    sql: dict[Dialect, str]
    param_order: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WriteEffects:
    # Each tag as template parts: str literal, ("param", name) or ("row", column).
    tags: tuple[tuple[object, ...], ...]
    generations: tuple[str, ...]  # read specs dropped whole
    lookup: LookupPlan | None
    sets: tuple[SetPlan, ...] = ()  # store: bitmap sets the write keeps up to date (bitmaps.py)


def _lookup_plan(write: CompiledQuery, columns: list[str]) -> LookupPlan:
    tree = sqlglot.parse_one(write.spec.sql, read=write.spec.dialect)
    where = tree.args.get("where")
    select = exp.select(*[exp.column(c) for c in columns]).from_(exp.table_(write.written_table or ""))
    if where is not None:
        select = select.where(where.this.copy())
    sql: dict[Dialect, str] = {}
    order: tuple[str, ...] = ()
    for d in DIALECTS:
        rendered = render(select, write.spec.params, d)
        sql[d], order = rendered.sql, rendered.order
    return LookupPlan(sql, order, tuple(columns))


def join_writes(queries: list[CompiledQuery]) -> dict[str, WriteEffects]:
    reads = [q for q in queries if q.spec.kind == "read"]
    effects: dict[str, WriteEffects] = {}
    problems: list[Diagnostic] = []
    set_plans = plan_sets(queries, problems)
    for w in (q for q in queries if q.spec.kind == "write"):
        sets, kept, set_columns = set_plans.get(w.spec.name, ((), frozenset(), ()))
        bound = dict(w.bound_columns)
        can_lookup = bool(getattr(w.spec, "lookup", False)) and not w.spec.sql.lstrip().upper().startswith("INSERT")
        tags: dict[str, tuple[object, ...]] = {}
        generations: set[str] = set()
        needed: set[str] = set(set_columns)
        for r in reads:
            for trig in r.spec.invalidate:
                if trig.table != w.written_table or r.spec.name in kept:
                    continue
                if trig.all:
                    generations.add(r.spec.name)
                for t in trig.tags:
                    parts: list[object] = []
                    for part in t.parts:
                        if isinstance(part, Literal_):
                            parts.append(part.text)
                        elif isinstance(part, Field) and part.name in bound:
                            parts.append(("param", bound[part.name]))
                        elif isinstance(part, Field) and can_lookup:
                            parts.append(("row", part.name))
                            needed.add(part.name)
                        elif isinstance(part, Field):
                            problems.append(
                                Diagnostic(
                                    w.spec.sql_span,
                                    "FG071",
                                    f"this write to {w.written_table} fires the trigger tag {t.text!r} of {r.spec.name} "
                                    f"({t.span}), but does not bind {part.name}; bind it (a :{part.name} in the statement), "
                                    f"look it up (lookup: true, for UPDATE and DELETE), or drop the whole query "
                                    f"(all: true instead of tags in {r.spec.path})",
                                )
                            )
                            parts = []
                            break
                    if parts:
                        tags[repr(parts)] = tuple(parts)
        lookup = _lookup_plan(w, sorted(needed)) if needed else None
        fired = tuple(tags[k] for k in sorted(tags))
        problems += check_kept_tags(w.spec, fired, sets)
        effects[w.spec.name] = WriteEffects(fired, tuple(sorted(generations)), lookup, sets)
    if problems:
        raise SpecError(problems)
    return effects
