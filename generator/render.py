"""Linked -> {relative path: Python source}: every generated file, rendered from templates/. Pure: writes nothing.

Each read spec becomes ``<name>.py`` (its store kind's accessor template,
which extends accessor_base.py.jinja) and ``tests/test_<name>.py``; each
write spec ``<name>.py`` (write.py.jinja). Each module also has an async form,
``aio/<name>.py``, from the template of the same name with ``aio_`` before it. Templates are rendered with
``StrictUndefined``: a misspelt template variable fails the build instead of
rendering empty. format.py then runs black over the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import jinja2

from generator.link import Linked, WriteLink
from generator.model import CacheSpec, CompiledQuery, Field, FromRow, Literal_, Param, PyType, Template
from generator.stores import STORES, kind_of
from generator.stores.base import py_tuple, tag_tuple

# generator/templates links to the top-level templates/ folder; the wheel carries the files.
TEMPLATES = Path(str(resources.files("generator") / "templates"))
# The async form of a module (<package>/aio/<name>.py) is rendered from "aio_" + its sync template's name.
ASYNC_PREFIX = "aio_"

# Python annotation and hypothesis strategy per parameter / column type.
ANNOTATION: dict[PyType, str] = {
    "str": "str",
    "int": "int",
    "float": "float",
    "decimal": "Decimal",
    "bool": "bool",
    "date": "datetime.date",
    "datetime": "datetime.datetime",
    "time": "datetime.time",
}
STRATEGY: dict[PyType, str] = {
    "str": "st.text()",
    "int": "st.integers()",
    "float": "st.floats(allow_nan=False)",
    "decimal": "st.decimals(allow_nan=False, allow_infinity=False)",
    "bool": "st.booleans()",
    "date": "st.dates()",
    "datetime": "st.datetimes()",
    "time": "st.times()",
}


@dataclass(frozen=True, slots=True)
class ParamView:
    name: str
    annotation: str
    strategy: str
    ctor: str  # Param(...) expression for the QUERY constant


@dataclass(frozen=True, slots=True)
class ColumnView:
    name: str
    annotation: str
    ctor: str  # Col(...) expression
    nullable: bool = False

    @property
    def annotation_or_none(self) -> str:
        return self.annotation if self.nullable else f"{self.annotation} | None"


def _annotation(t: PyType, nullable: bool) -> str:
    base = ANNOTATION[t]
    return f"{base} | None" if nullable else base


def _param_view(p: Param) -> ParamView:
    args = [repr(p.name), repr(p.type)]
    if p.pattern is not None:
        args.append(f"pattern={p.pattern!r}")
    if p.nullable:
        args.append("nullable=True")
    strategy = f"st.from_regex({p.pattern!r}, fullmatch=True)" if p.pattern is not None else STRATEGY[p.type]
    if p.nullable:
        strategy = f"st.none() | {strategy}"
    return ParamView(p.name, _annotation(p.type, p.nullable), strategy, f"Param({', '.join(args)})")


def _template_tuple(t: Template, params: tuple[Param, ...]) -> str:
    """``"route:{origin}:{row.flight_id}"`` -> ``("route:", 0, ":", row_field("flight_id"))``."""
    index = {p.name: i for i, p in enumerate(params)}
    parts: list[str] = []
    for part in t.parts:
        if isinstance(part, Literal_):
            parts.append(repr(part.text))
        elif isinstance(part, Field):
            if part.source == "param":
                parts.append(str(index[part.name]))
            else:
                parts.append(f"row_field({part.name!r})")
    return py_tuple(parts)


def read_context(q: CompiledQuery) -> dict[str, object]:
    """What an accessor template uses: the common part, then the store kind's (``StoreKind.context``)."""
    spec = q.spec
    assert spec.cache is not None, "read specs carry a cache section"
    cache = spec.cache
    params = [_param_view(p) for p in spec.params]
    columns = []
    for c in q.columns:
        args = [repr(c.name), repr(c.type)]
        if c.nullable:
            args.append("nullable=True")
        if c.scale is not None:
            args.append(f"scale={c.scale}")
        columns.append(ColumnView(c.name, _annotation(c.type, c.nullable), f"Col({', '.join(args)})", c.nullable))
    index = {p.name: i for i, p in enumerate(spec.params)}
    triggers = []
    for trig in spec.invalidate:
        args = [repr(trig.table)]
        if trig.tags:
            args.append("tags=" + py_tuple([_template_tuple(t, spec.params) for t in trig.tags]))
        if trig.all:
            args.append("all=True")
        triggers.append(f"Trigger({', '.join(args)})")
    if spec.returns == "scalar":
        only = q.columns[0]
        result_annotation = _annotation(only.type, True)
    elif spec.returns == "one":
        result_annotation = "Row | None"
    else:
        result_annotation = "list[Row]"
    types_used = {p.type for p in spec.params} | {c.type for c in q.columns}
    common: dict[str, object] = {
        "spec": spec,
        "q": q,
        "summary": spec.summary.strip() or f"The {spec.name} query.",
        "source_path": spec.path,
        "params": params,
        "columns": columns,
        "signature": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params)]) if params else "",
        "signature_rt": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params), "runtime: Runtime | None = None"]),
        "args": py_tuple([p.name for p in spec.params]),
        "param_order": py_tuple([str(index[name]) for name in q.param_order]),
        "key": _template_tuple(cache.key, spec.params),
        "tags": py_tuple([_template_tuple(t, spec.params) for t in cache.tags]),
        "triggers": py_tuple(triggers),
        "tables": py_tuple([repr(t) for t in q.tables]),
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "cache": _cache_view(cache),
        "result_annotation": result_annotation,
        "uses_datetime": bool(types_used & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types_used,
        "uses_row_field": any(
            isinstance(p, Field) and p.source != "param" for t in (*cache.tags, *(t for trig in spec.invalidate for t in trig.tags)) for p in t.parts
        ),
        "examples": [dict(example) for example in spec.examples],
        "values_annotation": "tuple[" + (", ".join(p.annotation for p in params) or "()") + "]",
        "strategies": ", ".join(p.strategy for p in params),
        "example_tuples": [py_tuple([repr(dict(e)[p.name]) for p in params]) for e in spec.examples],
        "example_dicts": ["{" + ", ".join(f"{p.name!r}: {dict(e)[p.name]!r}" for p in params) + "}" for e in spec.examples],
        "from_values": ", ".join(f"{p.name}=v[{i}]" for i, p in enumerate(params)),
    }
    return {**common, **kind_of(cache.store).context(q, common)}


