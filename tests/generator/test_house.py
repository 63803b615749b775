"""House rules of the build tool: every error code documented, doctests collected, ruff clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from generator.diagnostics import CODES
from generator.stores import STORES

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"\"(FG\d{3})\"")


def raised_codes() -> dict[str, list[str]]:
    """Every FGnnn code the build's source names in a string, with the files that name it."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "generator").rglob("*.py")):
        for code in sorted(set(CODE.findall(path.read_text(encoding="utf-8")))):
            found.setdefault(code, []).append(path.relative_to(ROOT).as_posix())
    return found


def documented_codes() -> set[str]:
    """The codes of the table in docs/spec-format.md."""
    text = (ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| (FG\d{3}) \|", text, re.MULTILINE))


def test_every_error_code_raised_is_in_the_code_table_and_the_docs() -> None:
    raised = raised_codes()
    assert raised, "the scan finds the codes"
    assert {c: where for c, where in raised.items() if c not in CODES} == {}, "add them to CODES in generator/diagnostics.py"
    assert {c: where for c, where in raised.items() if c not in documented_codes()} == {}, "add them to the table in docs/spec-format.md"


def test_every_code_in_the_tables_is_still_raised() -> None:
    raised = raised_codes()
    assert sorted(c for c in CODES if re.fullmatch(r"FG\d{3}", c) and c not in raised) == []
    assert sorted(documented_codes() - set(raised)) == []


def test_each_store_kind_names_its_codes_and_raises_only_known_ones() -> None:
    for kind in STORES.values():
        assert set(kind.codes) <= set(CODES), kind.name
        module = ROOT / "generator" / "stores" / f"{kind.name}.py"
        own = set(CODE.findall(module.read_text(encoding="utf-8")))
        general = {"FG011", "FG012", "FG013", "FG020"}  # missing, wrong type, not allowed, a name: reported by every section
        assert own - general <= set(kind.codes), f"{kind.name} raises {sorted(own - general - set(kind.codes))} without listing them in codes"


def test_doctests_are_collected_by_pytest() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "generator/spec/reader.py", "flughafen/keys.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "generator/spec/reader.py::generator.spec.reader.parse_duration" in out
    assert "flughafen/keys.py::" in out


def test_ruff_check_and_format_pass_on_the_build_tool() -> None:
    for args in (["check", "generator"], ["format", "--check", "generator"]):
        result = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
