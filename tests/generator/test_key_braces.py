"""Keys and tags may not hold a literal brace: Valkey Cluster would place the key by it (a hash tag)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
name: by_flight
params:
  flight_id: int
sql: |
  SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id
returns: one
cache:
  key: "flight:{{x}}:{flight_id}"
  ttl: 5m
  tags: ["f}}:{flight_id}"]
examples:
  - {flight_id: 3}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", tmp_path / "specs" / "schema.sql")
    return tmp_path


def build(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator.cli", "build", "specs"], cwd=project, capture_output=True, text=True, check=False)


def test_a_literal_brace_in_a_key_or_tag_is_refused_at_its_position(project: Path) -> None:
    (project / "specs" / "by_flight.yaml").write_text(SPEC)
    result = build(project)
    assert result.returncode == 2, result.stderr
    assert "specs/by_flight.yaml:8:16: error[FG050]: a literal '{' in a key template: Valkey Cluster would place the key by it" in result.stderr
    assert "specs/by_flight.yaml:10:12: error[FG050]: a literal '}' in a tag template" in result.stderr
    assert not (project / "generated").exists()


def test_the_same_spec_without_braces_builds(project: Path) -> None:
    (project / "specs" / "by_flight.yaml").write_text(SPEC.replace("{{x}}:", "x:").replace("f}}:", "f:"))
    result = build(project)
    assert result.returncode == 0, result.stderr
