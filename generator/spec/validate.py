"""RawSpec -> Spec: every field checked, every problem reported with its position.

The allowed fields and values live in ``fields.py``; the JSON Schema is made
from the same tables, so the two cannot drift apart. The fields of one store
kind (``near`` of json, ``member``/``score``/``moves`` of zset, ``bitmap``)
are read by that kind (generator/stores/).
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import yaml

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import PY_TYPES, CacheSpec, ColumnOverride, Dialect, Param, Spec, StoreOptions, Trigger
from generator.names import name_problem
from generator.spec.fields import CACHE_FIELDS, COLUMN_FIELDS, OWN_CACHE_FIELDS, OWN_TRIGGER_FIELDS, PARAM_FIELDS, SPEC_FIELDS, TRIGGER_FIELDS
from generator.spec.load import RawSpec, span
from generator.spec.reader import Reader, describe, parse_jitter, scalar
from generator.stores import DEFAULT_STORE, STORES
from generator.stores.base import CacheSection, StoreKind


def _params(c: Reader, node: yaml.Node) -> tuple[tuple[Param, ...], frozenset[str]]:
    """The parameters, and the names of those declared but refused (reported here, so not again where they are used)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return (), frozenset()
    if not isinstance(node, yaml.MappingNode):
        c.error(node, "FG012", "params must be a mapping of name -> type, e.g. {origin: str, day: date}")
        return (), frozenset()
    params: list[Param] = []
    declared: set[str] = set()
    for k, v in node.value:
        name = k.value if isinstance(k, yaml.ScalarNode) else ""
        where = span(c.path, k)
        if isinstance(name, str):
            declared.add(name)
        problem = name_problem(name, "parameter") if isinstance(name, str) else "is not a name"
        if problem is not None:
            c.error(k, "FG020", f"parameter name {name!r} {problem}; it is a keyword argument of the generated functions")
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
                nullable = bool(c.boolean(fields["nullable"][1], f"params.{name}.nullable"))
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
    return tuple(params), frozenset(declared - {p.name for p in params})


def _example_value(c: Reader, node: yaml.Node, p: Param) -> tuple[bool, object]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        if p.nullable:
            return True, None
        c.error(node, "FG012", f"example value of {p.name} is null but the parameter is not nullable")
        return False, None
    try:
        value: object = scalar(node) if isinstance(node, yaml.ScalarNode) else None
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


def _examples(c: Reader, node: yaml.Node, params: tuple[Param, ...], refused: frozenset[str]) -> tuple[tuple[tuple[str, object], ...], ...]:
    if not isinstance(node, yaml.SequenceNode):
        c.error(node, "FG012", "examples must be a list of parameter sets, e.g. [{origin: JFK}]")
        return ()
    out = []
    by_name = {p.name: p for p in params}
    for item in node.value:
        fields = c.mapping(item, "examples[]", {**by_name, **dict.fromkeys(refused)})
        ok = not any(name in refused for name in fields)
        values: dict[str, object] = {}
        for name, (_, v) in fields.items():
            if name in refused:
                continue  # its declaration is reported
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


