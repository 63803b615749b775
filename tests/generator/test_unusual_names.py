"""Unusual but valid names build into code that imports, type-checks and runs; the rest are refused where they are written.

A spec chooses names that become Python: its module (the spec's name), keyword
parameters (params, a zset's or a bitmap's member), row fields (result columns)
and ``fetch_<column>`` functions. The project below uses names that meet the
generated code's own (``st`` and ``settings`` of the tests, ``datetime`` and
``decimal`` of its imports, ``self``, ``match``, ``_``, a non-ASCII ``é``) in
each of those places, then runs as a user would: build, ``mypy --strict``, and
pytest calling every accessor on SQLite and an embedded Valkey.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.cli import main
from generator.names import name_problem

ROOT = Path(__file__).resolve().parents[2]

SPECS = {
    # json, one row: parameters named like the test module's imports, fields like Python's soft keywords and conventions
    "st": """\
name: st
summary: An airport, its fields named as Python names its own things
params:
  decimal: {type: str, pattern: "^[A-Z]{3}$"}
  _x: int
sql: |
  SELECT a.iata AS _code, a.name AS é, a.airport_id AS self, a.icao AS match, a.airport_id AS _
  FROM airport a WHERE a.iata = :decimal AND a.airport_id > :_x
returns: one
cache: {key: "st:{decimal}:{_x}", ttl: 5m, tags: ["airport:{row.self}"]}
invalidate:
  - {table: airport, tags: ["airport:{airport_id}"]}
examples:
  - {decimal: JFK, _x: 0}
""",
    # hash: a field per column, each read by fetch_<column>
    "given": """\
name: given
params:
  v: {type: str, pattern: "^[A-Z]{3}$"}
sql: |
  SELECT a.name AS cls, a.icao AS type, a.airport_id AS case_, a.iata AS _
  FROM airport a WHERE a.iata = :v
returns: one
cache: {key: "given:{v}", ttl: 5m, store: hash}
examples:
  - {v: LAX}
""",
    # zset: a member that rank() and score() take by name
    "settings": """\
name: settings
sql: |
  SELECT b.flight_id AS self, COUNT(*) AS match
  FROM booking b GROUP BY b.flight_id
returns: many
cache: {key: "ranked", ttl: 5m, store: zset, member: self, score: match}
examples:
  - {}
""",
    # bitmap: a member that contains() takes by name
    "datetime": """\
name: datetime
params:
  counters: int
sql: |
  SELECT b.seat AS cls FROM booking b WHERE b.flight_id = :counters AND b.seat IS NOT NULL
columns:
  cls: {nullable: false}
cache:
  key: "seats:{counters}"
  ttl: 5m
  store: bitmap
  bitmap: {member: cls, seats: ABCDEFGHIJK}
examples:
  - {counters: 1001}
""",
    # json scalar: a typed local in the body, parameters of date and decimal types named like their modules
    "annotations": """\
name: annotations
params:
  date: date
  accessor: decimal
sql: |
  SELECT COUNT(*) AS n FROM flight f WHERE f.departure >= :date AND f.flight_id > :accessor
returns: scalar
cache: {key: "count:{date}:{accessor}", ttl: 5m}
examples:
  - {date: 2024-12-15, accessor: 0}
""",
    "_rename": """\
name: _rename
kind: write
params:
  st: int
  decimal: {type: str, pattern: "^.{1,50}$"}
sql: UPDATE airport SET name = :decimal WHERE airport_id = :st
write: through
""",
}

CALLS = """\
import datetime
from decimal import Decimal

from gx import _rename, annotations, datetime as seats, given, settings, st


