"""Hostile text in any spec field never becomes code: it is an escaped literal, or refused at its position.

A spec is untrusted input. Every text field that reaches a generated module (the summary,
key, tag and trigger templates, the parameter's name and pattern, example values, result
aliases, a zset's member and score, a bitmap's member and seat letters, the spec's name and
its file's name, write specs' summaries, and table and column names from the schema) is
filled with hostile strings; the build must either refuse the spec with an error at a
position in the specs, or produce modules that import cleanly and run nothing of the text.

Each field's case is first built with a clean value (so a refusal is the hostile text's,
not the case's), and each field must build some hostile strings (escaped, not merely
refused) unless REFUSED_ALWAYS says why none can be right there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "PWNED"
EXPLOITS = [
    f'x"""+__import__("pathlib").Path("{SENTINEL}").touch()+"""',
    f"x'''+__import__('pathlib').Path('{SENTINEL}').touch()+'''",
    f'x"\n__import__("pathlib").Path("{SENTINEL}").touch()\n#',
    "\\N{",
    "\\x",
    "\\u12",
    '"""',
    "\\",
    "a\rb\x0c\u2028c\x85d",
    "{{ cache }}{% raw %}",
    "#",
    # Names that are identifiers to str.isidentifier() but not what Python reads, or Python's or ours.
    "\uff43\uff4c\uff41\uff53\uff53",  # class in fullwidth letters: NFKC makes it the keyword
    "\ufb01le",  # the ligature fi: NFKC makes it file
    "__init__",
    "runtime",
    "value",
    "int",
    "stats",
    # Unusual names that are fine: they must build.
    "_x",
    "é",
]
hostile = st.one_of(
    st.sampled_from(EXPLOITS),
    st.text(alphabet=st.sampled_from(list("\"'\\\n\r{}Nxu#% `$a0\t\u2028\x85é\x7f")), min_size=1, max_size=12),
)


@dataclass
class Case:
    """Spec files (file name -> spec) and DDL added to the schema."""

    specs: dict[str, dict[str, Any]]
    schema: str = ""
    column: str | None = None  # an extra column of the airport table


def read(**overrides: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "name": "q",
        "summary": "An airport by code",
        "params": {"code": {"type": "str", "pattern": "^.{1,8}$"}},
        "sql": "SELECT a.iata AS code_out, a.name FROM airport a WHERE UPPER(a.iata) = UPPER(:code)",
        "returns": "one",
        "cache": {"key": "airport:{code}", "ttl": "5m", "tags": ["airport:{code}"]},
        "invalidate": [{"table": "airport", "tags": ["airport:{iata}"]}],
        "examples": [{"code": "JFK"}],
    }
    s.update(overrides)
    return s


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def zset(member: str = "m", score: str = "n") -> dict[str, Any]:
    return {
        "name": "z",
        "sql": f"SELECT a.icao AS {quoted(member)}, COUNT(*) AS {quoted(score)} FROM airport a GROUP BY a.icao",
        "cache": {"key": "airports:ranked", "ttl": "5m", "store": "zset", "member": member, "score": score},
        "examples": [{}],
    }


def bitmap(member: str = "seat", seats: str = "ABCDEFGHIJK") -> dict[str, Any]:
    return {
        "name": "b",
        "params": {"flight_id": "int"},
        "sql": f"SELECT b.seat AS {quoted(member)} FROM booking b WHERE b.flight_id = :flight_id AND b.seat IS NOT NULL",
        "columns": {member: {"nullable": False}},
        "cache": {"key": "flight:{flight_id}:seats", "ttl": "5m", "store": "bitmap", "bitmap": {"member": member, "seats": seats}},
        "examples": [{"flight_id": 1001}],
    }


def write(summary: str = "Add a code", table: str = "extra") -> Case:
    return Case(
        {
            "w": {
                "name": "w",
                "summary": summary,
                "kind": "write",
                "params": {"code": {"type": "str", "pattern": "^[A-Z]{3}$"}},
                "sql": f"INSERT INTO {quoted(table)} (iata) VALUES (:code)",
                "write": "through",
            },
            "q": read(invalidate=[{"table": table, "tags": ["airport:{iata}"]}]),
        },
        schema=f"CREATE TABLE {quoted(table)} (iata CHAR(3) NOT NULL, PRIMARY KEY (iata));\n",
    )


