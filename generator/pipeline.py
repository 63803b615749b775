"""The build, stage by stage: specs/ -> {path: text}. Writes nothing.

Each stage collects its diagnostics; the build stops after the first stage
that reported any, and raises them all as one SpecError.
"""

from __future__ import annotations

from pathlib import Path

from generator.render import emit
from generator.spec.load import load_specs
from generator.model import CompiledQuery
from generator.schema import Catalog, load_catalog
from generator.sql.compile import compile_all
from generator.spec.validate import validate_all


def display(path: Path) -> str:
    """A path as the user should read it: relative to the cwd when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load_project(specs_dir: Path, schema: Path | None = None) -> tuple[Catalog, list[CompiledQuery]]:
    schema = schema or specs_dir / "schema.sql"
    catalog = load_catalog(schema, display(schema))
    raws = load_specs(specs_dir)
    specs = validate_all(raws)
    return catalog, compile_all(specs, catalog)


def compile_specs(specs_dir: Path, schema: Path | None = None) -> list[CompiledQuery]:
    return load_project(specs_dir, schema)[1]


def build(specs_dir: Path, schema: Path | None = None) -> dict[str, str]:
    return emit(compile_specs(specs_dir, schema))
