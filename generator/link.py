"""Which writes reach which reads: CompiledQuery list -> Linked, typed, nothing rendered.

A write to table T fires every read spec's trigger on T. Each trigger tag's
``{column}`` must be known after the write: bound by the write's parameters
(``WHERE booking_id = :booking_id`` binds booking_id), or looked up from the
touched rows before the write (``lookup: true``, UPDATE and DELETE only). If
neither, the build fails (FG071) and names the three ways out.

Each store kind adds its write plans (``StoreKind.plan_write``): a hash
field refreshed in place, a ranking's score moved, a set's bit set. A write
that keeps a read spec's entries up to date this way does not fire that
spec's triggers, and must not drop a tag they are registered under (FG106).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from generator.diagnostics import Diagnostic, SpecError
from generator.model import DIALECTS, CompiledQuery, Dialect, Field, FromParam, FromRow, Literal_, Spec, TagPart, Template, Value
from generator.sql.dialects import render
from generator.stores import STORES
from generator.stores.base import StorePlan

Tag = tuple[TagPart, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The SELECT that reads the touched rows' ``columns`` before the write."""

    sql: dict[Dialect, str]
    param_order: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KindPlans:
    """One store kind's plans in one write."""

    kind: str
    plans: tuple[StorePlan, ...]


@dataclass(frozen=True, slots=True)
class WriteLink:
    """What one write does to the cache after it commits."""

    write: CompiledQuery
    tags: tuple[Tag, ...]  # tags dropped, sorted
    generations: tuple[str, ...]  # read specs dropped whole, sorted
    lookup: Lookup | None
    plans: tuple[KindPlans, ...] = ()  # in the registry's order

    def values(self) -> tuple[Value, ...]:
        """Every value the write's effects take from it."""
        return tuple(p for t in self.tags for p in t if not isinstance(p, str)) + tuple(v for kp in self.plans for plan in kp.plans for v in plan.values())


@dataclass(frozen=True, slots=True)
class Linked:
    """The reads, and each write joined to the reads it reaches; both sorted by name."""

    reads: tuple[CompiledQuery, ...]
    writes: tuple[WriteLink, ...]


def link(queries: Sequence[CompiledQuery], absent: frozenset[str] = frozenset()) -> Linked:
    """Join every write to the reads it reaches; raise one SpecError with every problem (FG071, FG106, the kinds').

    ``absent``: specs that exist but failed an earlier stage (reported there); a
    reference to one is not reported again.
    """
    ordered = sorted(queries, key=lambda q: q.spec.name)
    reads = [q for q in ordered if q.spec.kind == "read"]
    problems: list[Diagnostic] = []
    for kind in STORES.values():
        problems += kind.check_reads(reads, absent)
    writes = []
    for w in (q for q in ordered if q.spec.kind == "write"):
        by_kind = {name: kind.plan_write(w, reads) for name, kind in STORES.items()}
        for plans in by_kind.values():
            problems += plans.problems
        keeps = frozenset().union(*(p.keeps for p in by_kind.values()))
        tags, generations, needed = _fire(w, reads, keeps, problems)
        needed.update(c for p in by_kind.values() for c in p.lookup)
        generations.update(g for p in by_kind.values() for g in p.generations)
        problems += _check_kept_tags(w.spec, tags, [q.spec for q in reads if q.spec.name in keeps])
        writes.append(
            WriteLink(
                w,
                tags,
                tuple(sorted(generations)),
                _lookup(w, sorted(needed)) if needed else None,
                tuple(KindPlans(name, p.plans) for name, p in by_kind.items() if p.plans),
            )
        )
    if problems:
        raise SpecError(problems)
    return Linked(tuple(reads), tuple(writes))


def _fire(w: CompiledQuery, reads: list[CompiledQuery], keeps: frozenset[str], problems: list[Diagnostic]) -> tuple[tuple[Tag, ...], set[str], set[str]]:
    """The tags the write drops, the read specs it drops whole, the columns it must look up (FG071)."""
    bound = dict(w.bound_columns)
    can_lookup = w.spec.lookup and w.statement != "insert"
    tags: dict[Tag, None] = {}
    generations: set[str] = set()
    needed: set[str] = set()
    for r in reads:
        for trig in r.spec.invalidate:
            if trig.table != w.written_table or r.spec.name in keeps:
                continue
            if trig.all:
                generations.add(r.spec.name)
            for t in trig.tags:
                tag = _fill(t, bound, can_lookup)
                unbound = [p.name for p in t.parts if isinstance(p, Field) and p.name not in bound and not can_lookup]
                if unbound:
                    problems.append(
                        Diagnostic(
                            w.spec.sql_span,
                            "FG071",
                            f"this write to {w.written_table} fires the trigger tag {t.text!r} of {r.spec.name} "
                            f"({t.span}), but does not bind {unbound[0]}; bind it (a :{unbound[0]} in the statement), "
                            f"look it up (lookup: true, for UPDATE and DELETE), or drop the whole query "
                            f"(all: true instead of tags in {r.spec.path})",
                        )
                    )
                    continue
                needed.update(p.column for p in tag if isinstance(p, FromRow))
                tags[tag] = None
    return tuple(sorted(tags, key=_tag_order)), generations, needed


def _tag_order(tag: Tag) -> tuple[tuple[int, str], ...]:
    """Tags sorted by their literal text and values, so the output does not depend on the specs' order."""
    return tuple((0, p) if isinstance(p, str) else (1, p.name) if isinstance(p, FromParam) else (2, p.column) for p in tag)


def _fill(t: Template, bound: dict[str, str], can_lookup: bool) -> Tag:
    """A trigger tag as the write fills it: a bound column from its parameter, else from the looked-up row."""
    return tuple(p.text if isinstance(p, Literal_) else FromParam(bound[p.name]) if p.name in bound else FromRow(p.name) for p in t.parts)


def _lookup(write: CompiledQuery, columns: list[str]) -> Lookup:
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
    return Lookup(sql, order, tuple(columns))


def _skeleton(parts: Sequence[object]) -> tuple[str | None, ...]:
    """A tag's literal text, its values left open: two tags that can be equal have equal skeletons."""
    return tuple(p.text if isinstance(p, Literal_) else p if isinstance(p, str) else None for p in parts)


def _check_kept_tags(write: Spec, fired: tuple[Tag, ...], kept: list[Spec]) -> list[Diagnostic]:
    """FG106: the write must not drop a tag the entries it keeps right are registered under."""
    dropped = {_skeleton(t) for t in fired}
    diags = []
    for spec in kept:
        assert spec.cache is not None
        for tag in spec.cache.tags:
            if _skeleton(tag.parts) in dropped:
                diags.append(
                    Diagnostic(
                        tag.span,
                        "FG106",
                        f"{write.name} keeps the entries of {spec.name} up to date, but also drops the tag {tag.text!r} "
                        f"(another read spec's trigger), which would drop them right after; register {spec.name} under a tag "
                        f"{write.name} does not drop (e.g. {_rename(spec, tag)!r}, with its invalidate: entries to match)",
                    )
                )
    return diags


def _rename(spec: Spec, tag: Template) -> str:
    """A tag of the spec's own: ``flight:{flight_id}`` -> ``seat_availability:{flight_id}``."""
    rest = tag.text.split(":", 1)[1] if ":" in tag.text else tag.text
    return f"{spec.name}:{rest}"