def _cache(
    c: Reader, node: yaml.Node, params: tuple[Param, ...], refused: frozenset[str], returns: str | None, returns_span: Span
) -> tuple[CacheSpec | None, StoreKind | None]:
    """The cache section, and the store kind that reads the rest of the spec's own fields (None: unknown).

    Every field is read even when another is missing or wrong, so that all of
    the section's problems are reported at once; ``refused``: parameters whose
    declaration was refused, which the templates may name without a second error.
    """
    fields = c.mapping(node, "cache", CACHE_FIELDS)
    where = span(c.path, node)
    store = c.choice(fields["store"][1], "cache.store", CACHE_FIELDS["store"]) if "store" in fields else DEFAULT_STORE
    kind = STORES.get(store) if store is not None else None
    if kind is not None:
        _misplaced(c, fields, "cache", OWN_CACHE_FIELDS, kind)
    for required in ("key", "ttl"):
        if required not in fields and isinstance(node, yaml.MappingNode):
            c.error(node, "FG011", f"cache.{required} is required" + (' (a template such as "flight:{flight_id}")' if required == "key" else " (e.g. 5m)"))
    key = c.template(fields["key"][1], "cache.key", "key") if "key" in fields else None
    ttl = c.duration(fields["ttl"][1], "cache.ttl") if "ttl" in fields else None
    jitter = 0.0
    if "jitter" in fields:
        jnode = fields["jitter"][1]
        parsed = parse_jitter(str(jnode.value)) if isinstance(jnode, yaml.ScalarNode) else None
        if parsed is None:
            c.error(jnode, "FG041", f"cache.jitter: {describe(jnode)} is not a jitter; write a percentage from 0% to 50%, e.g. 10%")
        else:
            jitter = parsed
    tags = c.templates(fields["tags"][1], "cache.tags", "tag") if "tags" in fields else ()
    stampede = c.choice(fields["stampede"][1], "cache.stampede", CACHE_FIELDS["stampede"]) if "stampede" in fields else "lock"
    negative = c.duration(fields["negative_ttl"][1], "cache.negative_ttl") if "negative_ttl" in fields else None
    replica_reads = c.duration(fields["replica_reads"][1], "cache.replica_reads") if "replica_reads" in fields else None
    options: StoreOptions | None = None
    if kind is not None:
        own = {k: v for k, v in fields.items() if OWN_CACHE_FIELDS.get(k, kind) is kind}
        options = kind.read_options(c, CacheSection(node, own, params, returns, returns_span, stampede, ttl, refused))
    if replica_reads is not None and getattr(options, "near", None) is not None:
        c.error(
            fields["replica_reads"][0],
            "FG043",
            "cache.replica_reads and cache.near together: a near copy of a value read from a replica could outlive its invalidation; remove one",
        )
    names = {p.name for p in params}
    if key is not None:
        used = {f.name for f in key.fields}
        for f in key.fields:
            if f.name not in names and f.name not in refused:
                close = difflib.get_close_matches(f.name, sorted(names - used), n=1)
                used.update(close)  # a misspelt parameter: this error says it, FG052 would say it again
                hint = f"did you mean {{{close[0]}}}?" if close else f"declared: {', '.join(sorted(names)) or 'none'}"
                c.error(f.span, "FG051", f"key template names {{{f.name}}}, which is not a parameter; {hint}")
        for p in params:
            if p.name not in used:
                c.error(
                    fields["key"][1],
                    "FG052",
                    f"key template does not use parameter {p.name!r}, so different {p.name} values would share a key; add {{{p.name}}}",
                )
    for t in tags:
        for f in t.fields:
            if f.source == "param" and f.name not in names and f.name not in refused:
                c.error(f.span, "FG054", f"tag names {{{f.name}}}, which is not a parameter; use a parameter or {{row.column}}")
    if key is None or ttl is None or store is None or stampede is None or options is None:
        return None, kind
    return CacheSpec(key, ttl, where, jitter, tags, store, cast(Any, stampede), negative, options, replica_reads), kind


def _misplaced(c: Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]], section: str, owners: dict[str, StoreKind], kind: StoreKind | None) -> None:
    """A field of another store kind than the spec's (``kind``; None: no cache section)."""
    for name, (key, _) in fields.items():
        owner = owners.get(name)
        if owner is not None and owner is not kind:
            own = (owner.cache_fields if section == "cache" else owner.trigger_fields)[name]
            why = f" ({own.why})" if own.why else ""
            c.error(key, own.misplaced, f"{section}.{name} applies to store: {owner.name} only{why}; remove it, or write store: {owner.name}")


def _triggers(c: Reader, node: yaml.Node, kind: StoreKind | None, known: bool) -> tuple[Trigger, ...]:
    """The invalidate: entries; ``kind`` reads its own fields of them (``known``: the spec's store is known, None for none)."""
    if not isinstance(node, yaml.SequenceNode):
        c.error(node, "FG012", "invalidate must be a list of {table: ..., tags: [...]} or {table: ..., all: true}")
        return ()
    out = []
    for item in node.value:
        fields = c.mapping(item, "invalidate[]", TRIGGER_FIELDS)
        if known:
            _misplaced(c, fields, "invalidate[]", OWN_TRIGGER_FIELDS, kind)
        own = {k: v for k, v in fields.items() if k in OWN_TRIGGER_FIELDS}
        if "table" not in fields:
            if isinstance(item, yaml.MappingNode):
                c.error(item, "FG011", "each invalidate entry needs a table")
            continue
        table = c.string(fields["table"][1], "invalidate[].table")
        tags = c.templates(fields["tags"][1], "invalidate[].tags", "trigger") if "tags" in fields else ()
        everything = bool(c.boolean(fields["all"][1], "invalidate[].all")) if "all" in fields else False
        options = kind.read_trigger(c, own) if kind is not None and own else None
        if not tags and not everything and not own:
            c.error(
                item,
                "FG011",
                "an invalidate entry needs tags: [...] or all: true" + "".join(f", or (store: {k.name}) {f}: ..." for f, k in OWN_TRIGGER_FIELDS.items()),
            )
        if table is not None:
            out.append(Trigger(table.lower(), span(c.path, fields["table"][1]), tags, everything, options))
    return tuple(out)


