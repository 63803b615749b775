"""`build --out DIR` replaces only a folder the build owns, run as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator.cli", "build", "specs", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_folder_holding_other_files_is_refused_and_left_as_it_was(project: Path) -> None:
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('my application')\n")
    before = tree(project)
    result = build(project, "--out", "src")
    assert result.returncode == 2
    assert "src holds files flughafen-gen did not write (app.py)" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(project) == before


@pytest.mark.parametrize("out", [".", "specs", ".."])
def test_the_current_folder_or_the_specs_are_never_an_output(project: Path, out: str) -> None:
    before = sorted(p.name for p in project.parent.iterdir())
    result = build(project, "--out", out)
    assert result.returncode == 2, result.stderr
    assert "would replace" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in project.parent.iterdir()) == before  # no stray folder beside it
    assert (project / "specs" / "flight_search.yaml").is_file()


def test_a_missing_parent_folder_is_one_line(project: Path) -> None:
    result = build(project, "--out", "nowhere/generated")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --out nowhere/generated: the folder nowhere does not exist; create it first"


def test_the_build_replaces_its_own_folder_and_marks_it(project: Path) -> None:
    assert build(project, "--out", "gen").returncode == 0
    assert (project / "gen" / ".flughafen-generated").is_file()
    (project / "gen" / "left_over.py").write_text("# a module of an old spec\n")
    result = build(project, "--out", "gen")
    assert result.returncode == 0, result.stderr
    assert not (project / "gen" / "left_over.py").exists()


def test_output_of_a_build_without_the_marker_is_still_replaced(project: Path) -> None:
    assert build(project, "--out", "gen").returncode == 0
    (project / "gen" / ".flughafen-generated").unlink()
    result = build(project, "--out", "gen")
    assert result.returncode == 0, result.stderr
    assert (project / "gen" / ".flughafen-generated").is_file()
