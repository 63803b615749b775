"""The build, stage by stage: specs/ -> {path: text}; write.py puts it on disk.

    load      Path -> RawSpec list and Catalog     spec/load.py, schema.py
    validate  RawSpec -> Spec                      spec/validate.py
    compile   Spec + Catalog -> CompiledQuery      sql/compile.py
    link      CompiledQuery list -> Linked         link.py
    prove     each dialect's SQL -> EXPLAIN        sql/prove.py (SQLite; servers of test_databases)
    render    Linked -> {path: source}             render.py
    format    {path: source} -> {path: text}       format.py (black)
    write     {path: text} -> generated/           write.py (or --check)

Every stage runs on every spec that passed the stages before it, and the
build reports the problems of all stages and all specs at once, as one
SpecError: a missing ``ttl`` in one spec does not hide a misspelt column in
another. A spec that failed is left out of the later stages, so its one
mistake is reported once (link is told which specs are absent, so that a
reference to one is not an error of its own); render and format run only
when there is nothing to report. What differs between store kinds (json,
hash, zset, bitmap) each stage asks of the kind (generator/stores/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from generator.diagnostics import Diagnostic, SpecError
from generator.format import format_files
from generator.link import Linked, link
from generator.model import CompiledQuery
from generator.render import render
from generator.schema import Catalog, load_catalog
from generator.spec.load import load_specs
from generator.spec.validate import declared_name, validate_all
from generator.sql.collation import project_collation
from generator.sql.compile import compile_query
from generator.sql.prove import Proof, held_statements, prove

__all__ = ["Proof", "build", "compile_project", "compile_specs", "display", "emit", "link_project", "load_project"]

T = TypeVar("T")
R = TypeVar("R")


def display(path: Path) -> str:
    """A path as the user should read it: relative to the cwd when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass(frozen=True, slots=True)
class Compiled:
    """load, validate and compile, run on every spec: what got through, and every problem on the way."""

    catalog: Catalog | None  # None: schema.sql failed (then nothing is compiled)
    queries: tuple[CompiledQuery, ...]
    absent: frozenset[str]  # names of specs that failed a stage
    problems: tuple[Diagnostic, ...]


def each(items: Iterable[T], stage: Callable[[T], R], problems: list[Diagnostic]) -> list[R]:
    """``stage`` applied to every item; an item it refuses (SpecError) is left out, its diagnostics added to ``problems``."""
    out: list[R] = []
    for item in items:
        try:
            out.append(stage(item))
        except SpecError as e:
            problems.extend(e.diagnostics)
    return out


def compile_project(specs_dir: Path, schema: Path | None = None) -> Compiled:
    """load, validate, compile: every stage on every spec that passed the ones before."""
    schema = schema or specs_dir / "schema.sql"
    problems: list[Diagnostic] = []
    catalog: Catalog | None = None
    try:
        catalog = load_catalog(schema, display(schema))
    except SpecError as e:
        problems.extend(e.diagnostics)
    raws = load_specs(specs_dir, problems)
    specs = validate_all(raws, problems)
    mode = project_collation(specs_dir)
    specs = [replace(spec, collation=mode) for spec in specs] if mode else specs
    queries = [] if catalog is None else each(specs, lambda spec: compile_query(spec, catalog), problems)
    named = {name for name in map(declared_name, raws) if name is not None}
    return Compiled(catalog, tuple(queries), frozenset(named - {q.spec.name for q in queries}), tuple(problems))


def load_project(specs_dir: Path, schema: Path | None = None) -> tuple[Catalog, list[CompiledQuery]]:
    """load, validate, compile: the schema's catalog and every spec's compiled query; one SpecError with every problem."""
    compiled = compile_project(specs_dir, schema)
    if compiled.problems or compiled.catalog is None:
        raise SpecError(compiled.problems)
    return compiled.catalog, list(compiled.queries)


def compile_specs(specs_dir: Path, schema: Path | None = None) -> list[CompiledQuery]:
    return load_project(specs_dir, schema)[1]


def link_project(specs_dir: Path, schema: Path | None = None) -> Linked:
    """Every stage up to link, on every spec that passed the ones before; one SpecError with every problem of them all."""
    compiled = compile_project(specs_dir, schema)
    try:
        linked = link(compiled.queries, compiled.absent)
    except SpecError as e:
        raise SpecError([*compiled.problems, *e.diagnostics]) from None
    if compiled.problems:
        raise SpecError(compiled.problems)
    return linked


def emit(queries: Sequence[CompiledQuery]) -> dict[str, str]:
    """link, render, format: compiled queries -> every generated file, by path relative to generated/."""
    return format_files(render(link(queries)))


def build(specs_dir: Path, schema: Path | None = None, proof: Proof | None = None) -> dict[str, str]:
    """Every stage but write: specs/ -> {path: text}. ``proof``: where the SQL is proven (default: SQLite only)."""
    linked = link_project(specs_dir, schema)
    queries = [*linked.reads, *(w.write for w in linked.writes)]
    lookups = [(w.write.spec, w.lookup) for w in linked.writes if w.lookup]
    schema = schema or specs_dir / "schema.sql"
    prove(held_statements(queries, lookups), load_catalog(schema, display(schema)), proof or Proof())
    sources = render(linked)
    return format_files(sources)
