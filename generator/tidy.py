"""Rendered Python -> the same Python, lint-clean: the tidy step between render and format. Pure.

A template imports what any of its specs may need (``import datetime`` for a
date parameter, ``Param`` for the parameter list); this step drops each
imported name the module does not use, and keeps one blank line between
import groups where a group went (or a template's condition left it out), so the output passes an application's linters (ruff's or
flake8's unused-import and isort rules). It also sorts ``__all__``, as
ruff's RUF022 does: CONSTANTS, then Classes, then the rest, each in natural
order. Everything else is left as the template wrote it; black then formats it.
"""

from __future__ import annotations

import ast
import re

_DIGITS = re.compile(r"(\d+)")


def tidy_python(source: str) -> str:
    """``source`` without unused imports, and with ``__all__`` sorted.

    >>> print(tidy_python('from __future__ import annotations\\n\\nimport datetime\\n\\nfrom x import a, b\\n\\n__all__ = ["b", "X"]\\n'), end="")
    from __future__ import annotations
    <BLANKLINE>
    from x import b
    <BLANKLINE>
    __all__ = ["X", "b"]
    """
    tree = ast.parse(source)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | set(_exported(tree))
    lines = source.splitlines(keepends=True)
    leading = _leading_imports(tree)
    shrunk = 0  # lines the leading imports lost
    # Bottom up, so the line numbers of the statements still to edit stay right.
    for node in reversed(tree.body):
        end = node.end_lineno or node.lineno
        if isinstance(node, ast.Import | ast.ImportFrom) and not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            kept = [alias for alias in node.names if _bound(alias) in used]
            if len(kept) < len(node.names):
                replacement = [_import_line(node, kept)] if kept else []
                lines[node.lineno - 1 : end] = replacement
                if node in leading:
                    shrunk += end - node.lineno + 1 - len(replacement)
        elif _is_all(node):
            names = sorted(_exported(tree), key=all_order)
            lines[node.lineno - 1 : end] = [f"__all__ = [{', '.join(_quoted(n) for n in names)}]\n"]
    if leading:
        # One blank line between import groups: where the template left out a group, or a group was dropped.
        first, last = leading[0].lineno - 1, (leading[-1].end_lineno or leading[-1].lineno) - shrunk
        block = lines[first:last]
        lines[first:last] = [line for i, line in enumerate(block) if line.strip() or (i > 0 and block[i - 1].strip())]
    return "".join(lines)


def all_order(name: str) -> tuple[int, list[str | int]]:
    """The order ruff (RUF022) keeps ``__all__`` in: SCREAMING_CASE, CamelCase, the rest; numbers by value.

    >>> sorted(["key", "Row", "fetch_2", "QUERY", "fetch_10", "EXAMPLES"], key=all_order)
    ['EXAMPLES', 'QUERY', 'Row', 'fetch_2', 'fetch_10', 'key']
    """
    if len(name) > 1 and name.upper() == name and name.lower() != name:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return kind, [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def _quoted(text: str) -> str:
    """A string literal in black's quotes."""
    return f'"{text}"' if text.isidentifier() else repr(text)


def _bound(alias: ast.alias) -> str:
    """The name an import binds: ``import a.b`` binds ``a``."""
    return alias.asname or alias.name.split(".")[0]


def _import_line(node: ast.Import | ast.ImportFrom, kept: list[ast.alias]) -> str:
    names = ", ".join(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in kept)
    if isinstance(node, ast.Import):
        return f"import {names}\n"
    return f"from {'.' * node.level}{node.module or ''} import {names}\n"


def _is_all(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"] and isinstance(node.value, ast.List | ast.Tuple)


def _exported(tree: ast.Module) -> list[str]:
    """The names in the module's ``__all__`` list."""
    for node in tree.body:
        if _is_all(node):
            assert isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple)
            return [elt.value for elt in node.value.elts if isinstance(elt, ast.Constant) and isinstance(elt.value, str)]
    return []


def _leading_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements at the top of the module, after its docstring."""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    leading: list[ast.stmt] = []
    for node in body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            break
        leading.append(node)
    return leading
