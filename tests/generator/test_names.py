"""The lists of generator/names.py follow what they guard: the runtime's keys in Valkey, the annotations of generated code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from generator.names import TYPE_NAMES, VALKEY_NAMESPACES, name_problem
from generator.render import ANNOTATION

ROOT = Path(__file__).resolve().parents[2]
# `fg:<word>` or `{PREFIX}:<word>` in a string of the runtime: a key namespace beside the specs' fg:<ns>:<name>:
NAMESPACE = re.compile(r"(?<![\w:])(?:fg|\{PREFIX\}):([a-z_][a-z0-9_]*)")
# `self.root + "<word>"` in keys.py's Keyspace: a key fg:<ns>:<word>... beside the specs' fg:<ns>:<name>:
BESIDE = re.compile(r'self\.root \+ "([a-z_][a-z0-9_]*)')


def _strings(tree: ast.Module) -> list[str]:
    """The module's string constants and f-strings (``{PREFIX}`` kept as written), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append("".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append(node.value)
    return found


def runtime_namespaces() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "flughafen").rglob("*.py"):
        for text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            found.update(NAMESPACE.findall(text))
    found.update(BESIDE.findall((ROOT / "flughafen" / "keys.py").read_text(encoding="utf-8")))
    return found


def test_every_key_namespace_of_the_runtime_is_refused_as_a_spec_name() -> None:
    used = runtime_namespaces()
    assert {"stats", "tag", "tagseq", "seq", "writes"} <= used, "the scan finds the runtime's keys"
    assert used <= VALKEY_NAMESPACES, f"add {sorted(used - VALKEY_NAMESPACES)} to VALKEY_NAMESPACES in generator/names.py"


@pytest.mark.parametrize("namespace", sorted(VALKEY_NAMESPACES))
def test_a_spec_named_like_a_namespace_is_refused(namespace: str) -> None:
    assert name_problem(namespace, "spec") is not None


def test_every_type_the_annotations_name_is_refused_as_a_field_and_a_parameter() -> None:
    heads = {annotation.split(".")[0] for annotation in ANNOTATION.values() if annotation.split(".")[0].islower()}
    assert heads == TYPE_NAMES
    for head in heads:
        assert name_problem(head, "column") is not None and name_problem(head, "parameter") is not None


@pytest.mark.parametrize(
    ("name", "role", "says"),
    [
        ("\uff43\uff4c\uff41\uff53\uff53", "column", "read by Python as 'class'"),
        ("\ufb01le", "column", "read by Python as 'file'"),
        ("__init__", "column", "two underscores"),
        ("__x", "member", "two underscores"),
        ("class", "parameter", "keyword"),
        ("é", "parameter", "lower-case ASCII"),
        ("value", "parameter", "reserved"),
        ("runtime", "member", "reserved"),
        ("refresh", "parameter", "reserved"),  # every read's keywords: fetch(..., refresh=True, cache=False)
        ("cache", "parameter", "reserved"),
        ("cache", "member", "reserved"),
        ("stats", "spec", "reserved"),
        ("x-y", "column", "not a Python identifier"),
        ("l", "parameter", "E741"),  # linters refuse l, O and I in the generated code
        ("O", "column", "E741"),
        ("I", "member", "E741"),
    ],
)
def test_a_name_python_would_read_otherwise_or_that_meets_the_generated_code_is_refused(name: str, role: str, says: str) -> None:
    problem = name_problem(name, role)  # type: ignore[arg-type]
    assert problem is not None and says in problem


@pytest.mark.parametrize(
    ("name", "role"),
    [("é", "column"), ("_x", "parameter"), ("match", "member"), ("st", "spec"), ("self", "column"), ("cache", "spec"), ("refresh", "column"), ("l", "spec")],
)
def test_unusual_names_python_reads_as_written_are_fine(name: str, role: str) -> None:
    assert name_problem(name, role) is None  # type: ignore[arg-type]
