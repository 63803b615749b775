"""The build, stage by stage: specs/ -> {path: text}. Writes nothing.

Each stage collects its diagnostics; the build stops after the first stage
that reported any, and raises them all as one SpecError.
"""

from __future__ import annotations

from pathlib import Path

from generator.emit import emit
from generator.load import load_specs
from generator.model import CompiledQuery
from generator.schema import load_catalog
from generator.sql import compile_all
from generator.validate import validate_all


def display(path: Path) -> str:
    """A path as the user should read it: relative to the cwd when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def compile_specs(specs_dir: Path, schema: Path | None = None) -> list[CompiledQuery]:
    schema = schema or specs_dir / "schema.sql"
    catalog = load_catalog(schema, display(schema))
    raws = load_specs(specs_dir)
    specs = validate_all(raws)
    return compile_all(specs, catalog)


def build(specs_dir: Path, schema: Path | None = None) -> dict[str, str]:
    return emit(compile_specs(specs_dir, schema))