def _columns(c: Reader, node: yaml.Node) -> tuple[ColumnOverride, ...]:
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
                nullable = c.boolean(fields["nullable"][1], f"columns.{name}.nullable")
        else:
            type_name = c.choice(v, f"columns.{name}", PY_TYPES)
        out.append(ColumnOverride(name.lower(), cast(Any, type_name), nullable, span(c.path, k)))
    return tuple(out)


def _sql_position(c: Reader, node: yaml.Node) -> tuple[Span, int]:
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
    c = Reader(raw)
    fields = c.mapping(raw.root, "spec", SPEC_FIELDS)
    root_span = span(c.path, raw.root)
    for required in ("name", "sql"):
        if required not in fields:
            c.error(root_span, "FG011", f"missing required field {required!r}")
    name = c.string(fields["name"][1], "name") if "name" in fields else None
    problem = name_problem(name, "spec") if name is not None else None
    if problem is not None:
        c.error(fields["name"][1], "FG020", f"name {name!r} {problem}; it names the module generated/{name}.py and its keys in Valkey")
        name = None
    kind = c.choice(fields["kind"][1], "kind", SPEC_FIELDS["kind"]) if "kind" in fields else "read"
    dialect = c.choice(fields["dialect"][1], "dialect", SPEC_FIELDS["dialect"]) if "dialect" in fields else "mysql"
    summary = (c.string(fields["summary"][1], "summary") or "") if "summary" in fields else ""
    params, refused = _params(c, fields["params"][1]) if "params" in fields else ((), frozenset[str]())
    sql = c.string(fields["sql"][1], "sql") if "sql" in fields else None
    if sql is not None and not sql.strip():
        c.error(fields["sql"][1], "FG011", "sql is empty; write the query")
        sql = None
    sql_span, sql_indent = _sql_position(c, fields["sql"][1]) if "sql" in fields else (root_span, 0)
    returns = c.choice(fields["returns"][1], "returns", SPEC_FIELDS["returns"]) if "returns" in fields else "many"
    returns_span = span(c.path, fields["returns"][1]) if "returns" in fields else root_span
    cache: CacheSpec | None = None
    store: StoreKind | None = None  # the store kind, which reads its own fields of invalidate: entries
    write = c.choice(fields["write"][1], "write", SPEC_FIELDS["write"]) if "write" in fields else None
    if kind == "read":
        if "cache" in fields:
            cache, store = _cache(c, fields["cache"][1], params, refused, returns, returns_span)
        elif "name" in fields:
            c.error(root_span, "FG011", "a read spec needs a cache section (key and ttl at least)")
        if "write" in fields:
            c.error(fields["write"][0], "FG013", "write: applies to kind: write specs only")
    elif kind == "write":
        if "cache" in fields:
            c.error(fields["cache"][0], "FG013", "a write spec has no cache section; the read specs it affects declare invalidate: entries")
        if "write" not in fields:
            c.error(root_span, "FG011", "a write spec needs write: through or write: behind")
    lookup = bool(c.boolean(fields["lookup"][1], "lookup")) if "lookup" in fields else False
    if lookup and kind != "write":
        c.error(fields["lookup"][0], "FG013", "lookup: applies to kind: write specs only")
    known = not (kind == "read" and "cache" in fields and store is None)  # False: cache.store names no kind (reported)
    triggers = _triggers(c, fields["invalidate"][1], store, known) if "invalidate" in fields else ()
    columns = _columns(c, fields["columns"][1]) if "columns" in fields else ()
    examples = _examples(c, fields["examples"][1], params, refused) if "examples" in fields else ()
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


def validate_all(raws: list[RawSpec], problems: list[Diagnostic]) -> list[Spec]:
    """Every spec that validates, its name used once (FG021); the others' diagnostics go to ``problems``."""
    first: dict[str, Spec] = {}
    for raw in raws:
        try:
            s = validate(raw)
        except SpecError as e:
            problems.extend(e.diagnostics)
            continue
        if s.name in first:
            problems.append(Diagnostic(s.name_span, "FG021", f"spec name {s.name!r} is already used by {first[s.name].path}; names must be unique"))
        else:
            first[s.name] = s
    return list(first.values())


def declared_name(raw: RawSpec) -> str | None:
    """The ``name:`` a spec file gives, valid or not: a spec that failed is still known by it."""
    for key, value in raw.root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "name" and isinstance(value, yaml.ScalarNode):
            return str(value.value)
    return None