def _cache_view(cache: CacheSpec) -> SimpleNamespace:
    """The cache: section as templates read it: the common fields and the store kind's own (``cache.member``)."""
    common = {name: getattr(cache, name) for name in CacheSpec.__dataclass_fields__ if name != "options"}
    own = {name: getattr(cache.options, name) for name in type(cache.options).__dataclass_fields__}
    return SimpleNamespace(**{**own, **common})


def write_context(link: WriteLink) -> dict[str, object]:
    """What write.py.jinja uses."""
    q, spec = link.write, link.write.spec
    params = [_param_view(p) for p in spec.params]
    index = {p.name: i for i, p in enumerate(spec.params)}
    types = {p.type for p in spec.params}
    lookup = link.lookup
    plans = [(STORES[kp.kind], kp.plans) for kp in link.plans]
    return {
        "spec": spec,
        "summary": spec.summary.strip() or f"The {spec.name} write.",
        "source_path": spec.path,
        "params": params,
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "param_order": py_tuple([str(index[n]) for n in q.param_order]),
        "table": q.written_table or "",
        "mode": spec.write or "through",
        "tags": py_tuple([tag_tuple(t, index) for t in link.tags]),
        "generations": list(link.generations),
        "generations_tuple": py_tuple([repr(g) for g in link.generations]),
        "lookup": lookup is not None,
        "lookup_sql": [(d, lookup.sql[d]) for d in sorted(lookup.sql)] if lookup else [],
        "lookup_order": py_tuple([str(index[n]) for n in lookup.param_order]) if lookup else "()",
        "lookup_columns": py_tuple([repr(c) for c in lookup.columns]) if lookup else "()",
        "uses_row_field": any(isinstance(v, FromRow) for v in link.values()),
        "keeps": [plan.summary() for _, kind_plans in plans for plan in kind_plans],
        "imports": sorted(
            [f"from flughafen.write import {'Lookup, ' if lookup else ''}WriteQuery", *(kind.write_import(kind_plans) for kind, kind_plans in plans)]
        ),
        "store_args": [(kind.write_arg, [plan.expression(index) for plan in kind_plans]) for kind, kind_plans in plans],
        "uses_datetime": bool(types & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types,
        "signature_rt": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params), "runtime: Runtime | None = None"]),
        "args": py_tuple([p.name for p in spec.params]),
    }


def sql_literal(text: str) -> str:
    """A Python literal of ``text`` that shows its lines as lines: the SQL held per dialect, one clause a line.

    A triple-quoted string, begun with an escaped newline so its first line
    stands under the others; a backslash, a third quote in a row, a quote at
    the end and any character that does not print are escaped, so any text
    comes back as it was.

    >>> print(sql_literal("SELECT a\\nFROM t"))
    \"\"\"\\
    SELECT a
    FROM t\"\"\"
    """
    out: list[str] = []
    quotes = 0  # unescaped double quotes just written
    for ch in text:
        if ch == '"' and quotes < 2:
            out.append(ch)
            quotes += 1
            continue
        quotes = 0
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n" or ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    if out and out[-1] == '"':
        out[-1] = '\\"'
    return '"""\\\n' + "".join(out) + '"""'


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    env.filters["pysql"] = sql_literal
    return env


def render(linked: Linked) -> dict[str, str]:
    """Every generated file, by path relative to generated/, sorted; Python not yet formatted."""
    env = environment()
    files: dict[str, str] = {}
    for q in linked.reads:
        assert q.spec.cache is not None, "a read spec has a cache section"
        kind = kind_of(q.spec.cache.store)
        context = read_context(q)
        files[f"{q.spec.name}.py"] = env.get_template(kind.template).render(context)
        files[f"tests/test_{q.spec.name}.py"] = env.get_template(kind.test_template).render(context)
        files[f"aio/{q.spec.name}.py"] = env.get_template(ASYNC_PREFIX + kind.template).render(context)
    for w in linked.writes:
        context = write_context(w)
        files[f"{w.write.spec.name}.py"] = env.get_template("write.py.jinja").render(context)
        files[f"aio/{w.write.spec.name}.py"] = env.get_template(ASYNC_PREFIX + "write.py.jinja").render(context)
    reads = [q.spec.name for q in linked.reads]
    writes = [w.write.spec.name for w in linked.writes]
    files["__init__.py"] = env.get_template("package_init.py.jinja").render(names=reads, writes=writes)
    files["aio/__init__.py"] = env.get_template("aio_package_init.py.jinja").render(names=reads, writes=writes)
    files["tests/conftest.py"] = env.get_template("conftest.py.jinja").render()
    files["tests/__init__.py"] = ""
    files["py.typed"] = ""
    return dict(sorted(files.items()))
