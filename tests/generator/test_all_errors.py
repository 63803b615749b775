"""A build reports every error of every spec and stage at once, and each mistake once.

Every stage (load, validate, compile, link) runs on every spec that passed the
stages before it: a mistake in one spec hides nothing of another, and a spec's
mistake in one field hides nothing of its other fields. A spec that failed is
left out of the later stages, and names that refer to it are not reported
again, so one mistake is one error, not a cascade.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]

READ = """\
name: {name}
params:
  flight_id: int
sql: |
  SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id
returns: one
cache:
  key: "flight:{{flight_id}}"
  ttl: 5m
  tags: ["f:{{flight_id}}"]
invalidate:
  - table: flight
    tags: ["flight:{{flight_id}}"]
examples:
  - {{flight_id: 3}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", tmp_path / "specs" / "schema.sql")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec(project: Path, name: str, old: str = "", new: str = "") -> None:
    text = READ.format(name=name)
    assert old in text, old
    (project / "specs" / f"{name}.yaml").write_text(text.replace(old, new, 1))


def errors(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
    """Build; the (file:line:col, code) of each error, in the order printed."""
    capsys.readouterr()
    assert main(["build", "specs"]) == 2
    err = capsys.readouterr().err
    found = re.findall(r"^(\S+:\d+:\d+): error\[(FG\d+)\]", err, re.MULTILINE)
    assert f"{len(found)} error{'s' if len(found) != 1 else ''}; nothing was written" in err
    return found


def test_a_missing_ttl_in_one_spec_hides_no_column_typo_in_another(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(project, "a", "  ttl: 5m\n", "")
    spec(project, "b", "f.departure FROM", "f.departur FROM")
    assert errors(capsys) == [("specs/a.yaml:8:3", "FG011"), ("specs/b.yaml:5:25", "FG062")]


def test_a_broken_schema_hides_no_error_of_a_spec(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(project, "a", "returns: one", "returns: single")
    (project / "specs" / "schema.sql").write_text("CREATE TABLE flight (flight_id INT NOT NULL,\n")
    assert [code for _, code in errors(capsys)] == ["FG013", "FG080"]


def test_a_write_that_binds_too_little_is_reported_beside_another_specs_sql_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(project, "a")
    spec(project, "b", "f.departure FROM", "f.departur FROM")
    (project / "specs" / "w.yaml").write_text("name: w\nkind: write\nparams: {d: datetime}\nsql: UPDATE flight SET departure = :d\nwrite: through\n")
    assert errors(capsys) == [("specs/b.yaml:5:25", "FG062"), ("specs/w.yaml:4:6", "FG071")]


def test_a_mistake_in_a_parameter_is_one_error_not_one_per_use(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # flight_id is used by the key, a tag, an example and the SQL: none of them is reported again.
    spec(project, "a", "flight_id: int", "flight_id: integer")
    assert errors(capsys) == [("specs/a.yaml:3:14", "FG030")]
    text = READ.format(name="a").replace("  flight_id: int", "  value: int").replace(":flight_id", ":value")
    for old, new in (('"flight:{flight_id}"\n', '"flight:{value}"\n'), ('"f:{flight_id}"', '"f:{value}"'), ("{flight_id: 3}", "{value: 3}")):
        text = text.replace(old, new, 1)
    (project / "specs" / "a.yaml").write_text(text)
    assert errors(capsys) == [("specs/a.yaml:3:3", "FG020")]


def test_every_problem_of_a_cache_section_is_reported_though_ttl_is_missing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(project, "a", '  key: "flight:{flight_id}"\n  ttl: 5m\n', '  key: "flight:{flightid}"\n  jitter: lots\n')
    assert errors(capsys) == [("specs/a.yaml:8:3", "FG011"), ("specs/a.yaml:8:16", "FG051"), ("specs/a.yaml:9:11", "FG041")]


def test_a_spec_named_twice_hides_no_error_of_the_first(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(project, "a", "f.departure FROM", "f.departur FROM")
    (project / "specs" / "b.yaml").write_text(READ.format(name="a"))
    assert errors(capsys) == [("specs/a.yaml:5:25", "FG062"), ("specs/b.yaml:1:7", "FG021")]


def test_a_counter_spec_that_failed_is_not_reported_again_by_the_set_that_names_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / "specs" / "seat_map.yaml", project / "specs")
    availability = (ROOT / "specs" / "seat_availability.yaml").read_text()
    (project / "specs" / "seat_availability.yaml").write_text(availability.replace("FROM flight f", "FROM flights f", 1))
    found = errors(capsys)
    assert [code for _, code in found] == ["FG061"] and found[0][0].startswith("specs/seat_availability.yaml:")
    (project / "specs" / "seat_availability.yaml").unlink()
    assert [code for _, code in errors(capsys)] == ["FG105"], "a counter spec that is not there at all is an error of the set"
