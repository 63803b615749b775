"""The generated modules hold each dialect's SQL one clause a line, so a spec change reads as the lines it changes."""

from __future__ import annotations

import ast
import difflib
import shutil
from pathlib import Path

import black
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.format import BLACK_MODE
from generator.pipeline import compile_specs
from generator.render import sql_literal

ROOT = Path(__file__).resolve().parents[2]


@settings(derandomize=True, max_examples=500)
@given(text=st.text() | st.text(alphabet='"\\\n\r\t x\x00\u2028'))
def test_an_sql_literal_gives_back_any_text_and_black_leaves_it_alone(text: str) -> None:
    literal = sql_literal(text)
    assert ast.literal_eval(literal) == text
    source = f"SQL = {{\n    'x': {literal},\n}}\n"
    formatted = black.format_str(source, mode=BLACK_MODE)
    assert ast.literal_eval(formatted.split("=", 1)[1].strip())["x"] == text


def test_a_module_holds_the_compiled_sql_one_clause_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["build", "specs"]) == 0
    text = (tmp_path / "generated" / "flight_search.py").read_text()
    assert '    "mysql": """\\\nSELECT\n  `f`.`flight_id` AS `flight_id`,\n' in text
    [held] = [n.value for n in ast.parse(text).body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == "SQL"]
    [query] = [q for q in compile_specs(tmp_path / "specs") if q.spec.name == "flight_search"]
    assert held is not None and ast.literal_eval(held) == query.sql


def test_a_condition_added_to_a_spec_adds_one_line_per_dialect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["build", "specs"]) == 0
    before = (tmp_path / "generated" / "airports_in_country.py").read_text().splitlines()
    spec = tmp_path / "specs" / "airports_in_country.yaml"
    text = spec.read_text()
    assert "WHERE g.country = :country\n" in text
    spec.write_text(text.replace("WHERE g.country = :country\n", "WHERE g.country = :country AND a.airport_id > 0\n"))
    assert main(["build", "specs"]) == 0
    after = (tmp_path / "generated" / "airports_in_country.py").read_text().splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0) if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    sql = [line for line in changed if "version=" not in line]
    assert len(sql) == 6, changed  # the WHERE line out and in, per dialect; the other clauses stay
    assert all(line[1:].startswith('  "g"."country"') or line[1:].startswith("  `g`.`country`") for line in sql), changed
