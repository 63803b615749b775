"""RawSpec -> Spec: every field checked, every problem reported with its position.

The allowed fields and values live in ``fields.py``; the JSON Schema is made
from the same tables, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime
import math
import difflib
import keyword
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, cast

import yaml

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.fields import (
    CACHE_FIELDS,
    PARAM_FIELDS,
    RESERVED_NAMES,
    SPEC_FIELDS,
    TRIGGER_FIELDS,
    COLUMN_FIELDS,
    MOVE_FIELDS,
)
from generator.load import RawSpec, span
from generator.model import (
    PY_TYPES,
    CacheSpec,
    ColumnOverride,
    Dialect,
    Param,
    PyType,
    Spec,
    Template,
    Trigger,
)
from generator.templating import TemplateKind, parse_template
from generator.validate_bitmap import bitmap_section

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
MAX_TTL = 366 * 24 * 3600


class _Checker:
    """Collects diagnostics for one file while turning nodes into values."""

    def __init__(self, raw: RawSpec):
        self.raw = raw
        self.path = raw.path
        self.problems: list[Diagnostic] = []

    def error(self, node: yaml.Node | Span, code: str, message: str) -> None:
        where = node if isinstance(node, Span) else span(self.path, node)
        self.problems.append(Diagnostic(where, code, message))

    def mapping(self, node: yaml.Node, what: str, allowed: dict[str, Any]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); unknown keys are reported with a suggestion."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "FG012", f"{what} must be a mapping of fields")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(sorted(allowed))}"
                self.error(k, "FG010", f"unknown field {what + '.' if what != 'spec' else ''}{key}; {hint}")
                continue
            out[key] = (k, v)
        return out

    def string(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.error(node, "FG012", f"{what} must be a string, found {_describe(node)}")
            return None
        return str(node.value)

    def choice(self, node: yaml.Node, what: str, options: tuple[str, ...]) -> str | None:
        value = self.string(node, what)
        if value is None:
            return None
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"write one of: {' | '.join(options)}"
            self.error(node, "FG013", f"{what}: {value!r} is not allowed; {hint}")
            return None
        return value

    def duration(self, node: yaml.Node, what: str) -> int | None:
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        seconds = parse_duration(value) if isinstance(value, str) else None
        if seconds is None or not 0 < seconds <= MAX_TTL:
            shown = repr(value) if isinstance(value, str) else _describe(node)
            self.error(node, "FG040", f"{what}: {shown} is not a duration; write seconds (300) or 30s / 5m / 1h / 1d, more than 0 and at most a year")
            return None
        return seconds

    def template(self, node: yaml.Node, what: str, kind: TemplateKind) -> Template | None:
        text = self.string(node, what)
        if text is None:
            return None
        start = span(self.path, node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            start = Span(start.path, start.line, start.col + 1)
        try:
            return parse_template(text, start, kind)
        except SpecError as e:
            self.problems.extend(e.diagnostics)
            return None

    def templates(self, node: yaml.Node, what: str, kind: TemplateKind) -> tuple[Template, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "FG012", f"{what} must be a list of templates, e.g. [\"flight:{{flight_id}}\"]")
            return ()
        found = [self.template(item, what, kind) for item in node.value]
        return tuple(t for t in found if t is not None)


def parse_duration(text: str) -> int | None:
    """``"90"`` -> 90, ``"5m"`` -> 300, ``"1h30m"`` -> 5400; None when it does not parse.

    >>> [parse_duration(t) for t in ["300", "30s", "5m", "1h", "1d", "1h30m", "5 minutes", ""]]
    [300, 30, 300, 3600, 86400, 5400, None, None]
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    m = _DURATION.match(text)
    if not text or m is None:
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def parse_jitter(text: str) -> float | None:
    """``"10%"`` -> 0.1, ``"0.1"`` -> 0.1; None when it does not parse or is outside [0, 0.5].

    >>> [parse_jitter(t) for t in ["10%", "0.1", "0", "60%", "lots"]]
    [0.1, 0.1, 0.0, None, None]
    """
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 0.5 else None


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    return f"{tag} {node.value!r}" if tag != "null" else "nothing (null)"


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _scalar(node: yaml.ScalarNode) -> object:
    """The value of a scalar node as its resolved tag says, built from the node (never by parsing its text again).

    >>> _scalar(yaml.compose('"a: b: c"'))
    'a: b: c'
    >>> _scalar(yaml.compose("12"))
    12
    """
    return _CONSTRUCTOR.construct_object(node, deep=True)


