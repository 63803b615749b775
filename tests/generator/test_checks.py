"""`flughafen-gen check`: each lint fires where it should, with its position, and only there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main
from generator.commands.check import check
from generator.pipeline import load_project

ROOT = Path(__file__).resolve().parents[2]

HEAD = "name: q\nparams: {p: %s}\nsql: |\n"
TAIL = 'cache: {key: "q:{p}", ttl: 5m}\ninvalidate:\n%s'


def spec(
    sql: str,
    param: str = "int",
    returns: str = "many",
    tables: tuple[str, ...] = ("flight", "booking", "airport", "airline", "airplane", "airport_geo", "passenger"),
) -> str:
    body = "".join(f"  {line}\n" for line in sql.strip().splitlines())
    triggers = "".join(f"  - {{table: {t}, all: true}}\n" for t in tables)
    return HEAD % param + body + f"returns: {returns}\n" + TAIL % triggers


CASES = [
    # (what, spec text, expected "code line:col" findings)
    (
        "DATE() around an indexed column",
        spec("SELECT f.flight_id FROM flight f\nWHERE DATE(f.departure) = :p", "date"),
        ["FGL05 4:3", "FGL01 5:9"],
    ),
    (  # the build sorts text by code point everywhere: no collation lint (FGL02 is retired)
        "ORDER BY a text column",
        spec("SELECT a.airport_id FROM airport a WHERE a.airport_id > :p\nORDER BY a.name\nLIMIT 10"),
        ["FGL03 6:9"],
    ),
    (
        "LIMIT with an ORDER BY that is not total",
        spec("SELECT f.flight_id FROM flight f WHERE f.airline_id = :p\nORDER BY f.departure\nLIMIT 10"),
        ["FGL03 6:9"],
    ),
    (
        "returns: one without a key",
        spec("SELECT f.flight_id FROM flight f WHERE f.airline_id = :p", returns="one"),
        ["FGL04 5:10"],
    ),
    (
        "unbounded many on a large table",
        spec("SELECT b.booking_id FROM booking b WHERE b.price > :p", "decimal"),
        ["FGL05 4:3"],
    ),
    (
        "a table without a trigger",
        spec("SELECT f.flight_id FROM flight f WHERE f.flight_id = :p", tables=("booking",)),
        ["FGL06 1:7"],
    ),
]


@pytest.fixture
def specs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "specs"
    d.mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", d / "schema.sql")
    monkeypatch.chdir(tmp_path)
    return d


@pytest.mark.parametrize(("what", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_lint_fires_at_its_position(specs_dir: Path, what: str, text: str, expected: list[str]) -> None:
    (specs_dir / "q.yaml").write_text(text)
    catalog, queries = load_project(specs_dir)
    found = [f"{d.code} {d.span.line}:{d.span.col}" for d in check(queries, catalog)]
    assert found == expected, what


def test_a_portable_keyed_query_passes_every_lint(specs_dir: Path) -> None:
    (specs_dir / "q.yaml").write_text(
        spec("SELECT f.flight_id, f.departure FROM flight f\nWHERE f.airline_id = :p\nORDER BY f.departure, f.flight_id\nLIMIT 10")
    )
    catalog, queries = load_project(specs_dir)
    assert check(queries, catalog) == []


def test_every_finding_suggests_a_rewrite(specs_dir: Path) -> None:
    for n, (_, text, _) in enumerate(CASES):
        (specs_dir / f"q{n}.yaml").write_text(text.replace("name: q", f"name: q{n}"))
    catalog, queries = load_project(specs_dir)
    for d in check(queries, catalog):
        assert ";" in d.message and d.severity == "warning", d.message


def test_the_seed_specs_are_clean_and_check_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", "specs"]) == 0


def test_check_exits_1_on_findings(specs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (specs_dir / "q.yaml").write_text(CASES[0][1])
    assert main(["check", str(specs_dir)]) == 1
    assert "specs/q.yaml:5:9: warning[FGL01]" in capsys.readouterr().out
