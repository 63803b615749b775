"""The command line: exit codes, messages with positions, nothing written on errors."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's specs in a fresh directory, as the cwd."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_build_writes_every_accessor_and_reports(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "specs"]) == 0
    names = sorted(p.stem for p in (project / "specs").glob("*.yaml"))
    reads = [n for n in names if "kind: write" not in (project / "specs" / f"{n}.yaml").read_text()]
    assert sorted(p.stem for p in (project / "generated").glob("*.py") if p.stem != "__init__") == names
    assert sorted(p.name for p in (project / "generated" / "tests").glob("test_*.py")) == [f"test_{n}.py" for n in reads]
    assert f"{len(names)} accessor module(s)" in capsys.readouterr().out


def test_the_checked_in_generated_tree_is_what_the_specs_produce(project: Path) -> None:
    assert main(["build", "specs", "--check", "--out", str(ROOT / "generated")]) == 0


def test_check_exits_1_and_lists_stale_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["build", "specs"])
    (project / "generated" / "flight_search.py").write_text("# edited by hand\n")
    capsys.readouterr()
    assert main(["build", "specs", "--check"]) == 1
    assert "stale: generated/flight_search.py" in capsys.readouterr().out


def test_check_exits_1_when_nothing_was_generated_yet(project: Path) -> None:
    assert main(["build", "specs", "--check"]) == 1


def test_a_wrong_spec_exits_2_names_file_line_column_and_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["build", "specs"])
    before = {p: p.read_bytes() for p in (project / "generated").rglob("*") if p.is_file()}
    spec = project / "specs" / "flight_search.yaml"
    spec.write_text(spec.read_text().replace("f.departure, f.arrival, COUNT", "f.departur, f.arrival, COUNT"))
    capsys.readouterr()
    assert main(["build", "specs"]) == 2
    err = capsys.readouterr().err
    assert "specs/flight_search.yaml:9:12: error[FG062]" in err
    assert "departur" in err and "nothing was written" in err
    after = {p: p.read_bytes() for p in (project / "generated").rglob("*") if p.is_file()}
    assert after == before


def test_errors_in_several_specs_are_all_reported(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "a_broken.yaml").write_text("name: a_broken\nsql: SELECT 1 AS x\n")
    (project / "specs" / "b_broken.yaml").write_text("name: b_broken\nsql: SELECT 1 AS x\ncache: {key: k, ttl: soon}\n")
    assert main(["build", "specs"]) == 2
    err = capsys.readouterr().err
    assert "specs/a_broken.yaml:1:1: error[FG011]" in err
    assert "specs/b_broken.yaml:3:22: error[FG040]" in err
    assert not (project / "generated").exists()


def test_show_prints_the_sql_held_for_a_dialect(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "flight_search", "--dialect", "sqlite"]) == 0
    out = capsys.readouterr().out
    assert "DATE(?, '+1 days')" in out and '"f"."from"' in out


def test_show_an_unknown_spec_exits_2(project: Path) -> None:
    assert main(["show", "nope"]) == 2


def test_a_missing_specs_directory_exits_2(project: Path) -> None:
    assert main(["build", "nowhere"]) == 2


def test_a_project_of_read_specs_only_builds_and_passes_mypy_strict(project: Path) -> None:
    """What a new user does first: one read spec, build, type-check (no write specs, no config of ours)."""
    for spec in (project / "specs").glob("*.yaml"):
        if spec.name != "airport_by_iata.yaml":
            spec.unlink()
    assert main(["build", "specs"]) == 0
    (project / "mypy.ini").write_text("[mypy]\nstrict = True\n")  # the user's config, not the repository's
    env = {**os.environ, "MYPYPATH": str(ROOT)}  # the runtime as an installed package would provide it
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "generated"], cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_command_line_maps_arguments_to_one_command_and_returns_its_exit_code() -> None:
    """cli.py parses argv and calls one function of generator/commands/ per command; the commands' bodies live there."""
    tree = ast.parse((ROOT / "generator" / "cli.py").read_text(encoding="utf-8"))
    commands = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("cmd_")]
    assert len(commands) >= 9
    for fn in commands:
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and ast.unparse(s.value.func) == "_build_tools")]
        assert len(body) == 2, f"{fn.name}: an import of the command and `return command(...)`, nothing more"
        imported, returned = body
        assert isinstance(imported, ast.ImportFrom) and (imported.module or "").startswith(("generator.commands.", "generator.dataset.cli")), fn.name
        assert isinstance(returned, ast.Return) and isinstance(returned.value, ast.Call), fn.name
