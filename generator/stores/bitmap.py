"""``store: bitmap``: a set of small integers or seat labels as a Valkey bitmap; writes may keep it up to date.

A bitmap spec declares ``cache.bitmap`` (its member column, ``seats`` for
seat labels) and may declare ``maintain``: a ``write: through`` INSERT into
that table sets the written row's member in the cached set, a DELETE clears
it, and the ``counters`` (int fields of other read specs' entries) move by
their change per member, all in one script after the commit
(flughafen/stores/bitmap.py). Such a write does not fire the triggers of
the set's spec and its counter specs on that table: it keeps their entries
right instead of dropping them. UPDATEs and ``write: behind`` writes fire
the triggers as before.

Rules (each a code of its own):
- FG102: the spec fits a bitmap: returns many, no stampede: early, the lock
  for a maintained set, a member not named like a parameter.
- FG101: ``seats`` is a seat alphabet.
- FG100: the member is a result column: int, or str with ``seats``.
- FG103: the maintained table and its columns exist.
- FG104: a maintaining write supplies every key column and the member
  (bound by the statement, or looked up before a DELETE); like FG071.
- FG105: each counter names a read spec (store: json, returns: one,
  stampede: lock) whose parameters the set's spec has, and int fields of it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import yaml
from sqlglot import exp

from generator.code import Code, keywords, literal, name, py_tuple
from generator.diagnostics import Diagnostic, Span
from generator.model import Column, CompiledQuery, Field, FromParam, FromRow, Literal_, Param, Spec, StoreOptions, Value
from generator.names import name_problem
from generator.schema import Catalog
from generator.stores.base import CacheSection, OwnField, Reader, StoreKind, StorePlan, WritePlans, refuse_early, tag_value

_SEATS = re.compile(r"[A-Z]{1,26}\Z")
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


# ------------------------------------------------------------------ options


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """``counters: {seat_availability: {booked: 1, available: -1}}``: fields that follow a set's size."""

    spec: str
    span: Span
    fields: tuple[tuple[str, int, Span], ...]  # (field, change per member added, where)


