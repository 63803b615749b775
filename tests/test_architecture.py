"""The shape of the code, checked: which part may import which. A wrong arrow fails here, naming the line.

Across the project (PACKAGES, ALLOWED): generated accessors import the runtime,
``flughafen``, and nothing of the build tool, ``generator``; the runtime imports
nothing of the build tool, nor its third-party packages; among the runtime's own
modules there is no cycle (importing a submodule runs its package's ``__init__``,
which is not an arrow of its own, but a module importing names from a package whose
``__init__`` imports it back is one). Every ``import`` and ``from ... import``
counts, also inside functions and under ``if TYPE_CHECKING:``.

Inside generator/ (GENERATOR_ALLOWED): its stages call downwards only. Each part
(a subpackage such as ``spec`` or ``sql``, or a top-level module such as ``link``)
may import only the parts GENERATOR_ALLOWED lists for it, and that table has no
cycle. The stages never import ``commands`` or ``cli``; ``commands`` may use the
stages.

To add a part: a line in the table, and the parts that may import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------ across the project

# package part -> module-name prefix; a module belongs to the part with the longest matching prefix.
PACKAGES = {
    "runtime": "flughafen",
    "runtime test fixtures": "flughafen.testing",
    "build": "generator",
    "generated accessors": "generated",
    "generated async accessors": "generated.aio",
    "generated tests": "generated.tests",
}
# package part -> the parts its modules may import (third-party and standard library aside).
ALLOWED = {
    "runtime": {"runtime"},
    # The pytest plugin makes test databases from the schema as the build reads it (generator.databases,
    # sqlglot), in its fixtures only; pytest loads it, and no runtime module imports it.
    "runtime test fixtures": {"runtime", "build"},
    "build": {"build", "runtime"},
    "generated accessors": {"runtime"},
    # generated/aio/<name>.py: the async form of a module, which shares its QUERY, Row and EXAMPLES.
    "generated async accessors": {"runtime", "generated accessors"},
    "generated tests": {"generated accessors", "generated async accessors", "generated tests", "runtime"},
}
# Packages only the build needs: the runtime must run without them.
BUILD_ONLY = {"jinja2", "sqlglot", "yaml", "black", "hypothesis", "pytest"}
CYCLE_FREE = ("runtime",)


def modules() -> dict[str, Path]:
    """Every module of the parts, by dotted name."""
    found: dict[str, Path] = {}
    for top in {prefix.split(".")[0] for prefix in PACKAGES.values()}:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def package_of(module: str) -> str | None:
    best = None
    for part, prefix in PACKAGES.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(PACKAGES[best])):
            best = part
    return best


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in ``path``, resolved to the module it runs."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in MODULES else base


def test_every_import_follows_an_allowed_arrow() -> None:
    wrong = []
    for module, path in MODULES.items():
        part = package_of(module)
        assert part is not None
        for line, target in imports(module, path):
            target_part = package_of(target)
            if target_part is not None and target_part not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {part} imports {target} ({target_part})")
            if part == "runtime" and target.split(".")[0] in BUILD_ONLY:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: the runtime imports {target}, which only the build installs")
    assert not wrong, "\n".join(wrong)


def test_the_runtime_s_modules_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        if package_of(module) in CYCLE_FREE:
            graph[module] = {t for _, t in imports(module, path) if t in MODULES and package_of(t) in CYCLE_FREE and t != module}
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: each cycle of the graph is inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_check_sees_a_wrong_arrow_and_a_cycle() -> None:
    """The walk itself: a runtime module importing the build, and two modules importing each other."""
    assert package_of("flughafen.stores.json") == "runtime" and package_of("flughafen.testing") == "runtime test fixtures"
    assert "build" not in ALLOWED["runtime"] and "build" not in ALLOWED["generated accessors"]
    assert [sorted(c) for c in strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) if len(c) > 1] == [["a", "b"]]


# ------------------------------------------------------------ inside generator/

# generator's parts, from the bottom: what each may import besides itself.
GENERATOR_ALLOWED: dict[str, set[str]] = {
    "diagnostics": set(),  # Span, Diagnostic, SpecError, the error-code table
    "names": set(),  # the rule for names a spec gives to generated Python
    "code": {"names"},  # Code: literals, names and docstring text, the only ways spec text enters generated Python
    "model": {"diagnostics"},  # the typed data passed between stages
    "schema": {"diagnostics", "model"},  # schema.sql -> Catalog
    "stores": {"code", "diagnostics", "model", "names", "schema"},  # store kinds: every stage asks them, they ask no stage
    "spec": {"diagnostics", "model", "names", "stores"},  # load, validate, what of a spec its key version covers
    "sql": {"dataset", "diagnostics", "model", "names", "schema", "spec", "stores"},  # compile; prove makes the schema per dialect (dataset.ddl)
    "link": {"diagnostics", "model", "sql", "stores"},
    "tidy": set(),  # rendered Python -> lint-clean Python: unused imports dropped, __all__ sorted
    "render": {"code", "link", "model", "stores", "tidy"},
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
