"""Fixtures of the build tool's tests."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project_rules() -> list[str]:
    """This repository's ruff lint settings (pyproject.toml) as command-line options."""
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]
    lint = ruff["lint"]
    return [
        f"--line-length={ruff['line-length']}",
        f"--target-version={ruff['target-version']}",
        f"--select={','.join(lint['select'])}",
        f"--ignore={','.join(lint['ignore'])}",
    ]


@pytest.fixture
def ruff_check() -> Callable[[Path], None]:
    """Lint a folder of generated code as an application's project does: ``ruff check`` run in the folder, no
    configuration of this repository's (so flughafen is an installed package there), with ruff's default rules
    and with this repository's. Fails the test with ruff's findings."""

    def check(folder: Path) -> None:
        for rules in ([], _project_rules()):
            result = subprocess.run(
                [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--output-format=concise", *rules, "."],
                cwd=folder,
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, f"ruff check {' '.join(rules) or '(defaults)'} in {folder}:\n{result.stdout}{result.stderr}"

    return check