@dataclass(frozen=True, slots=True)
class MaintainSpec:
    """``cache.bitmap.maintain``: writes to ``table`` set (INSERT) or clear (DELETE) the written row's member."""

    table: str
    span: Span
    member_column: str
    member_column_span: Span  # of member_column:, or of table: when it is left to default
    param_columns: tuple[tuple[str, str, Span], ...]  # (key parameter, column, where): every key parameter
    counters: tuple[CounterSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class BitmapOptions(StoreOptions):
    """``cache.bitmap`` of a ``store: bitmap`` spec."""

    member: str  # the result column
    span: Span  # of the member's value
    seats: str | None = None  # seat letters: members are labels such as "12A"
    maintain: MaintainSpec | None = None


def options(spec: Spec) -> BitmapOptions:
    """The bitmap fields of a spec the spec stage accepted as store: bitmap."""
    assert spec.cache is not None and isinstance(spec.cache.options, BitmapOptions), spec.name
    return spec.cache.options


# -------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class CounterPlan:
    spec: Spec
    version: str
    params: tuple[int, ...]  # per counter parameter: its index among the set's parameters
    fields: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class SetUpdatePlan(StorePlan):
    """One maintained set, as one write changes it."""

    spec: Spec
    version: str
    op: str  # "set" (INSERT) or "clear" (DELETE)
    args: tuple[Value, ...]  # per parameter of the set's spec
    member: Value
    counters: tuple[CounterPlan, ...]

    def values(self) -> tuple[Value, ...]:
        return (*self.args, self.member)

    def expression(self, index: Mapping[str, int]) -> Code:
        spec, o = self.spec, options(self.spec)
        assert spec.cache is not None
        counters = [
            Code(f"Counter(name={literal(c.spec.name)}, version={literal(c.version)}, key={_key(c.spec, c.params)}, fields={literal(c.fields)})")
            for c in self.counters
        ]
        return Code(
            f"SetUpdate(name={literal(spec.name)}, version={literal(self.version)}, key={_key(spec)}, "
            f"args={py_tuple([tag_value(a, index) for a in self.args])}, arg_types={literal(tuple(p.type for p in spec.params))}, "
            f"member={tag_value(self.member, index)}, seats={literal(o.seats)}, op={literal(self.op)}, counters={py_tuple(counters)})"
        )

    def summary(self) -> str:
        return f"{self.spec.name} (its set{''.join(f', {c.spec.name} counts' for c in self.counters)})"


def _key(spec: Spec, order: tuple[int, ...] | None = None) -> Code:
    """A spec's key template as the runtime tuple; ``order`` maps a parameter to its index among the set's arguments."""
    assert spec.cache is not None
    names = [p.name for p in spec.params]
    parts: list[Code] = []
    for part in spec.cache.key.parts:
        if isinstance(part, Literal_):
            parts.append(literal(part.text))
        elif isinstance(part, Field):
            index = names.index(part.name)
            parts.append(literal(order[index] if order is not None else index))
    return py_tuple(parts)


# --------------------------------------------------------------------- kind


class Bitmap(StoreKind):
    name = "bitmap"
    summary = "a set of small integers or seat labels"
    template = "accessor_bitmap.py.jinja"
    test_template = "test_accessor_bitmap.py.jinja"
    codes = ("FG100", "FG101", "FG102", "FG103", "FG104", "FG105")
    write_arg = "sets"
    cache_fields: ClassVar = {
        "bitmap": OwnField(
            "For store: bitmap: member (the result column), seats (a seat-letter alphabet), maintain.",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["member"],
                "properties": {
                    "member": {
                        "type": "string",
                        "description": "The result column whose values are the set's members, an int column (0 to 1048575), or str with seats.",
                    },
                    "seats": {
                        "type": "string",
                        "pattern": "^[A-Z]{1,26}$",
                        "description": "Members are seat labels: a row number (1, 2, ...) and one of these letters, e.g. ABCDEFGHIJK.",
                    },
                    "maintain": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["table"],
                        "description": "Writes that change the set in place: INSERT into table sets the written row's member, DELETE clears it.",
                        "properties": {
                            "table": {"type": "string", "description": "The table whose INSERTs set and DELETEs clear members."},
                            "member_column": {"type": "string", "description": "The written table's column holding the member (default: the member's name)."},
                            "param_columns": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                                "description": "Key parameter -> the written table's column giving it (default: the parameter's own name).",
                            },
                            "counters": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "minProperties": 1,
                                    "additionalProperties": {"type": "integer", "not": {"const": 0}},
                                },
                                "description": "Read spec -> {int field: change per member added}; those entries move with the set.",
                            },
                        },
                    },
                },
            },
            "FG102",
        ),
    }

    # ---------------------------------------------------------------- spec

    def read_options(self, r: Reader, cache: CacheSection) -> StoreOptions | None:
        if cache.returns not in (None, "many"):
            r.error(
                cache.returns_span, "FG102", f"store: bitmap reads one member per row; returns: {cache.returns} does not fit, remove it (the default is many)"
            )
        refuse_early(r, cache, self.name, "FG102")
        if "bitmap" not in cache.fields:
            if isinstance(cache.node, yaml.MappingNode):
                r.error(cache.fields["store"][1], "FG011", "store: bitmap needs cache.bitmap with member: the result column whose values are the set's members")
            return None
        node = cache.fields["bitmap"][1]
        fields = r.mapping(node, "cache.bitmap", {"member": (), "seats": (), "maintain": ()})
        if "member" not in fields:
            if isinstance(node, yaml.MappingNode):
                r.error(node, "FG011", "cache.bitmap.member is required: the result column whose values are the set's members")
            return None
        member_node = fields["member"][1]
        member = r.string(member_node, "cache.bitmap.member")
        problem = name_problem(member.lower(), "member") if member is not None else None
        if member is not None and member.lower() in {p.name for p in cache.params}:
            problem = "is also a parameter"
        if problem is not None:
            r.error(
                member_node,
                "FG102",
                f"cache.bitmap.member {member!r} {problem}; contains() takes the member by name beside the parameters, so alias the column (SELECT ... AS other_name)",
            )
            member = None
        seats: str | None = None
        if "seats" in fields:
            seats = r.string(fields["seats"][1], "cache.bitmap.seats")
            if seats is not None and (not _SEATS.match(seats) or len(set(seats)) != len(seats)):
                r.error(
                    fields["seats"][1],
                    "FG101",
                    f"cache.bitmap.seats: {seats!r} is not a seat alphabet; write distinct capital letters A-Z in seat order, e.g. ABCDEFGHIJK",
                )
                seats = None
        maintain: MaintainSpec | None = None
        if "maintain" in fields:
            maintain = _maintain(r, fields["maintain"][1], cache.params, cache.refused_params, member)
            if maintain is not None and cache.stampede != "lock":
                r.error(
                    fields["maintain"][0],
                    "FG102",
                    f"a maintained set needs stampede: lock (a fill without the lock could store what a write is changing); remove stampede: {cache.stampede}",
                )
        if member is None or r.problems:
            return None
        return BitmapOptions(member.lower(), r.span(member_node), seats, maintain)

    # ----------------------------------------------------------------- sql

    def check_sql(self, spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
        """FG100: the member is a result column of the right type; FG103: the maintained table has its columns."""
        bitmap = options(spec)
        diags = []
        by_name = {c.name: c for c in columns}
        member = by_name.get(bitmap.member)
        if member is None:
            diags.append(
                Diagnostic(bitmap.span, "FG100", f"cache.bitmap.member {bitmap.member!r} is not a result column; {_hint(bitmap.member, set(by_name))}")
            )
        elif bitmap.seats is None and member.type != "int":
            diags.append(
                Diagnostic(
                    bitmap.span,
                    "FG100",
                    f"member {member.name!r} is {member.type}; a bitmap's members are int offsets, or seat labels with seats: (e.g. seats: ABCDEF)",
                )
            )
        elif bitmap.seats is not None and member.type != "str":
            diags.append(
                Diagnostic(bitmap.span, "FG100", f"member {member.name!r} is {member.type}, but seats: maps seat labels (str); remove seats: for int offsets")
            )
        m = bitmap.maintain
        if m is None:
            return diags
        tdef = catalog.table(m.table)
        if tdef is None:
            return [
                *diags,
                Diagnostic(
                    m.span,
                    "FG103",
                    f"maintain names table {m.table!r}, which specs/schema.sql does not define; {_hint(m.table, {t.name for t in catalog.tables})}",
                ),
            ]
        cols = {c.name for c in tdef.columns}
        if m.member_column not in cols:
            diags.append(
                Diagnostic(
                    m.member_column_span,
                    "FG103",
                    f"table {m.table!r} has no column {m.member_column!r} for the member; set member_column: ({_hint(m.member_column, cols)})",
                )
            )
        for param, column, where in m.param_columns:
            if column not in cols:
                diags.append(
                    Diagnostic(
                        where,
                        "FG103",
                        f"table {m.table!r} has no column {column!r} for parameter {param!r}; map it with param_columns: {{{param}: <column>}} ({_hint(column, cols)})",
                    )
                )
        return diags

    # ---------------------------------------------------------------- link

    def check_reads(self, reads: Sequence[CompiledQuery], absent: frozenset[str]) -> list[Diagnostic]:
        """FG105: the counter specs of every maintained set (one that failed before is not reported again)."""
        problems: list[Diagnostic] = []
        for r in _maintained(reads):
            _counters(r, reads, problems, absent)
        return problems

    def plan_write(self, write: CompiledQuery, reads: Sequence[CompiledQuery]) -> WritePlans:
        """The sets ``write`` keeps up to date, the read specs whose triggers it so replaces, the columns to look up (FG104)."""
        if write.spec.write != "through" or write.statement not in ("insert", "delete"):
            return WritePlans()
        plans: list[SetUpdatePlan] = []
        keeps: set[str] = set()
        needed: set[str] = set()
        problems: list[Diagnostic] = []
        can_lookup = write.spec.lookup and write.statement == "delete"
        for r in _maintained(reads):
            m = options(r.spec).maintain
            assert m is not None
            if m.table != write.written_table:
                continue
            args = [_source(write, column, can_lookup, needed) for _, column, _ in m.param_columns]
            member = _source(write, m.member_column, can_lookup, needed)
            unbound = [column for (_, column, _), a in zip(m.param_columns, args, strict=True) if a is None] + ([m.member_column] if member is None else [])
            if unbound or member is None:
                problems.append(
                    Diagnostic(
                        write.spec.sql_span,
                        "FG104",
                        f"this write to {m.table} keeps the set of {r.spec.name} ({m.span}) up to date, but does not bind "
                        f"{', '.join(unbound)}; bind it (:{unbound[0]} in the statement), look it up (lookup: true, for DELETE), "
                        f"or take maintain: out of {r.spec.path} so writes to {m.table} drop the set by its triggers",
                    )
                )
                continue
            counters = _counters(r, reads, [])
            op = "set" if write.statement == "insert" else "clear"
            plans.append(SetUpdatePlan(r.spec, r.version, op, tuple(a for a in args if a), member, counters))
            keeps.add(r.spec.name)
            keeps.update(c.spec.name for c in counters)
        return WritePlans(tuple(plans), frozenset(keeps), tuple(sorted(needed)), problems=tuple(problems))

    def write_import(self, plans: Sequence[StorePlan]) -> Code:
        counted = any(isinstance(p, SetUpdatePlan) and p.counters for p in plans)
        return Code(f"from flughafen.stores.bitmap import {'Counter, ' if counted else ''}SetUpdate")

    # -------------------------------------------------------------- render

    def context(self, q: CompiledQuery, base: Mapping[str, object], declarations: Sequence[Code]) -> dict[str, object]:
        bitmap = options(q.spec)
        annotation = Code("str" if bitmap.seats is not None else "int")
        member = name(bitmap.member, "member")
        return {
            "bitmap": bitmap,
            "member": member,
            "member_annotation": annotation,
            "member_signature_rt": keywords([*declarations, Code(f"{member}: {annotation}")], runtime=True),
            "counters": [c.spec for c in bitmap.maintain.counters] if bitmap.maintain else [],
        }


def _maintain(r: Reader, node: yaml.Node, params: tuple[Param, ...], refused: frozenset[str], member: str | None) -> MaintainSpec | None:
    fields = r.mapping(node, "cache.bitmap.maintain", {"table": (), "member_column": (), "param_columns": (), "counters": ()})
    if "table" not in fields:
        if isinstance(node, yaml.MappingNode):
            r.error(node, "FG011", "cache.bitmap.maintain.table is required: the table whose INSERTs set and DELETEs clear members")
        return None
    table = r.string(fields["table"][1], "cache.bitmap.maintain.table")
    member_column = member
    if "member_column" in fields:
        member_column = r.string(fields["member_column"][1], "cache.bitmap.maintain.member_column")
    names = [p.name for p in params]
    columns: dict[str, tuple[str, yaml.Node]] = {}
    if "param_columns" in fields:
        pnode = fields["param_columns"][1]
        if not isinstance(pnode, yaml.MappingNode):
            r.error(pnode, "FG012", "cache.bitmap.maintain.param_columns must map key parameters to columns, e.g. {flight_id: flight_id}")
        else:
            for k, v in pnode.value:
                if k.value in refused:
                    continue  # its declaration is reported
                if k.value not in names:
                    r.error(k, "FG103", f"param_columns names {k.value!r}, which is not a parameter; the parameters are: {', '.join(names) or 'none'}")
                    continue
                column = r.string(v, f"cache.bitmap.maintain.param_columns.{k.value}")
                if column is not None:
                    columns[k.value] = (column.lower(), v)
    pairs = tuple((p.name, columns[p.name][0], r.span(columns[p.name][1])) if p.name in columns else (p.name, p.name, p.span) for p in params)
    counters = _counter_specs(r, fields["counters"][1]) if "counters" in fields else ()
    if table is None or member_column is None:
        return None
    where = r.span(fields["table"][1])
    column_where = r.span(fields["member_column"][1]) if "member_column" in fields else where
    return MaintainSpec(table.lower(), where, member_column.lower(), column_where, pairs, counters)


def _counter_specs(r: Reader, node: yaml.Node) -> tuple[CounterSpec, ...]:
    if not isinstance(node, yaml.MappingNode):
        r.error(node, "FG012", "cache.bitmap.maintain.counters must map read specs to {field: change}, e.g. {seat_availability: {booked: 1, available: -1}}")
        return ()
    out = []
    for k, v in node.value:
        name = str(k.value)
        if not isinstance(v, yaml.MappingNode) or not v.value:
            r.error(v, "FG012", f"counters.{name} must map int fields to their change per member added, e.g. {{booked: 1}}")
            continue
        changes = []
        for fk, fv in v.value:
            delta = fv.value if isinstance(fv, yaml.ScalarNode) and fv.tag == "tag:yaml.org,2002:int" else None
            if delta is None or int(delta) == 0:
                r.error(fv, "FG105", f"counters.{name}.{fk.value}: the change per member added must be a whole number other than 0, e.g. 1 or -1")
                continue
            changes.append((str(fk.value).lower(), int(delta), r.span(fk)))
        if _NAME.match(name):
            out.append(CounterSpec(name, r.span(k), tuple(changes)))
        else:
            r.error(k, "FG105", f"counters: {name!r} is not a spec name; name a read spec, e.g. seat_availability")
    return tuple(out)


def _hint(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(sorted(names)) or 'none'}"


def _maintained(reads: Sequence[CompiledQuery]) -> list[CompiledQuery]:
    """The bitmap read specs that declare maintain:, by name."""
    return [r for r in BITMAP.mine(reads) if options(r.spec).maintain is not None]


def _counters(r: CompiledQuery, reads: Sequence[CompiledQuery], problems: list[Diagnostic], absent: frozenset[str] = frozenset()) -> tuple[CounterPlan, ...]:
    """The counter specs of one maintained set; FG105 problems are added to ``problems`` (none for ``absent`` specs)."""
    maintain = options(r.spec).maintain
    assert maintain is not None
    by_name = {q.spec.name: q for q in reads}
    out = []
    index = {p.name: (i, p.type) for i, p in enumerate(r.spec.params)}
    for c in maintain.counters:
        q = by_name.get(c.spec)
        if q is None and c.spec in absent:
            continue
        if q is None:
            problems.append(Diagnostic(c.span, "FG105", f"counters names {c.spec!r}, which is no read spec; {_hint(c.spec, set(by_name))}"))
            continue
        cache = q.spec.cache
        assert cache is not None
        if cache.store != "json" or q.spec.returns != "one" or cache.stampede != "lock":
            problems.append(
                Diagnostic(
                    c.span,
                    "FG105",
                    f"counter spec {c.spec} must be store: json, returns: one and stampede: lock (it is {cache.store}, {q.spec.returns}, {cache.stampede})",
                )
            )
            continue
        missing = [p.name for p in q.spec.params if index.get(p.name, (0, None))[1] != p.type]
        if missing:
            problems.append(
                Diagnostic(
                    c.span,
                    "FG105",
                    f"counter spec {c.spec} takes {', '.join(missing)}, which {r.spec.name} has no parameter of the same name and type for; its entry could not be found",
                )
            )
            continue
        ints = {col.name for col in q.columns if col.type == "int" and not col.nullable}
        bad = [(f, where) for f, _, where in c.fields if f not in ints]
        for f, where in bad:
            problems.append(Diagnostic(where, "FG105", f"{c.spec} has no int, non-null result column {f!r} to count with; {_hint(f, ints)}"))
        if not bad:
            fields = tuple(sorted((f, d) for f, d, _ in c.fields))
            out.append(CounterPlan(q.spec, q.version, tuple(index[p.name][0] for p in q.spec.params), fields))
    return tuple(out)


def _source(w: CompiledQuery, column: str, can_lookup: bool, needed: set[str]) -> Value | None:
    bound = dict(w.bound_columns)
    if column in bound:
        return FromParam(bound[column])
    if can_lookup:
        needed.add(column)
        return FromRow(column)
    return None


BITMAP = Bitmap()
