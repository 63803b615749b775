"""Linked -> {relative path: Python source}: every generated file, rendered from templates/. Pure: writes nothing.

Each read spec becomes ``<name>.py`` (its store kind's accessor template,
which extends accessor_base.py.jinja) and ``tests/test_<name>.py``; each
write spec ``<name>.py`` (write.py.jinja). Each module also has an async form,
``aio/<name>.py``, from the template of the same name with ``aio_`` before it. Templates are rendered with
``StrictUndefined``: a misspelt template variable fails the build instead of
rendering empty. tidy.py then drops the imports a module does not use and sorts
its ``__all__``; format.py runs black over the result.

A spec is untrusted text, and none of it may become code. So every ``{{ }}``
of a template is either code the build wrote itself, a ``Code`` (a literal
made by ``repr()``, a name ``name_problem`` accepts, or an expression of
such parts), or passes a filter for where it stands: ``|py`` makes a Python
literal of a value, ``|doc`` text for inside a docstring, ``|pysql`` the
SQL held per dialect. Anything else (a plain ``str`` from a spec, the
schema or a file name) stops the build (``finalize``), so a template that
forgets a filter fails on its first spec instead of pasting text into code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import jinja2

from generator.code import Code, UnescapedText, doc, keywords, literal, name, py_tuple
from generator.link import Linked, WriteLink
from generator.model import CacheSpec, CompiledQuery, Field, FromRow, Literal_, Param, PyType, Template
from generator.stores import STORES, kind_of
from generator.stores.base import tag_tuple
from generator.tidy import tidy_python

# generator/templates links to the top-level templates/ folder; the wheel carries the files.
TEMPLATES = Path(str(resources.files("generator") / "templates"))
# The async form of a module (<package>/aio/<name>.py) is rendered from "aio_" + its sync template's name.
ASYNC_PREFIX = "aio_"

# Python annotation and hypothesis strategy per parameter / column type.
ANNOTATION: dict[PyType, Code] = {
    "str": Code("str"),
    "int": Code("int"),
    "float": Code("float"),
    "decimal": Code("Decimal"),
    "bool": Code("bool"),
    "date": Code("datetime.date"),
    "datetime": Code("datetime.datetime"),
    "time": Code("datetime.time"),
    "json": Code("str"),  # JSON text, in one form on every database (flughafen.convert)
}
STRATEGY: dict[PyType, Code] = {
    "str": Code("st.text()"),
    "int": Code("st.integers()"),
    "float": Code("st.floats(allow_nan=False)"),
    "decimal": Code("st.decimals(allow_nan=False, allow_infinity=False)"),
    "bool": Code("st.booleans()"),
    "date": Code("st.dates()"),
    "datetime": Code("st.datetimes()"),
    "time": Code("st.times()"),
    "json": Code("st.text()"),
}


@dataclass(frozen=True, slots=True)
class ParamView:
    name: Code
    annotation: Code
    strategy: Code
    ctor: Code  # Param(...) expression for the QUERY constant

    @property
    def declaration(self) -> Code:
        """``origin: str``, for a parameter list."""
        return Code(f"{self.name}: {self.annotation}")


@dataclass(frozen=True, slots=True)
class ColumnView:
    name: Code
    annotation: Code
    ctor: Code  # Col(...) expression
    nullable: bool = False

    @property
    def annotation_or_none(self) -> Code:
        return self.annotation if self.nullable else Code(f"{self.annotation} | None")


def annotation(t: PyType, nullable: bool) -> Code:
    base = ANNOTATION[t]
    return Code(f"{base} | None") if nullable else base


def _param_view(p: Param) -> ParamView:
    args = [literal(p.name), literal(p.type)]
    if p.pattern is not None:
        args.append(Code(f"pattern={literal(p.pattern)}"))
    if p.nullable:
        args.append(Code("nullable=True"))
    strategy = Code(f"st.from_regex({literal(p.pattern)}, fullmatch=True)") if p.pattern is not None else STRATEGY[p.type]
    if p.nullable:
        strategy = Code(f"st.none() | {strategy}")
    return ParamView(name(p.name, "parameter"), annotation(p.type, p.nullable), strategy, Code(f"Param({', '.join(args)})"))


def _template_tuple(t: Template, params: tuple[Param, ...]) -> Code:
    """``"route:{origin}:{row.flight_id}"`` -> ``("route:", 0, ":", row_field("flight_id"))``."""
    index = {p.name: i for i, p in enumerate(params)}
    parts: list[Code] = []
    for part in t.parts:
        if isinstance(part, Literal_):
            parts.append(literal(part.text))
        elif isinstance(part, Field):
            if part.source == "param":
                parts.append(literal(index[part.name]))
            else:
                parts.append(Code(f"row_field({literal(part.name)})"))
    return py_tuple(parts)


def read_context(q: CompiledQuery) -> dict[str, object]:
    """What an accessor template uses: the common part, then the store kind's (``StoreKind.context``)."""
    spec = q.spec
    assert spec.cache is not None, "read specs carry a cache section"
    cache = spec.cache
    params = [_param_view(p) for p in spec.params]
    columns = []
    for c in q.columns:
        args = [literal(c.name), literal(c.type)]
        if c.nullable:
            args.append(Code("nullable=True"))
        if c.scale is not None:
            args.append(Code(f"scale={literal(c.scale)}"))
        columns.append(ColumnView(name(c.name, "column"), annotation(c.type, c.nullable), Code(f"Col({', '.join(args)})"), c.nullable))
    index = {p.name: i for i, p in enumerate(spec.params)}
    triggers = []
    for trig in spec.invalidate:
        args = [literal(trig.table)]
        if trig.tags:
            args.append(Code("tags=" + py_tuple([_template_tuple(t, spec.params) for t in trig.tags])))
        if trig.all:
            args.append(Code("all=True"))
        triggers.append(Code(f"Trigger({', '.join(args)})"))
    if spec.returns == "scalar":
        result_annotation = annotation(q.columns[0].type, True)
    elif spec.returns == "one":
        result_annotation = Code("Row | None")
    else:
        result_annotation = Code("list[Row]")
    types_used = {p.type for p in spec.params} | {c.type for c in q.columns}
    examples = [dict(example) for example in spec.examples]
    common: dict[str, object] = {
        "spec": spec,
        "q": q,
        "module": name(spec.name, "spec"),
        "summary": spec.summary.strip() or f"The {spec.name} query.",
        "source_path": spec.path,
        "params": params,
        "columns": columns,
        "signature": keywords([p.declaration for p in params]),
        "signature_rt": keywords([p.declaration for p in params], runtime=True),
        "args": py_tuple([p.name for p in params]),
        "param_order": py_tuple([literal(index[n]) for n in q.param_order]),
        "key": _template_tuple(cache.key, spec.params),
        "tags": py_tuple([_template_tuple(t, spec.params) for t in cache.tags]),
        "triggers": py_tuple(triggers),
        "tables": py_tuple([literal(t) for t in q.tables]),
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "cache": _cache_view(cache),
        "result_annotation": result_annotation,
        "uses_datetime": bool(types_used & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types_used,
        "uses_row_field": any(
            isinstance(p, Field) and p.source != "param" for t in (*cache.tags, *(t for trig in spec.invalidate for t in trig.tags)) for p in t.parts
        ),
        "examples": examples,
        "values_annotation": Code("tuple[" + (", ".join(p.annotation for p in params) or "()") + "]"),
        "strategies": Code(", ".join(p.strategy for p in params)),
        "example_tuples": [py_tuple([literal(e[p.name]) for p in params]) for e in examples],
        "example_dicts": [literal({p.name: e[p.name] for p in params}) for e in examples],
        "from_values": Code(", ".join(f"{p.name}=v[{i}]" for i, p in enumerate(params))),
    }
    return {**common, **kind_of(cache.store).context(q, common, [p.declaration for p in params])}


def _cache_view(cache: CacheSpec) -> SimpleNamespace:
    """The cache: section as templates read it: the common fields and the store kind's own (``cache.near``)."""
    common = {field: getattr(cache, field) for field in CacheSpec.__dataclass_fields__ if field != "options"}
    own = {field: getattr(cache.options, field) for field in type(cache.options).__dataclass_fields__}
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
        "module": name(spec.name, "spec"),
        "summary": spec.summary.strip() or f"The {spec.name} write.",
        "source_path": spec.path,
        "params": params,
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "param_order": py_tuple([literal(index[n]) for n in q.param_order]),
        "table": q.written_table or "",
        "mode": spec.write or "through",
        "tags": py_tuple([tag_tuple(t, index) for t in link.tags]),
        "generations": list(link.generations),
        "generations_tuple": literal(link.generations),
        "lookup": lookup is not None,
        "lookup_sql": [(d, lookup.sql[d]) for d in sorted(lookup.sql)] if lookup else [],
        "lookup_order": py_tuple([literal(index[n]) for n in lookup.param_order]) if lookup else Code("()"),
        "lookup_columns": literal(lookup.columns) if lookup else Code("()"),
        "uses_row_field": any(isinstance(v, FromRow) for v in link.values()),
        "keeps": [plan.summary() for _, kind_plans in plans for plan in kind_plans],
        "imports": sorted(
            [Code(f"from flughafen.write import {'Lookup, ' if lookup else ''}WriteQuery"), *(kind.write_import(kind_plans) for kind, kind_plans in plans)]
        ),
        # write_arg: WriteQuery's keyword for the kind's plans (the build's own name, not a spec's)
        "store_args": [(Code(kind.write_arg), [plan.expression(index) for plan in kind_plans]) for kind, kind_plans in plans],
        "uses_datetime": bool(types & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types,
        "signature_rt": keywords([p.declaration for p in params], runtime=True),
        "args": py_tuple([p.name for p in params]),
    }


def async_signature(signature: Code) -> Code:
    """A sync accessor's parameter list, its runtime an AsyncRuntime's (the aio_ templates).

    >>> async_signature(Code("*, iata: str, runtime: Runtime | None = None"))
    '*, iata: str, runtime: AsyncRuntime | None = None'
    """
    return Code(signature.replace("runtime: Runtime | None", "runtime: AsyncRuntime | None"))


def sql_literal(text: str) -> Code:
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
    return Code('"""\\\n' + "".join(out) + '"""')


def _finalize(value: object) -> object:
    """What ``{{ }}`` may put into a generated file: Code, a number, None; nothing else (see the module's docstring)."""
    if isinstance(value, Code) or value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise UnescapedText(f"{value!r} would be put into generated code as it is; write it with |py (a literal) or |doc (docstring text), or give a Code")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_finalize,
    )
    env.filters["py"] = literal
    env.filters["doc"] = doc
    env.filters["pysql"] = sql_literal
    env.filters["aio"] = async_signature
    return env


def render(linked: Linked) -> dict[str, str]:
    """Every generated file, by path relative to generated/, sorted; Python tidied (tidy.py), not yet formatted."""
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
    reads = [name(q.spec.name, "spec") for q in linked.reads]
    writes = [name(w.write.spec.name, "spec") for w in linked.writes]
    files["__init__.py"] = env.get_template("package_init.py.jinja").render(names=reads, writes=writes)
    files["aio/__init__.py"] = env.get_template("aio_package_init.py.jinja").render(names=reads, writes=writes)
    files["tests/conftest.py"] = env.get_template("conftest.py.jinja").render()
    files["tests/__init__.py"] = ""
    files["py.typed"] = ""
    return {path: tidy_python(text) if path.endswith(".py") and text else text for path, text in sorted(files.items())}
