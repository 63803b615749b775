"""``store: bitmap`` specs after the SQL stage: their member column, and the writes that maintain them.

A bitmap spec may declare ``cache.bitmap.maintain``: a ``write: through``
INSERT into that table sets the written row's member in the cached set, a
DELETE clears it, and the ``counters`` (int fields of other read specs'
entries) move by their change per member, all in one script after the
commit (flughafen/bitmap_writes.py). Such a write does not fire the triggers
of the set's spec and its counter specs on that table: it keeps their
entries right instead of dropping them. UPDATEs and ``write: behind``
writes fire the triggers as before.

Rules (each a code of its own):
- FG100: the member is a result column: int, or str with ``seats``.
- FG103: the maintained table and its columns exist.
- FG104: a maintaining write supplies every key column and the member
  (bound by the statement, or looked up before a DELETE); like FG071.
- FG105: each counter names a read spec (store: json, returns: one,
  stampede: lock) whose parameters the set's spec has, and int fields of it.
- FG106: no tag the maintaining write drops is one the maintained entries
  are registered under (the write would drop what it just kept right).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from generator.diagnostics import Diagnostic
from generator.model import Column, CompiledQuery, Literal_, Spec, Template
from generator.schema import Catalog

Source = tuple[str, str]  # ("param", write parameter) or ("row", looked-up column)


@dataclass(frozen=True, slots=True)
class CounterPlan:
    spec: Spec
    version: str
    params: tuple[int, ...]  # per counter parameter: its index among the set's parameters
    fields: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class SetPlan:
    """One maintained set, as one write changes it."""

    spec: Spec
    version: str
    op: str  # "set" (INSERT) or "clear" (DELETE)
    args: tuple[Source, ...]  # per parameter of the set's spec
    member: Source
    member_type: str
    counters: tuple[CounterPlan, ...]


def _hint(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(sorted(names)) or 'none'}"


def check_bitmap(spec: Spec, columns: tuple[Column, ...], catalog: Catalog) -> list[Diagnostic]:
    """FG100 and FG103, for one compiled read spec."""
    bitmap = spec.cache.bitmap if spec.cache is not None else None
    if bitmap is None:
        return []
    diags = []
    by_name = {c.name: c for c in columns}
    member = by_name.get(bitmap.member)
    if member is None:
        diags.append(Diagnostic(bitmap.span, "FG100", f"cache.bitmap.member {bitmap.member!r} is not a result column; {_hint(bitmap.member, set(by_name))}"))
    elif bitmap.seats is None and member.type != "int":
        diags.append(Diagnostic(bitmap.span, "FG100", f"member {member.name!r} is {member.type}; a bitmap's members are int offsets, or seat labels with seats: (e.g. seats: ABCDEF)"))
    elif bitmap.seats is not None and member.type != "str":
        diags.append(Diagnostic(bitmap.span, "FG100", f"member {member.name!r} is {member.type}, but seats: maps seat labels (str); remove seats: for int offsets"))
    m = bitmap.maintain
    if m is None:
        return diags
    tdef = catalog.table(m.table)
    if tdef is None:
        return diags + [Diagnostic(m.span, "FG103", f"maintain names table {m.table!r}, which specs/schema.sql does not define; {_hint(m.table, {t.name for t in catalog.tables})}")]
    cols = {c.name for c in tdef.columns}
    if m.member_column not in cols:
        diags.append(Diagnostic(m.member_column_span, "FG103", f"table {m.table!r} has no column {m.member_column!r} for the member; set member_column: ({_hint(m.member_column, cols)})"))
    for param, column, where in m.param_columns:
        if column not in cols:
            diags.append(Diagnostic(where, "FG103", f"table {m.table!r} has no column {column!r} for parameter {param!r}; map it with param_columns: {{{param}: <column>}} ({_hint(column, cols)})"))
    return diags


def _counters(r: CompiledQuery, reads: dict[str, CompiledQuery], problems: list[Diagnostic]) -> tuple[CounterPlan, ...]:
    """FG105: the counter specs of one maintained set."""
    assert r.spec.cache is not None and r.spec.cache.bitmap is not None and r.spec.cache.bitmap.maintain is not None
    out = []
    index = {p.name: (i, p.type) for i, p in enumerate(r.spec.params)}
    for c in r.spec.cache.bitmap.maintain.counters:
        q = reads.get(c.spec)
        if q is None:
            problems.append(Diagnostic(c.span, "FG105", f"counters names {c.spec!r}, which is no read spec; {_hint(c.spec, set(reads))}"))
            continue
        cache = q.spec.cache
        assert cache is not None
        if cache.store != "json" or q.spec.returns != "one" or cache.stampede != "lock":
            problems.append(Diagnostic(c.span, "FG105", f"counter spec {c.spec} must be store: json, returns: one and stampede: lock (it is {cache.store}, {q.spec.returns}, {cache.stampede})"))
            continue
        missing = [p.name for p in q.spec.params if index.get(p.name, (0, None))[1] != p.type]
        if missing:
            problems.append(Diagnostic(c.span, "FG105", f"counter spec {c.spec} takes {', '.join(missing)}, which {r.spec.name} has no parameter of the same name and type for; its entry could not be found"))
            continue
        ints = {col.name for col in q.columns if col.type == "int" and not col.nullable}
        bad = [(f, where) for f, _, where in c.fields if f not in ints]
        for f, where in bad:
            problems.append(Diagnostic(where, "FG105", f"{c.spec} has no int, non-null result column {f!r} to count with; {_hint(f, ints)}"))
        if not bad:
            fields = tuple(sorted((f, d) for f, d, _ in c.fields))
            out.append(CounterPlan(q.spec, q.version, tuple(index[p.name][0] for p in q.spec.params), fields))
    return tuple(out)


def _source(w: CompiledQuery, column: str, can_lookup: bool, needed: set[str]) -> Source | None:
    bound = dict(w.bound_columns)
    if column in bound:
        return ("param", bound[column])
    if can_lookup:
        needed.add(column)
        return ("row", column)
    return None


WritePlans = dict[str, tuple[tuple[SetPlan, ...], frozenset[str], tuple[str, ...]]]


def plan_sets(queries: list[CompiledQuery], problems: list[Diagnostic]) -> WritePlans:
    """Per write spec: the sets it maintains, the read specs whose triggers it replaces, the columns to look up.

    Problems (FG104, FG105) are added to ``problems``, for the caller to report with its own.
    """
    reads = {q.spec.name: q for q in queries if q.spec.kind == "read"}
    maintained = [r for r in reads.values() if r.spec.cache and r.spec.cache.bitmap and r.spec.cache.bitmap.maintain]
    counters = {r.spec.name: _counters(r, reads, problems) for r in maintained}
    out: WritePlans = {}
    for w in (q for q in queries if q.spec.kind == "write"):
        statement = w.spec.sql.lstrip()[:6].upper()
        if w.spec.write != "through" or statement not in ("INSERT", "DELETE"):
            continue
        plans: list[SetPlan] = []
        replaced: set[str] = set()
        needed: set[str] = set()
        can_lookup = w.spec.lookup and statement == "DELETE"
        for r in maintained:
            m = r.spec.cache.bitmap.maintain  # type: ignore[union-attr]
            assert m is not None
            if m.table != w.written_table:
                continue
            args = [_source(w, column, can_lookup, needed) for _, column, _ in m.param_columns]
            member = _source(w, m.member_column, can_lookup, needed)
            unbound = [column for (_, column, _), a in zip(m.param_columns, args) if a is None] + ([m.member_column] if member is None else [])
            if unbound or member is None:
                problems.append(
                    Diagnostic(
                        w.spec.sql_span,
                        "FG104",
                        f"this write to {m.table} keeps the set of {r.spec.name} ({m.span}) up to date, but does not bind "
                        f"{', '.join(unbound)}; bind it (:{unbound[0]} in the statement), look it up (lookup: true, for DELETE), "
                        f"or take maintain: out of {r.spec.path} so writes to {m.table} drop the set by its triggers",
                    )
                )
                continue
            bitmap = r.spec.cache.bitmap  # type: ignore[union-attr]
            assert bitmap is not None
            member_type = "str" if bitmap.seats is not None else "int"
            plan = SetPlan(r.spec, r.version, "set" if statement == "INSERT" else "clear", tuple(a for a in args if a), member, member_type, counters[r.spec.name])
            plans.append(plan)
            replaced.add(r.spec.name)
            replaced.update(c.spec.name for c in plan.counters)
        if plans:
            out[w.spec.name] = (tuple(sorted(plans, key=lambda p: p.spec.name)), frozenset(replaced), tuple(sorted(needed)))
    return out


def _skeleton(parts: tuple[object, ...]) -> tuple[str | None, ...]:
    return tuple(p.text if isinstance(p, Literal_) else p if isinstance(p, str) else None for p in parts)


def check_kept_tags(write: Spec, fired: tuple[tuple[object, ...], ...], plans: tuple[SetPlan, ...]) -> list[Diagnostic]:
    """FG106: the write must not drop a tag the entries it keeps right are registered under."""
    dropped = {_skeleton(t): t for t in fired}
    diags = []
    kept: list[Spec] = []
    for p in plans:
        kept += [p.spec, *(c.spec for c in p.counters)]
    for spec in dict.fromkeys(kept):
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
