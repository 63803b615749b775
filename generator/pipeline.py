"""The build, stage by stage: specs/ -> {path: text}; write.py puts it on disk.

    load      Path -> RawSpec list and Catalog     spec/load.py, schema.py
    validate  RawSpec -> Spec                      spec/validate.py
    compile   Spec + Catalog -> CompiledQuery      sql/compile.py
    link      CompiledQuery list -> Linked         link.py
    prove     each dialect's SQL -> EXPLAIN        sql/prove.py (SQLite; servers of test_databases)
    render    Linked -> {path: source}             render.py
    format    {path: source} -> {path: text}       format.py (black)
    write     {path: text} -> generated/           write.py (or --check)

Each stage takes and returns plain typed data and collects its diagnostics;
the build stops after the first stage that reported any, and raises them all
as one SpecError. What differs between store kinds (json, hash, zset,
bitmap) each stage asks of the kind (generator/stores/).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generator.format import format_files
from generator.link import link
from generator.model import CompiledQuery
from generator.render import render
from generator.schema import Catalog, load_catalog
from generator.spec.load import load_specs
from generator.spec.validate import validate_all
from generator.sql.compile import compile_all
from generator.sql.prove import Proof, held_statements, prove

__all__ = ["Proof", "build", "compile_specs", "display", "emit", "load_project"]


def display(path: Path) -> str:
    """A path as the user should read it: relative to the cwd when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load_project(specs_dir: Path, schema: Path | None = None) -> tuple[Catalog, list[CompiledQuery]]:
    """load, validate, compile: the schema's catalog and every spec's compiled query."""
    schema = schema or specs_dir / "schema.sql"
    catalog = load_catalog(schema, display(schema))
    raws = load_specs(specs_dir)
    specs = validate_all(raws)
    return catalog, compile_all(specs, catalog)


def compile_specs(specs_dir: Path, schema: Path | None = None) -> list[CompiledQuery]:
    return load_project(specs_dir, schema)[1]


def emit(queries: Sequence[CompiledQuery]) -> dict[str, str]:
    """link, render, format: compiled queries -> every generated file, by path relative to generated/."""
    return format_files(render(link(queries)))


def build(specs_dir: Path, schema: Path | None = None, proof: Proof | None = None) -> dict[str, str]:
    """Every stage but write: specs/ -> {path: text}. ``proof``: where the SQL is proven (default: SQLite only)."""
    schema = schema or specs_dir / "schema.sql"
    catalog = load_catalog(schema, display(schema))
    raws = load_specs(specs_dir)
    specs = validate_all(raws)
    queries = compile_all(specs, catalog)
    linked = link(queries)
    prove(held_statements(queries, [(w.write.spec, w.lookup) for w in linked.writes if w.lookup]), catalog, proof or Proof())
    sources = render(linked)
    return format_files(sources)
