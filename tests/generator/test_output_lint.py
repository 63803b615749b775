"""The generated code passes an application's linters: ruff, with ruff's default rules and with this repository's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.pipeline import build
from generator.tidy import tidy_python

ROOT = Path(__file__).resolve().parents[2]


def test_a_build_of_the_seed_specs_is_ruff_clean(tmp_path: Path, ruff_check: Callable[[Path], None]) -> None:
    package = tmp_path / "accessors"
    for path, text in build(ROOT / "specs").items():
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text(text, encoding="utf-8", newline="\n")
    assert (package / "tests").is_dir() and (package / "aio").is_dir(), "the generated tests and async modules are linted too"
    ruff_check(tmp_path)


def test_imports_the_module_does_not_use_are_dropped_and_their_blank_lines_with_them() -> None:
    source = '"""Doc."""\n\nfrom __future__ import annotations\n\nimport datetime\nfrom decimal import Decimal\n\nfrom flughafen import Param, Runtime\n\n\ndef f(r: Runtime) -> None: ...\n'
    assert tidy_python(source) == '"""Doc."""\n\nfrom __future__ import annotations\n\nfrom flughafen import Runtime\n\n\ndef f(r: Runtime) -> None: ...\n'


def test_names_in_all_count_as_used_and_all_is_sorted_as_ruff_sorts_it() -> None:
    source = 'from ..m import EXAMPLES, QUERY, Row, unused\n\n__all__ = ["key", "Row", "fetch_10", "QUERY", "fetch_2", "EXAMPLES"]\n'
    assert tidy_python(source) == 'from ..m import EXAMPLES, QUERY, Row\n\n__all__ = ["EXAMPLES", "QUERY", "Row", "fetch_2", "fetch_10", "key"]\n'
