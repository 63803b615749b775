"""The build is a pure function of the specs: same bytes every time, on every machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from generator.pipeline import build

ROOT = Path(__file__).resolve().parents[2]


def test_two_builds_give_the_same_bytes() -> None:
    assert build(ROOT / "specs") == build(ROOT / "specs")


def test_the_output_does_not_depend_on_file_order_or_location(tmp_path: Path) -> None:
    # Copy the specs in reverse order into a directory elsewhere: same output.
    target = tmp_path / "elsewhere" / "specs"
    target.mkdir(parents=True)
    for p in sorted((ROOT / "specs").iterdir(), reverse=True):
        shutil.copy(p, target / p.name)
    here = build(ROOT / "specs")
    there = build(target)
    assert there.keys() == here.keys()
    for path in here:
        # Only the spec's path in the docstring may differ (it is shown relative to the cwd).
        assert there[path].replace(str(target.parent.as_posix()), "") == here[path].replace("specs/", "/specs/") or there[path] == here[path]


def test_the_output_does_not_depend_on_the_hash_seed() -> None:
    script = "import json, sys; from pathlib import Path; from generator.pipeline import build; json.dump(build(Path('specs')), sys.stdout, sort_keys=True)"
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout)
    assert outs[0] == outs[1]


def test_no_timestamps_or_absolute_paths_in_the_output() -> None:
    for path, text in build(ROOT / "specs").items():
        assert str(ROOT) not in text, path
        assert "2026" not in text, path


def test_formatting_is_stable_a_second_black_pass_changes_nothing() -> None:
    from generator.format import format_python

    for path, text in build(ROOT / "specs").items():
        if path.endswith(".py") and text:
            assert format_python(text) == text, path