def _bool(c: _Checker, node: yaml.Node, what: str) -> bool | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
        return bool(_scalar(node))
    c.error(node, "FG012", f"{what} must be true or false, found {_describe(node)}")
    return None


def _params(c: _Checker, node: yaml.Node) -> tuple[Param, ...]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return ()
    if not isinstance(node, yaml.MappingNode):
        c.error(node, "FG012", "params must be a mapping of name -> type, e.g. {origin: str, day: date}")
        return ()
    params: list[Param] = []
    for k, v in node.value:
        name = k.value if isinstance(k, yaml.ScalarNode) else ""
        where = span(c.path, k)
        if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name) or name in RESERVED_NAMES:
            c.error(k, "FG020", f"parameter name {name!r} must be a lower-case Python identifier, not a keyword nor one of {', '.join(sorted(RESERVED_NAMES))}")
            continue
        type_node: yaml.Node = v
        pattern: str | None = None
        nullable = False
        if isinstance(v, yaml.MappingNode):
            fields = c.mapping(v, f"params.{name}", PARAM_FIELDS)
            if "type" not in fields:
                c.error(v, "FG011", f"params.{name} needs a type, e.g. {{type: str}}")
                continue
            type_node = fields["type"][1]
            if "pattern" in fields:
                pattern = c.string(fields["pattern"][1], f"params.{name}.pattern")
                if pattern is not None:
                    try:
                        re.compile(pattern)
                    except re.error as e:
                        c.error(fields["pattern"][1], "FG031", f"params.{name}.pattern does not compile: {e}; write a Python regular expression")
                        pattern = None
            if "nullable" in fields:
                nullable = bool(_bool(c, fields["nullable"][1], f"params.{name}.nullable"))
        type_name = c.string(type_node, f"params.{name} type")
        if type_name is None:
            continue
        if type_name not in PY_TYPES:
            close = difflib.get_close_matches(type_name, PY_TYPES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"write one of: {' '.join(PY_TYPES)}"
            c.error(type_node, "FG030", f"params.{name}: unknown type {type_name!r}; {hint}")
            continue
        if pattern is not None and type_name != "str":
            c.error(type_node, "FG031", f"params.{name}: a pattern applies to str parameters only, this one is {type_name}")
            pattern = None
        params.append(Param(name, type_name, where, pattern, nullable))
    return tuple(params)


def _example_value(c: _Checker, node: yaml.Node, p: Param) -> tuple[bool, object]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        if p.nullable:
            return True, None
        c.error(node, "FG012", f"example value of {p.name} is null but the parameter is not nullable")
        return False, None
    try:
        value: object = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
    except (ValueError, OverflowError, yaml.YAMLError):  # e.g. 2024-13-45 looks like a date but is none
        value = None
    raw = node.value if isinstance(node, yaml.ScalarNode) else ""
    converters: dict[str, Callable[[], object]] = {
        "str": lambda: raw if node.tag == "tag:yaml.org,2002:str" else _fail(),
        "int": lambda: value if isinstance(value, int) and not isinstance(value, bool) else _fail(),
        "float": lambda: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _fail(),
        "decimal": lambda: Decimal(str(raw)),
        "bool": lambda: value if isinstance(value, bool) else _fail(),
        "date": lambda: value if type(value) is datetime.date else datetime.date.fromisoformat(str(raw)),
        "datetime": lambda: value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(str(raw)),
        "time": lambda: datetime.time.fromisoformat(str(raw)),
    }
    try:
        converted = converters[p.type]()
    except (ValueError, InvalidOperation, TypeError):
        c.error(node, "FG012", f"example value {raw!r} is not a {p.type} (the type of {p.name})")
        return False, None
    if isinstance(converted, (float, Decimal)) and not math.isfinite(converted):
        c.error(node, "FG012", f"example value {raw!r} of {p.name} is not a finite number; databases store no NaN or infinity in a {p.type} column")
        return False, None
    if p.pattern is not None and isinstance(converted, str) and not re.fullmatch(p.pattern, converted):
        c.error(node, "FG012", f"example value {raw!r} does not match the pattern of {p.name}: {p.pattern}")
        return False, None
    return True, converted


def _fail() -> object:
    raise ValueError


def _examples(c: _Checker, node: yaml.Node, params: tuple[Param, ...]) -> tuple[tuple[tuple[str, object], ...], ...]:
    if not isinstance(node, yaml.SequenceNode):
        c.error(node, "FG012", "examples must be a list of parameter sets, e.g. [{origin: JFK}]")
        return ()
    out = []
    by_name = {p.name: p for p in params}
    for item in node.value:
        fields = c.mapping(item, "examples[]", by_name)
        ok = True
        values: dict[str, object] = {}
        for name, (_, v) in fields.items():
            good, value = _example_value(c, v, by_name[name])
            ok = ok and good
            values[name] = value
        missing = [p.name for p in params if p.name not in fields]
        if missing and isinstance(item, yaml.MappingNode):
            c.error(item, "FG011", f"example lacks {', '.join(missing)}; give every parameter a value")
            ok = False
        if ok:
            out.append(tuple((p.name, values[p.name]) for p in params))
    return tuple(out)


def _cache(c: _Checker, node: yaml.Node, params: tuple[Param, ...], returns: str | None = None) -> CacheSpec | None:
    fields = c.mapping(node, "cache", CACHE_FIELDS)
    where = span(c.path, node)
    for required in ("key", "ttl"):
        if required not in fields and isinstance(node, yaml.MappingNode):
            c.error(node, "FG011", f"cache.{required} is required" + (" (a template such as \"flight:{flight_id}\")" if required == "key" else " (e.g. 5m)"))
    if "key" not in fields or "ttl" not in fields:
        return None
    key = c.template(fields["key"][1], "cache.key", "key")
    ttl = c.duration(fields["ttl"][1], "cache.ttl")
    jitter = 0.0
    if "jitter" in fields:
        jnode = fields["jitter"][1]
        parsed = parse_jitter(str(jnode.value)) if isinstance(jnode, yaml.ScalarNode) else None
        if parsed is None:
            c.error(jnode, "FG041", f"cache.jitter: {_describe(jnode)} is not a jitter; write a percentage from 0% to 50%, e.g. 10%")
        else:
            jitter = parsed
    tags = c.templates(fields["tags"][1], "cache.tags", "tag") if "tags" in fields else ()
    store = c.choice(fields["store"][1], "cache.store", CACHE_FIELDS["store"]) if "store" in fields else "json"
    stampede = c.choice(fields["stampede"][1], "cache.stampede", CACHE_FIELDS["stampede"]) if "stampede" in fields else "lock"
    member, score = _shape_fields(c, node, fields, store, returns, stampede)
    bitmap = bitmap_section(c, fields["bitmap"][1], params, stampede) if "bitmap" in fields and store == "bitmap" else None
    if "bitmap" in fields and store not in (None, "bitmap"):
        c.error(fields["bitmap"][0], "FG102", "cache.bitmap applies to store: bitmap only; add store: bitmap or remove this section")
    if store == "bitmap" and "bitmap" not in fields and isinstance(node, yaml.MappingNode):
        c.error(fields["store"][1], "FG011", "store: bitmap needs cache.bitmap with member: the result column whose values are the set's members")
    if store == "bitmap" and stampede == "early":
        c.error(fields["stampede"][1], "FG102", "stampede: early is not offered for store: bitmap; use lock (default) or none")
    negative = c.duration(fields["negative_ttl"][1], "cache.negative_ttl") if "negative_ttl" in fields else None
    near, near_size = _near(c, fields, ttl)
    if near is not None and store not in (None, "json"):
        c.error(fields["near"][0], "FG094", f"cache.near is for store: json; a {store} entry is read from Valkey on every call; remove near, or use store: json")
        near, near_size = None, None
    names = {p.name for p in params}
    if key is not None:
        used = {f.name for f in key.fields}
        for f in key.fields:
            if f.name not in names:
                close = difflib.get_close_matches(f.name, sorted(names), n=1)
                hint = f"did you mean {{{close[0]}}}?" if close else f"declared: {', '.join(sorted(names)) or 'none'}"
                c.error(f.span, "FG051", f"key template names {{{f.name}}}, which is not a parameter; {hint}")
        for p in params:
            if p.name not in used:
                c.error(fields["key"][1], "FG052", f"key template does not use parameter {p.name!r}, so different {p.name} values would share a key; add {{{p.name}}}")
    for t in tags:
        for f in t.fields:
            if f.source == "param" and f.name not in names:
                c.error(f.span, "FG054", f"tag names {{{f.name}}}, which is not a parameter; use a parameter or {{row.column}}")
    if key is None or ttl is None or store is None or stampede is None:
        return None
    if store == "bitmap" and bitmap is None:
        return None
    member_name, member_span = member
    score_name, score_span = score
    return CacheSpec(
        key,
        ttl,
        where,
        jitter,
        tags,
        cast(Any, store),
        cast(Any, stampede),
        negative,
        bitmap=bitmap,
        member=member_name,
        score=score_name,
        member_span=member_span,
        score_span=score_span,
        near=near,
        near_size=near_size,
    )


_NEEDS = {"hash": "one", "zset": "many"}
_ROLE = {"member": "each member of the ranking", "score": "each member's score"}
_WHY = {"hash": "a hash holds one row", "zset": "a sorted set holds a ranking, many rows"}


def _shape_fields(
    c: _Checker, node: yaml.Node, fields: dict[str, tuple[yaml.Node, yaml.Node]], store: str | None, returns: str | None, stampede: str | None
) -> tuple[tuple[str | None, Span | None], tuple[str | None, Span | None]]:
    """FG094: the store fits `returns` and `stampede`; member and score given for zset only (FG011, FG013)."""
    if store in _NEEDS and returns is not None and returns != _NEEDS[store]:
        c.error(fields["store"][1], "FG094", f"cache.store: {store} needs returns: {_NEEDS[store]} ({_WHY[store]}), but this spec has returns: {returns}; write returns: {_NEEDS[store]}, or use store: json")
    if store in _NEEDS and stampede == "early":
        c.error(fields["stampede"][1], "FG094", f"stampede: early is for store: json; a {store} entry keeps no expiry estimate; write stampede: lock")
    out: list[tuple[str | None, Span | None]] = []
    for name in ("member", "score"):
        if name not in fields:
            if store == "zset" and isinstance(node, yaml.MappingNode):
                c.error(node, "FG011", f"store: zset needs cache.{name}: the result column holding {_ROLE[name]}")
            out.append((None, None))
            continue
        value = c.string(fields[name][1], f"cache.{name}")
        if value is not None and store != "zset":
            c.error(fields[name][0], "FG013", f"cache.{name} applies to store: zset only; remove it, or write store: zset")
        out.append((value.lower() if value else None, span(c.path, fields[name][1])))
    return out[0], out[1]


MAX_NEAR_SIZE = 1_000_000


def _near(c: _Checker, fields: dict[str, tuple[yaml.Node, yaml.Node]], ttl: int | None) -> tuple[int | None, int | None]:
    """``near: 30s`` (at most the ttl) and ``near_size: N`` (only with near)."""
    near = c.duration(fields["near"][1], "cache.near") if "near" in fields else None
    if near is not None and ttl is not None and near > ttl:
        c.error(fields["near"][1], "FG042", f"cache.near: {near} s is longer than cache.ttl ({ttl} s); a local copy never outlives its entry, write at most {ttl}s")
        near = None
    if "near_size" not in fields:
        return near, None
    node = fields["near_size"][1]
    value = _scalar(node) if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" else None
    if not isinstance(value, int) or not 1 <= value <= MAX_NEAR_SIZE:
        c.error(node, "FG042", f"cache.near_size: {_describe(node)} is not a number of entries; write a whole number from 1 to {MAX_NEAR_SIZE}")
        return near, None
    if "near" not in fields:
        c.error(fields["near_size"][0], "FG011", "cache.near_size needs cache.near (how long a local copy may be served, e.g. near: 30s)")
    return near, value


def _triggers(c: _Checker, node: yaml.Node) -> tuple[Trigger, ...]:
    if not isinstance(node, yaml.SequenceNode):
        c.error(node, "FG012", "invalidate must be a list of {table: ..., tags: [...]} or {table: ..., all: true}")
        return ()
    out = []
    for item in node.value:
        fields = c.mapping(item, "invalidate[]", TRIGGER_FIELDS)
        if "table" not in fields:
            if isinstance(item, yaml.MappingNode):
                c.error(item, "FG011", "each invalidate entry needs a table")
            continue
        table = c.string(fields["table"][1], "invalidate[].table")
        tags = c.templates(fields["tags"][1], "invalidate[].tags", "trigger") if "tags" in fields else ()
        everything = bool(_bool(c, fields["all"][1], "invalidate[].all")) if "all" in fields else False
        column, by = _moves(c, fields["moves"][1]) if "moves" in fields else (None, 1.0)
        if not tags and not everything and "moves" not in fields:
            c.error(item, "FG011", "an invalidate entry needs tags: [...], all: true or (store: zset) moves: {column: ...}")
        if table is not None:
            where = span(c.path, fields["moves"][1]) if "moves" in fields else None
            out.append(Trigger(table.lower(), span(c.path, fields["table"][1]), tags, everything, column, by, where))
    return tuple(out)


def _moves(c: _Checker, node: yaml.Node) -> tuple[str | None, float]:
    fields = c.mapping(node, "invalidate[].moves", MOVE_FIELDS)
    if "column" not in fields:
        if isinstance(node, yaml.MappingNode):
            c.error(node, "FG011", "moves needs a column: the written row's column that names the member, e.g. {column: flight_id, by: 1}")
        return None, 1.0
    column = c.string(fields["column"][1], "invalidate[].moves.column")
    by = 1.0
    if "by" in fields:
        bnode = fields["by"][1]
        value = _scalar(bnode) if isinstance(bnode, yaml.ScalarNode) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value == 0:
            c.error(bnode, "FG012", f"invalidate[].moves.by must be a number other than 0, found {_describe(bnode)}")
        else:
            by = float(value)
    return (column.lower() if column else None), by


def _columns(c: _Checker, node: yaml.Node) -> tuple[ColumnOverride, ...]:
    if not isinstance(node, yaml.MappingNode):
        c.error(node, "FG012", "columns must be a mapping of column -> type or {type: ..., nullable: ...}")
        return ()
    out = []
    for k, v in node.value:
        name = str(k.value)
        type_name: str | None = None
        nullable: bool | None = None
        if isinstance(v, yaml.MappingNode):
            fields = c.mapping(v, f"columns.{name}", COLUMN_FIELDS)
            if "type" in fields:
                type_name = c.choice(fields["type"][1], f"columns.{name}.type", PY_TYPES)
            if "nullable" in fields:
                nullable = _bool(c, fields["nullable"][1], f"columns.{name}.nullable")
        else:
            type_name = c.choice(v, f"columns.{name}", PY_TYPES)
        out.append(ColumnOverride(name.lower(), cast(Any, type_name), nullable, span(c.path, k)))
    return tuple(out)


def _sql_position(c: _Checker, node: yaml.Node) -> tuple[Span, int]:
    """Where the SQL's first character stands, and the indent of its later lines."""
    start = span(c.path, node)
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        lines = c.raw.text.splitlines()
        line = start.line  # the line after `sql: |` (0-based index == 1-based of next)
        while line < len(lines) and not lines[line].strip():
            line += 1
        indent = len(lines[line]) - len(lines[line].lstrip()) if line < len(lines) else 0
        return Span(c.path, line + 1, indent + 1), indent
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        return Span(c.path, start.line, start.col + 1), start.col
    return start, start.col - 1


def validate(raw: RawSpec) -> Spec:
    c = _Checker(raw)
    fields = c.mapping(raw.root, "spec", SPEC_FIELDS)
    root_span = span(c.path, raw.root)
    for required in ("name", "sql"):
        if required not in fields:
            c.error(root_span, "FG011", f"missing required field {required!r}")
    name = c.string(fields["name"][1], "name") if "name" in fields else None
    if name is not None and (not _NAME.match(name) or keyword.iskeyword(name) or name in RESERVED_NAMES):
        c.error(fields["name"][1], "FG020", f"name {name!r} must be a lower-case Python identifier (it names generated/{name}.py), not a keyword nor one of {', '.join(sorted(RESERVED_NAMES))}")
        name = None
    kind = c.choice(fields["kind"][1], "kind", SPEC_FIELDS["kind"]) if "kind" in fields else "read"
    dialect = c.choice(fields["dialect"][1], "dialect", SPEC_FIELDS["dialect"]) if "dialect" in fields else "mysql"
    summary = (c.string(fields["summary"][1], "summary") or "") if "summary" in fields else ""
    params = _params(c, fields["params"][1]) if "params" in fields else ()
    sql = c.string(fields["sql"][1], "sql") if "sql" in fields else None
    if sql is not None and not sql.strip():
        c.error(fields["sql"][1], "FG011", "sql is empty; write the query")
        sql = None
    sql_span, sql_indent = _sql_position(c, fields["sql"][1]) if "sql" in fields else (root_span, 0)
    returns = c.choice(fields["returns"][1], "returns", SPEC_FIELDS["returns"]) if "returns" in fields else "many"
    returns_span = span(c.path, fields["returns"][1]) if "returns" in fields else root_span
    cache: CacheSpec | None = None
    write = c.choice(fields["write"][1], "write", SPEC_FIELDS["write"]) if "write" in fields else None
    if kind == "read":
        if "cache" in fields:
            cache = _cache(c, fields["cache"][1], params, returns)
        elif "name" in fields:
            c.error(root_span, "FG011", "a read spec needs a cache section (key and ttl at least)")
        if "write" in fields:
            c.error(fields["write"][0], "FG013", "write: applies to kind: write specs only")
    elif kind == "write":
        if "cache" in fields:
            c.error(fields["cache"][0], "FG013", "a write spec has no cache section; the read specs it affects declare invalidate: entries")
        if "write" not in fields:
            c.error(root_span, "FG011", "a write spec needs write: through or write: behind")
    if cache is not None and cache.store == "bitmap" and returns != "many":
        c.error(returns_span, "FG102", f"store: bitmap reads one member per row; returns: {returns} does not fit, remove it (the default is many)")
    lookup = bool(_bool(c, fields["lookup"][1], "lookup")) if "lookup" in fields else False
    if lookup and kind != "write":
        c.error(fields["lookup"][0], "FG013", "lookup: applies to kind: write specs only")
    triggers = _triggers(c, fields["invalidate"][1]) if "invalidate" in fields else ()
    columns = _columns(c, fields["columns"][1]) if "columns" in fields else ()
    examples = _examples(c, fields["examples"][1], params) if "examples" in fields else ()
    if c.problems:
        raise SpecError(c.problems)
    assert name is not None and sql is not None and kind is not None and dialect is not None and returns is not None
    return Spec(
        path=c.path,
        name=name,
        name_span=span(c.path, fields["name"][1]),
        kind=cast(Any, kind),
        summary=summary,
        dialect=cast(Dialect, dialect),
        params=params,
        sql=sql,
        sql_span=sql_span,
        sql_indent=sql_indent,
        returns=cast(Any, returns),
        returns_span=returns_span,
        cache=cache,
        invalidate=triggers,
        write=cast(Any, write),
        columns=columns,
        examples=examples,
        lookup=lookup,
        source=raw.text,
    )


def validate_all(raws: list[RawSpec]) -> list[Spec]:
    specs: list[Spec] = []
    problems: list[Diagnostic] = []
    for raw in raws:
        try:
            specs.append(validate(raw))
        except SpecError as e:
            problems.extend(e.diagnostics)
    first: dict[str, Spec] = {}
    for s in specs:
        if s.name in first:
            problems.append(Diagnostic(s.name_span, "FG021", f"spec name {s.name!r} is already used by {first[s.name].path}; names must be unique"))
        else:
            first[s.name] = s
    if problems:
        raise SpecError(problems)
    return specs