def test_every_accessor_answers_under_its_unusual_names(flughafen_runtime):
    rt = flughafen_runtime
    row = st.fetch(decimal="JFK", _x=0, runtime=rt)
    assert row is not None and row._code == "JFK" and row.self > 0 and row._ == row.self and row.é
    hashed = given.fetch(v="LAX", runtime=rt)
    assert hashed is not None and given.fetch_cls(v="LAX", runtime=rt) == hashed.cls and given.fetch__(v="LAX", runtime=rt) == "LAX"
    ranking = settings.fetch(runtime=rt)
    assert settings.rank(self=ranking[0].self, runtime=rt) == 0 and settings.score(self=ranking[0].self, runtime=rt) == ranking[0].match
    assert settings.top(n=1, runtime=rt) == ranking[:1]
    members = seats.fetch(counters=1001, runtime=rt)
    assert members and seats.contains(counters=1001, cls=members[0], runtime=rt)
    assert annotations.fetch(date=datetime.date(2024, 12, 15), accessor=Decimal(0), runtime=rt) is not None
    assert _rename.execute(st=row.self, decimal="Renamed", runtime=rt) == 1
    assert st.fetch(decimal="JFK", _x=0, runtime=rt).é == "Renamed"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", tmp_path / "specs" / "schema.sql")
    for name, text in SPECS.items():
        (tmp_path / "specs" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flughafen]\npackage = "gx"\ntest_databases = ["sqlite://"]\nseed = "generator.dataset.seed:tiny"\n'
        '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unusual_names_build_type_check_import_and_run(project: Path) -> None:
    assert main(["build", "specs"]) == 0
    (project / "test_calls.py").write_text(CALLS, encoding="utf-8")
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    typed = subprocess.run([sys.executable, "-m", "mypy", "--strict", "gx"], cwd=project, env=env, capture_output=True, text=True)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "gx/tests", "test_calls.py"], cwd=project, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout and "skipped" not in ran.stdout


def test_unusual_names_build_lint_clean(project: Path, ruff_check: Callable[[Path], None]) -> None:
    assert main(["build", "specs"]) == 0
    ruff_check(project / "gx")


def _bound_names(package: Path) -> set[str]:
    """Every name the generated modules bind or read: variables, arguments, functions, classes, imports."""
    bound: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                bound.add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
    return bound


# A result column of each type a row field or a typed result can have.
TYPED = [
    "a.airport_id",
    "a.name",
    "a.airport_id > 0",
    "CAST(g.latitude AS DOUBLE)",
    "g.latitude",
    "CAST('2024-01-01 00:00:00' AS DATETIME)",
    "CAST('2024-01-01' AS DATE)",
    "CAST('10:00:00' AS TIME)",
]


def test_every_name_the_generated_code_uses_is_refused_or_works_as_a_parameter_and_a_field(project: Path) -> None:
    """A template that starts to use a new name is caught here: each one is tried as a parameter and as a result column.

    One hash spec takes them all: its fetch_<column> functions hold a typed
    local beside the parameters, its row class a field of every type.
    """
    assert main(["build", "specs"]) == 0
    names = sorted(n for n in _bound_names(project / "gx") if n == n.lower())
    assert {"value", "runtime", "datetime", "st", "accessor", "counters"} <= set(names)
    params = [n for n in names if name_problem(n, "parameter") is None and n != "code"]
    fields = [n for n in names if name_problem(n, "column") is None]
    assert "st" in params and "value" in fields
    shutil.rmtree(project / "gx")
    for spec in (project / "specs").glob("*.yaml"):
        spec.unlink()
    declared = ", ".join(["code: {type: str, pattern: '^[A-Z]{3}$'}", *(f"{p}: int" for p in params)])
    selected = ", ".join(f"{TYPED[i % len(TYPED)]} AS `{f}`" for i, f in enumerate(fields))
    where = " AND ".join(["a.iata = :code", *(f"a.airport_id > :{p}" for p in params)])
    key = ":".join("{" + p + "}" for p in ["code", *params])
    example = ", ".join(["code: JFK", *(f"{p}: 0" for p in params)])
    (project / "specs" / "every_name.yaml").write_text(
        f"name: every_name\nparams: {{{declared}}}\n"
        f"sql: SELECT {selected} FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id WHERE {where}\n"
        f'returns: one\ncache: {{key: "names:{key}", ttl: 5m, store: hash}}\nexamples: [{{{example}}}]\n',
        encoding="utf-8",
    )
    assert main(["build", "specs"]) == 0
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    typed = subprocess.run([sys.executable, "-m", "mypy", "--strict", "gx"], cwd=project, env=env, capture_output=True, text=True)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "gx/tests"], cwd=project, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
