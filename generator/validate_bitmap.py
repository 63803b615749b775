"""``cache.bitmap`` of a ``store: bitmap`` spec -> BitmapSpec (the spec-local rules).

What needs the SQL or other specs (the member column's type, the written
table's columns, the counter specs, the writes) is checked later, in
bitmaps.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

from generator.spec.fields import BITMAP_FIELDS, MAINTAIN_FIELDS, RESERVED_NAMES
from generator.spec.load import span
from generator.model import BitmapSpec, CounterSpec, MaintainSpec, Param

if TYPE_CHECKING:
    from generator.spec.validate import _Checker

_SEATS = re.compile(r"[A-Z]{1,26}\Z")
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def bitmap_section(c: _Checker, node: yaml.Node, params: tuple[Param, ...], stampede: str | None) -> BitmapSpec | None:
    fields = c.mapping(node, "cache.bitmap", BITMAP_FIELDS)
    if "member" not in fields:
        if isinstance(node, yaml.MappingNode):
            c.error(node, "FG011", "cache.bitmap.member is required: the result column whose values are the set's members")
        return None
    member_node = fields["member"][1]
    member = c.string(member_node, "cache.bitmap.member")
    if member is not None and (member.lower() in {p.name for p in params} or member.lower() in RESERVED_NAMES):
        c.error(member_node, "FG102", f"cache.bitmap.member {member!r} is also a parameter or a reserved name; the accessors take it by name, so alias the column (SELECT ... AS other_name)")
        member = None
    seats: str | None = None
    if "seats" in fields:
        seats = c.string(fields["seats"][1], "cache.bitmap.seats")
        if seats is not None and (not _SEATS.match(seats) or len(set(seats)) != len(seats)):
            c.error(fields["seats"][1], "FG101", f"cache.bitmap.seats: {seats!r} is not a seat alphabet; write distinct capital letters A-Z in seat order, e.g. ABCDEFGHIJK")
            seats = None
    maintain: MaintainSpec | None = None
    if "maintain" in fields:
        maintain = _maintain(c, fields["maintain"][1], params, member)
        if maintain is not None and stampede != "lock":
            c.error(fields["maintain"][0], "FG102", f"a maintained set needs stampede: lock (a fill without the lock could store what a write is changing); remove stampede: {stampede}")
    if member is None or c.problems:
        return None
    return BitmapSpec(member.lower(), span(c.path, member_node), seats, maintain)


def _maintain(c: _Checker, node: yaml.Node, params: tuple[Param, ...], member: str | None) -> MaintainSpec | None:
    fields = c.mapping(node, "cache.bitmap.maintain", MAINTAIN_FIELDS)
    if "table" not in fields:
        if isinstance(node, yaml.MappingNode):
            c.error(node, "FG011", "cache.bitmap.maintain.table is required: the table whose INSERTs set and DELETEs clear members")
        return None
    table = c.string(fields["table"][1], "cache.bitmap.maintain.table")
    member_column = member
    if "member_column" in fields:
        member_column = c.string(fields["member_column"][1], "cache.bitmap.maintain.member_column")
    names = [p.name for p in params]
    columns: dict[str, tuple[str, yaml.Node]] = {}
    if "param_columns" in fields:
        pnode = fields["param_columns"][1]
        if not isinstance(pnode, yaml.MappingNode):
            c.error(pnode, "FG012", "cache.bitmap.maintain.param_columns must map key parameters to columns, e.g. {flight_id: flight_id}")
        else:
            for k, v in pnode.value:
                if k.value not in names:
                    c.error(k, "FG103", f"param_columns names {k.value!r}, which is not a parameter; the parameters are: {', '.join(names) or 'none'}")
                    continue
                column = c.string(v, f"cache.bitmap.maintain.param_columns.{k.value}")
                if column is not None:
                    columns[k.value] = (column.lower(), v)
    pairs = tuple(
        (p.name, columns[p.name][0], span(c.path, columns[p.name][1])) if p.name in columns else (p.name, p.name, p.span) for p in params
    )
    counters = _counters(c, fields["counters"][1]) if "counters" in fields else ()
    if table is None or member_column is None:
        return None
    where = span(c.path, fields["table"][1])
    column_where = span(c.path, fields["member_column"][1]) if "member_column" in fields else where
    return MaintainSpec(table.lower(), where, member_column.lower(), column_where, pairs, counters)


def _counters(c: _Checker, node: yaml.Node) -> tuple[CounterSpec, ...]:
    if not isinstance(node, yaml.MappingNode):
        c.error(node, "FG012", "cache.bitmap.maintain.counters must map read specs to {field: change}, e.g. {seat_availability: {booked: 1, available: -1}}")
        return ()
    out = []
    for k, v in node.value:
        name = str(k.value)
        if not isinstance(v, yaml.MappingNode) or not v.value:
            c.error(v, "FG012", f"counters.{name} must map int fields to their change per member added, e.g. {{booked: 1}}")
            continue
        changes = []
        for fk, fv in v.value:
            delta = fv.value if isinstance(fv, yaml.ScalarNode) and fv.tag == "tag:yaml.org,2002:int" else None
            if delta is None or int(delta) == 0:
                c.error(fv, "FG105", f"counters.{name}.{fk.value}: the change per member added must be a whole number other than 0, e.g. 1 or -1")
                continue
            changes.append((str(fk.value).lower(), int(delta), span(c.path, fk)))
        if _NAME.match(name):
            out.append(CounterSpec(name, span(c.path, k), tuple(changes)))
        else:
            c.error(k, "FG105", f"counters: {name!r} is not a spec name; name a read spec, e.g. seat_availability")
    return tuple(out)
