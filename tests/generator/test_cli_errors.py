"""Operational failures are one line and exit 3, run as a user runs the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_version_and_help_name_the_exit_codes() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("flughafen-gen ")
    helped = run("--help")
    assert helped.returncode == 0
    assert "3  the environment failed" in helped.stdout and "--debug" in helped.stdout


def test_an_unreachable_database_is_one_line_exit_3_without_the_password() -> None:
    result = run("verify", "--databases", "mysql://root:se%2Fcret@127.0.0.1:1/x")
    assert result.returncode == 3, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Can't connect" in line and line.endswith("(run with --debug for the traceback)")
    assert "se%2Fcret" not in line and "cret" not in line


def test_an_unreachable_cache_is_one_line_exit_3(tmp_path: Path) -> None:
    result = run("stats", "--database", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--cache", "valkey://127.0.0.1:1/0")
    assert result.returncode == 3
    [line] = result.stderr.strip().splitlines()
    assert "127.0.0.1:1" in line and "Connection refused" in line


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "verify", "--databases", "mysql://root@127.0.0.1:1/x")
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
