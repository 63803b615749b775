"""Fixtures for the SQL stage's tests: the FlughafenDB catalog and spec builders.

Specs are built with ``generator.sql.testing.make_spec``, which writes the
YAML text the loader would have read, so positions in diagnostics are real.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.diagnostics import SpecError
from generator.model import CompiledQuery
from generator.schema import Catalog, load_catalog
from generator.sql.compile import compile_query
from generator.sql.testing import make_spec

ROOT = Path(__file__).resolve().parents[2]

Compile = Callable[..., CompiledQuery]

Errors = Callable[..., list[str]]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(ROOT / "specs" / "schema.sql")


@pytest.fixture
def compile_sql(catalog: Catalog) -> Compile:
    """``compile_sql(sql, {"p": "int"}, returns=..., ...)`` -> CompiledQuery."""

    def run(sql: str, params: dict[str, str] | None = None, **kw: Any) -> CompiledQuery:
        return compile_query(make_spec(sql, params, **kw), catalog)

    return run


@pytest.fixture
def errors(catalog: Catalog) -> Errors:
    """``errors(sql, params, ...)`` -> ["LINE:COL FGnnn message", ...]; fails if it compiles."""

    def run(sql: str, params: dict[str, str] | None = None, **kw: Any) -> list[str]:
        spec = make_spec(sql, params, **kw)
        with pytest.raises(SpecError) as info:
            compile_query(spec, catalog)
        return [f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in info.value.diagnostics]

    return run