# field -> (the case with text t in that field, a clean value that builds)
FIELDS: dict[str, tuple[Callable[[str], Case], str]] = {
    "summary": (lambda t: Case({"q": read(summary=t)}), "An airport"),
    "key template": (lambda t: Case({"q": read(cache={"key": f"{t}:{{code}}", "ttl": "5m"})}), "airport"),
    "tag template": (lambda t: Case({"q": read(cache={"key": "airport:{code}", "ttl": "5m", "tags": [f"{t}:{{code}}"]})}), "airport"),
    "trigger tag": (lambda t: Case({"q": read(invalidate=[{"table": "airport", "tags": [f"{t}:{{iata}}"]}])}), "airport"),
    "trigger table": (
        lambda t: Case({"q": read(invalidate=[{"table": t, "tags": ["airport:{iata}"]}])}, schema=f"CREATE TABLE {quoted(t)} (iata CHAR(3) NOT NULL);\n"),
        "extra",
    ),
    "parameter name": (
        lambda t: Case(
            {
                "q": read(
                    params={t: "str"},
                    sql=f"SELECT a.iata AS code_out, a.name FROM airport a WHERE UPPER(a.iata) = UPPER(:{t})",
                    cache={"key": f"airport:{{{t}}}", "ttl": "5m"},
                    examples=[{t: "JFK"}],
                )
            }
        ),
        "code",
    ),
    "pattern": (lambda t: Case({"q": read(params={"code": {"type": "str", "pattern": f"^(JFK|{re.escape(t)})$"}})}), "JFK"),
    "example value": (lambda t: Case({"q": read(examples=[{"code": t}])}), "JFK"),
    "result alias": (
        lambda t: Case({"q": read(sql=f"SELECT a.iata AS {quoted(t)}, a.name FROM airport a WHERE UPPER(a.iata) = UPPER(:code)")}),
        "code_out",
    ),
    "schema column": (
        lambda t: Case({"q": read(sql=f"SELECT a.{quoted(t)} AS code_out, a.name FROM airport a WHERE UPPER(a.iata) = UPPER(:code)")}, column=t),
        "extra",
    ),
    "spec name": (lambda t: Case({"q": read(name=t)}), "q"),
    "file name": (lambda t: Case({t: read()}), "q"),
    "zset member": (lambda t: Case({"z": zset(member=t)}), "m"),
    "zset score": (lambda t: Case({"z": zset(score=t)}), "n"),
    "bitmap member": (lambda t: Case({"b": bitmap(member=t)}), "seat"),
    "bitmap seats": (lambda t: Case({"b": bitmap(seats=t)}), "ABCDEF"),
    "write summary": (lambda t: write(summary=t), "Add a code"),
    "written table": (lambda t: write(table=t), "extra"),
}

# Fields where no hostile string can be right, and why refusing all of them is the rule, not a gap.
REFUSED_ALWAYS = {
    "bitmap seats": "seat letters are distinct capitals A-Z (FG101): a seat label is a row number and one of them",
}


def build(project: Path, case: Case, out: str) -> bool:
    """Build ``case`` into the package folder ``out``; True when it built, False when it was refused (and nothing written)."""
    specs = project / "specs"
    if specs.exists():
        shutil.rmtree(specs)
    specs.mkdir()
    schema = (ROOT / "specs" / "schema.sql").read_text()
    if case.column is not None:
        schema = schema.replace("  icao CHAR(4) NOT NULL,\n", f"  icao CHAR(4) NOT NULL,\n  {quoted(case.column)} CHAR(3) NULL,\n", 1)
    (specs / "schema.sql").write_text(schema + case.schema)
    for stem, data in case.specs.items():
        (specs / f"{stem}.yaml").write_text(yaml.safe_dump(data, allow_unicode=False))
    status = main(["build", "specs", "--out", out])
    if status != 0:
        assert status == 2
        assert not (project / out).exists(), "nothing is written when a spec is refused"
        return False
    return True


IMPORT_ALL = """\
import importlib, sys, traceback
from pathlib import Path
failed = 0
for package in sys.argv[1:]:
    root = Path(package)
    for module in sorted(f"{package}.{p.stem}" for p in root.glob("*.py")) + sorted(f"{package}.tests.{p.stem}" for p in (root / "tests").glob("test_*.py")):
        try:
            importlib.import_module(module)
        except BaseException:
            failed += 1
            print(f"{module}:", traceback.format_exc(), file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def import_all(project: Path, packages: list[str]) -> None:
    """Import every module of the built packages in one fresh interpreter: all import, none runs text of a spec."""
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL, *packages], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-8000:]
    assert not (project / SENTINEL).exists(), "text from the spec ran as code"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_fields_case_builds_with_a_clean_value(project: Path, field: str) -> None:
    make, clean = FIELDS[field]
    assert build(project, make(clean), "clean")
    import_all(project, ["clean"])


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_hostile_text_in_a_field_is_escaped_or_refused(project: Path, field: str, capsys: pytest.CaptureFixture[str]) -> None:
    make = FIELDS[field][0]
    built: list[str] = []
    tried: list[str] = []

    @settings(derandomize=True, max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=hostile)
    def check(text: str) -> None:
        run(text)

    def run(text: str) -> None:
        capsys.readouterr()
        out = f"g{len(tried)}"
        tried.append(text)
        if build(project, make(text), out):
            built.append(out)
            return
        first = capsys.readouterr().err.splitlines()[0]
        assert first.startswith("specs/") and "error[FG" in first, (text, first)

    for exploit in EXPLOITS:
        run(exploit)
    check()
    import_all(project, built)
    print(f"{field}: {len(built)} of {len(tried)} built and imported, the others refused")
    if field in REFUSED_ALWAYS:
        assert not built, f"{field}: {REFUSED_ALWAYS[field]}"
    else:
        assert built, f"{field}: every hostile string was refused, so the test shows nothing about escaping"
