"""Which part of the project may import which: a wrong arrow fails here, naming the line.

The parts are module-name prefixes (PARTS); ALLOWED lists, for each part, the parts
its modules may import. Every ``import`` and ``from ... import`` counts, also inside
functions and under ``if TYPE_CHECKING:``. Among the runtime's own modules no cycle
is allowed: importing a submodule runs its package's ``__init__``, which is not an
arrow of its own, but a module importing names from a package whose ``__init__``
imports it back is one.

To add a part (a build stage, say): a line in PARTS, a line in ALLOWED, and the
parts that may import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# part -> module-name prefix; a module belongs to the part with the longest matching prefix.
PARTS = {
    "runtime": "flughafen",
    "build": "generator",
    "build test fixtures": "generator.testing",
    "accessors": "generated",
    "accessor tests": "generated.tests",
}
# part -> the parts its modules may import (third-party and standard library aside).
ALLOWED = {
    "runtime": {"runtime"},
    "build": {"build", "build test fixtures", "runtime"},
    "build test fixtures": {"build", "runtime"},
    "accessors": {"runtime"},
    "accessor tests": {"accessors", "accessor tests", "runtime", "build test fixtures"},
}
# Packages only the build needs: the runtime must run without them.
BUILD_ONLY = {"jinja2", "sqlglot", "yaml", "black", "hypothesis", "pytest"}
CYCLE_FREE = ("runtime",)


def modules() -> dict[str, Path]:
    """Every module of the parts, by dotted name."""
    found: dict[str, Path] = {}
    for top in {prefix.split(".")[0] for prefix in PARTS.values()}:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def part_of(module: str) -> str | None:
    best = None
    for part, prefix in PARTS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(PARTS[best])):
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
        part = part_of(module)
        assert part is not None
        for line, target in imports(module, path):
            target_part = part_of(target)
            if target_part is not None and target_part not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {part} imports {target} ({target_part})")
            if part == "runtime" and target.split(".")[0] in BUILD_ONLY:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: the runtime imports {target}, which only the build installs")
    assert not wrong, "\n".join(wrong)


def test_the_runtime_s_modules_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        if part_of(module) in CYCLE_FREE:
            graph[module] = {t for _, t in imports(module, path) if t in MODULES and part_of(t) in CYCLE_FREE and t != module}
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
    assert part_of("flughafen.stores.json") == "runtime" and part_of("generator.testing") == "build test fixtures"
    assert "build" not in ALLOWED["runtime"] and "build" not in ALLOWED["accessors"]
    assert [sorted(c) for c in strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) if len(c) > 1] == [["a", "b"]]
