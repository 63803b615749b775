"""The shape of the code, checked: which part may import which.

generator/, the build tool: its stages call downwards only. Each part (a
subpackage such as ``spec`` or ``sql``, or a top-level module such as
``link``) may import only the parts GENERATOR_ALLOWED lists for it, and that
table has no cycle. The stages never import ``commands`` or ``cli``;
``commands`` may use the stages.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# generator's parts, from the bottom: what each may import besides itself.
GENERATOR_ALLOWED: dict[str, set[str]] = {
    "diagnostics": set(),  # Span, Diagnostic, SpecError, the error-code table
    "model": {"diagnostics"},  # the typed data passed between stages
    "schema": {"diagnostics", "model"},  # schema.sql -> Catalog
    "stores": {"diagnostics", "model", "schema"},  # store kinds: every stage asks them, they ask no stage
    "spec": {"diagnostics", "model", "stores"},  # load, validate
    "sql": {"dataset", "diagnostics", "model", "schema", "stores"},  # compile; prove makes the schema per dialect (dataset.ddl)
    "link": {"diagnostics", "model", "sql", "stores"},
    "render": {"link", "model", "stores"},
    "format": set(),
    "write": set(),
    "pipeline": {"diagnostics", "format", "link", "model", "render", "schema", "spec", "sql", "write"},
    "dataset": {"model", "schema"},  # the FlughafenDB loader
    "databases": {"dataset", "schema"},  # test and demo databases: made, filled
    "dataset.seed": {"dataset", "databases"},  # the seed hook of [tool.flughafen], which the test databases call
    "accessors": set(),  # the configured generated package, imported
    "commands": {
        "accessors",
        "databases",
        "dataset",
        "diagnostics",
        "format",
        "link",
        "model",
        "pipeline",
        "render",
        "schema",
        "spec",
        "sql",
        "stores",
        "write",
    },
    "cli": {"accessors", "commands", "dataset", "diagnostics", "pipeline", "write"},
    "__main__": {"cli"},
}
STAGES = {"spec", "sql", "link", "render", "format", "write", "pipeline", "stores"}
# Modules that are a part of their own, above the rest of their package.
OWN_PARTS = {"dataset/seed.py": "dataset.seed"}


def part_of(module: str) -> str:
    """``spec/validate.py`` -> ``spec``; ``link.py`` -> ``link``; OWN_PARTS as listed."""
    return OWN_PARTS.get(module, module.split("/")[0].removesuffix(".py"))


def imported_part(name: str) -> str:
    """``generator.spec.validate`` -> ``spec``; ``generator.dataset.seed`` -> ``dataset.seed``."""
    path = "/".join(name.split(".")[1:])
    return next((part for module, part in OWN_PARTS.items() if path == module.removesuffix(".py")), name.split(".")[1])


def generator_imports() -> dict[str, dict[str, set[str]]]:
    """Part -> module -> the generator parts it imports (at any depth: in functions and TYPE_CHECKING blocks too)."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted((ROOT / "generator").rglob("*.py")):
        rel = path.relative_to(ROOT / "generator")
        part = part_of(rel.as_posix())
        if part == "__init__":
            continue
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            targets.update(imported_part(n) for n in names if n.startswith("generator."))
        found.setdefault(part, {})[rel.as_posix()] = targets - {part}
    return found


def test_every_part_of_generator_has_its_place_in_the_table() -> None:
    assert sorted(set(generator_imports()) - set(GENERATOR_ALLOWED)) == [], "a new part: add it to GENERATOR_ALLOWED"


def test_the_table_has_no_cycle_so_imports_go_downwards_only() -> None:
    try:
        order = list(TopologicalSorter(GENERATOR_ALLOWED).static_order())
    except CycleError as e:
        raise AssertionError(f"the allowed imports form a cycle: {e.args[1]}") from None
    assert order.index("diagnostics") < order.index("spec") < order.index("pipeline") < order.index("cli")


def test_each_module_imports_only_what_its_part_may() -> None:
    wrong = [
        f"{module} imports generator.{target}"
        for part, modules in generator_imports().items()
        for module, targets in modules.items()
        for target in sorted(targets - GENERATOR_ALLOWED.get(part, set()))
    ]
    assert wrong == []


def test_stages_never_import_commands_or_the_cli() -> None:
    for stage in STAGES:
        assert not GENERATOR_ALLOWED[stage] & {"commands", "cli", "__main__"}, stage
    wrong = [
        module
        for part, modules in generator_imports().items()
        if part in STAGES
        for module, targets in modules.items()
        if targets & {"commands", "cli", "__main__"}
    ]
    assert wrong == []


def test_a_store_kind_is_a_module_of_stores_and_no_stage_names_one() -> None:
    # The stages ask the registry (STORES[cache.store]); none tests for a kind by name.
    stages = [p for p in (ROOT / "generator").rglob("*.py") if p.relative_to(ROOT / "generator").parts[0] not in ("stores", "commands", "dataset")]
    named = [
        f"{p.relative_to(ROOT).as_posix()}: {line.strip()}"
        for p in stages
        for line in p.read_text(encoding="utf-8").splitlines()
        if any(f'store == "{kind}"' in line or f'store != "{kind}"' in line for kind in ("json", "hash", "zset", "bitmap"))
    ]
    assert named == []
