"""CompiledQuery list -> {relative path: file text}. Pure: writes nothing.

Each spec becomes ``<name>.py`` (the accessor) and ``tests/test_<name>.py``
(its tests). Templates are rendered with ``StrictUndefined`` (a misspelt
template variable fails the build instead of rendering empty) and formatted
with black, so the output is byte-identical across runs and machines.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import importlib.metadata
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import black
import jinja2

from generator.emit_bitmap import bitmap_context, set_updates
from generator.model import CompiledQuery, Field, Literal_, Param, PyType, Template
from generator.stores.hash import RefreshPlan, refresh_plans
from generator.stores.zset import MovePlan, WriteMoves, plan_moves
from generator.link import WriteEffects, join_writes

# generator/templates links to the top-level templates/ folder; the wheel carries the files.
TEMPLATES = Path(str(resources.files("generator") / "templates"))



def format_cache() -> Path:
    """Where black's output is kept by input hash (black is most of a build's time)."""
    return Path(os.environ.get("FLUGHAFEN_CACHE_DIR", ".flughafen/cache")) / "black"

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
    return _tuple(parts)


def _tuple(items: list[str]) -> str:
    if not items:
        return "()"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def module_context(q: CompiledQuery) -> dict[str, object]:
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
            args.append("tags=" + _tuple([_template_tuple(t, spec.params) for t in trig.tags]))
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
    return {
        "spec": spec,
        "q": q,
        "summary": spec.summary.strip() or f"The {spec.name} query.",
        "source_path": spec.path,
        "params": params,
        "columns": columns,
        "signature": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params)]) if params else "",
        "signature_rt": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params), "runtime: Runtime | None = None"]),
        "args": _tuple([p.name for p in spec.params]),
        "param_order": _tuple([str(index[name]) for name in q.param_order]),
        "key": _template_tuple(cache.key, spec.params),
        "tags": _tuple([_template_tuple(t, spec.params) for t in cache.tags]),
        "triggers": _tuple(triggers),
        "tables": _tuple([repr(t) for t in q.tables]),
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "cache": cache,
        "result_annotation": result_annotation,
        "uses_datetime": bool(types_used & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types_used,
        "uses_row_field": any(
            isinstance(p, Field) and p.source != "param"
            for t in (*cache.tags, *(t for trig in spec.invalidate for t in trig.tags))
            for p in t.parts
        ),
        "examples": [dict(example) for example in spec.examples],
        "values_annotation": "tuple[" + (", ".join(p.annotation for p in params) or "()") + "]",
        "strategies": ", ".join(p.strategy for p in params),
        "example_tuples": [_tuple([repr(dict(e)[p.name]) for p in params]) for e in spec.examples],
        "example_dicts": ["{" + ", ".join(f"{p.name!r}: {dict(e)[p.name]!r}" for p in params) + "}" for e in spec.examples],
        "from_values": ", ".join(f"{p.name}=v[{i}]" for i, p in enumerate(params)),
    }


def _effect_tag(parts: tuple[object, ...], index: dict[str, int]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(repr(part))
        else:
            assert isinstance(part, tuple)
            kind, name = str(part[0]), str(part[1])
            out.append(str(index[name]) if kind == "param" else f"row_field({name!r})")
    return _tuple(out)


def _refresh_ctor(plan: RefreshPlan, index: dict[str, int]) -> str:
    fields = _tuple([f"({name!r}, {index[param]})" for name, param in plan.fields])
    return f"HashRefresh({plan.spec!r}, {plan.version!r}, tag={_effect_tag(plan.tag, index)}, fields={fields})"


def _move_ctor(plan: MovePlan, index: dict[str, int]) -> str:
    kind, name = plan.member
    member = str(index[name]) if kind == "param" else f"row_field({name!r})"
    return f"ScoreMove({plan.spec!r}, {plan.version!r}, key={plan.key!r}, member={member}, by={plan.by!r})"


def write_context(
    q: CompiledQuery, effects: WriteEffects, refresh: tuple[RefreshPlan, ...] = (), moves: WriteMoves = WriteMoves((), ())
) -> dict[str, object]:
    spec = q.spec
    params = [_param_view(p) for p in spec.params]
    index = {p.name: i for i, p in enumerate(spec.params)}
    types = {p.type for p in spec.params}
    lookup = effects.lookup
    return {
        "spec": spec,
        "summary": spec.summary.strip() or f"The {spec.name} write.",
        "source_path": spec.path,
        "params": params,
        "sql": [(d, q.sql[d]) for d in sorted(q.sql)],
        "param_order": _tuple([str(index[n]) for n in q.param_order]),
        "table": q.written_table or "",
        "mode": spec.write or "through",
        "tags": _tuple([_effect_tag(t, index) for t in effects.tags]),
        "generations": sorted({*effects.generations, *moves.generations}),
        "generations_tuple": _tuple([repr(g) for g in sorted({*effects.generations, *moves.generations})]),
        "lookup": lookup is not None,
        "lookup_sql": [(d, lookup.sql[d]) for d in sorted(lookup.sql)] if lookup else [],
        "lookup_order": _tuple([str(index[n]) for n in lookup.param_order]) if lookup else "()",
        "lookup_columns": _tuple([repr(c) for c in lookup.columns]) if lookup else "()",
        "uses_row_field": any(isinstance(p, tuple) and p[0] == "row" for t in effects.tags for p in t)
        or any(s[0] == "row" for plan in effects.sets for s in (*plan.args, plan.member))
        or any(m.member[0] == "row" for m in moves.moves),
        "sets": set_updates(effects.sets, spec.params),
        "spec_sets": [f"{p.spec.name} (its set{''.join(f', {c.spec.name} counts' for c in p.counters)})" for p in effects.sets],
        "uses_datetime": bool(types & {"date", "datetime", "time"}),
        "uses_decimal": "decimal" in types,
        "signature_rt": ", ".join(["*", *(f"{p.name}: {p.annotation}" for p in params), "runtime: Runtime | None = None"]),
        "args": _tuple([p.name for p in spec.params]),
        "refresh": _tuple([_refresh_ctor(plan, index) for plan in refresh]) if refresh else "",
        "scores": _tuple([_move_ctor(plan, index) for plan in moves.moves]) if moves.moves else "",
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    return env


BLACK_VERSION = importlib.metadata.version("black")
BLACK_MODE = black.Mode(target_versions={black.mode.TargetVersion.PY311})


def _cache_path(source: str) -> Path:
    digest = hashlib.sha256(f"{BLACK_VERSION}\n{source}".encode()).hexdigest()
    return format_cache() / digest[:2] / digest


def _cached(source: str) -> str | None:
    try:
        return _cache_path(source).read_text(encoding="utf-8")
    except OSError:
        return None


def format_python(source: str) -> str:
    """black's output for ``source``; remembered on disk by content, so unchanged specs format instantly."""
    known = _cached(source)
    if known is not None:
        return known
    cached = _cache_path(source)
    text = black.format_str(source, mode=BLACK_MODE)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only tree only loses the speed-up
    return text


def emit(queries: list[CompiledQuery]) -> dict[str, str]:
    """Every generated file, by path relative to generated/, in sorted order."""
    env = _environment()
    accessor = env.get_template("accessor.py.jinja")
    test = env.get_template("test_accessor.py.jinja")
    write = env.get_template("write.py.jinja")
    effects = join_writes(queries)
    rendered: dict[str, str] = {}
    ordered = sorted(queries, key=lambda q: q.spec.name)
    reads = [q for q in ordered if q.spec.kind == "read"]
    for q in ordered:
        if q.spec.kind != "read":
            context = write_context(q, effects[q.spec.name], refresh_plans(q, reads), plan_moves(q, reads, effects[q.spec.name]))
            rendered[f"{q.spec.name}.py"] = write.render(context)
            continue
        context = module_context(q)
        store = q.spec.cache.store if q.spec.cache is not None else "json"
        if store == "bitmap":
            context = bitmap_context(q, context)
        shaped = store != "json"
        rendered[f"{q.spec.name}.py"] = (env.get_template(f"accessor_{store}.py.jinja") if shaped else accessor).render(context)
        rendered[f"tests/test_{q.spec.name}.py"] = (env.get_template(f"test_accessor_{store}.py.jinja") if shaped else test).render(context)
    names = [q.spec.name for q in ordered if q.spec.kind == "read"]
    writes = [q.spec.name for q in ordered if q.spec.kind == "write"]
    rendered["__init__.py"] = env.get_template("package_init.py.jinja").render(names=names, writes=writes)
    rendered["tests/conftest.py"] = env.get_template("conftest.py.jinja").render()
    files = dict(zip(rendered, format_all(list(rendered.values()))))
    files["tests/__init__.py"] = ""
    files["py.typed"] = ""
    return dict(sorted(files.items()))


def format_all(sources: list[str]) -> list[str]:
    """format_python over many sources; the ones not cached yet are formatted on every core.

    Forked workers inherit the imported black, so they start at once. The
    result does not depend on how the work was split: black is a pure function.
    """
    cached = [_cached(s) for s in sources]
    todo = [i for i, c in enumerate(cached) if c is None]
    workers = min(len(todo), os.cpu_count() or 1)
    if workers > 1 and len(todo) >= 4 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = list(pool.map(format_python, [sources[i] for i in todo], chunksize=max(1, len(todo) // (workers * 4))))
    else:
        done = [format_python(sources[i]) for i in todo]
    for i, text in zip(todo, done):
        cached[i] = text
    return [c if c is not None else "" for c in cached]
