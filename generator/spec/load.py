"""Path -> RawSpec: YAML parsed with every node's position kept.

>>> raw = parse_spec_text("name: x\\nsql: SELECT 1\\n", "specs/x.yaml")
>>> [k.value for k, _ in raw.root.value]
['name', 'sql']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.diagnostics import Diagnostic, Span, SpecError


@dataclass(frozen=True, slots=True)
class RawSpec:
    path: str  # as shown to the user
    text: str
    root: yaml.MappingNode = field(repr=False)


def span(path: str, node: yaml.Node) -> Span:
    """The 1-based position of a YAML node."""
    mark = node.start_mark
    return Span(path, mark.line + 1, mark.column + 1)


def _check_duplicate_keys(path: str, node: yaml.Node, problems: list[Diagnostic]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    first = span(path, seen[key.value])
                    problems.append(
                        Diagnostic(
                            span(path, key),
                            "FG010",
                            f"duplicate key {key.value!r} (first at line {first.line}); keep one",
                        )
                    )
                else:
                    seen[key.value] = key
            _check_duplicate_keys(path, value, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(path, item, problems)


# Bounds on what one spec may be, so a hostile file fails in milliseconds with a
# position instead of taking minutes or the stack: its size, its nesting, and the
# nodes it holds once every alias is expanded (a "billion laughs" file is small
# but expands to billions of nodes).
MAX_SPEC_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000


@dataclass
class _Open:
    """A mapping or sequence being read: its anchor, the nodes and depth seen inside it so far."""

    anchor: str | None
    nodes: int = 1
    depth: int = 0


def _check_shape(text: str, path: str) -> None:
    """Refuse a spec that is too large, too deep, or expands too far through aliases (FG004).

    Reads the YAML's events only (no tree is built), so the check is linear in the text:

    >>> _check_shape("a: &x [1, 2]\\nb: *x\\n", "s.yaml")
    >>> try:
    ...     _check_shape("a: &x [1, *x]\\n", "s.yaml")
    ... except SpecError as e:
    ...     print(e.diagnostics[0].code, e.diagnostics[0].span)
    FG004 s.yaml:1:11
    """

    def refuse(mark: Any, message: str) -> SpecError:
        where = Span(path, mark.line + 1, mark.column + 1) if mark else Span(path, 1, 1)
        return SpecError([Diagnostic(where, "FG004", message)])

    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise refuse(None, f"the spec is {size:,} bytes; a spec may hold at most {MAX_SPEC_BYTES:,}")
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, depth) of its finished node
    stack: list[_Open] = [_Open(None, nodes=0)]
    total = 0

    def add(nodes: int, depth: int, mark: Any) -> None:
        nonlocal total
        top = stack[-1]
        top.nodes += nodes
        top.depth = max(top.depth, depth)
        total += nodes
        if total > MAX_NODES:
            raise refuse(mark, f"the spec expands to more than {MAX_NODES:,} values (through aliases); a spec is far smaller: write the values out")
        if len(stack) - 1 + depth > MAX_DEPTH:
            raise refuse(mark, f"the spec nests deeper than {MAX_DEPTH} levels; a spec is a shallow mapping")

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                if any(o.anchor == event.anchor for o in stack):
                    raise refuse(
                        event.start_mark, f"alias *{event.anchor} refers to the node that contains it (a recursive alias); a spec must be a finite tree"
                    )
                raise refuse(event.start_mark, f"alias *{event.anchor} has no anchor &{event.anchor} before it")
            nodes, depth = anchors[event.anchor]
            add(nodes, depth, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            add(1, 0, event.start_mark)
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append(_Open(event.anchor))
            total += 1
            if len(stack) - 1 > MAX_DEPTH:
                raise refuse(event.start_mark, f"the spec nests deeper than {MAX_DEPTH} levels; a spec is a shallow mapping")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            done = stack.pop()
            if done.anchor is not None:
                anchors[done.anchor] = (done.nodes, done.depth + 1)
            top = stack[-1]
            top.nodes += done.nodes
            top.depth = max(top.depth, done.depth + 1)


def _syntax_error(path: str, e: yaml.YAMLError) -> SpecError:
    """A YAML error in plain words, at its position; indentation mistakes are named as such."""
    if not isinstance(e, yaml.MarkedYAMLError):
        return SpecError([Diagnostic(Span(path, 1, 1), "FG002", f"YAML syntax error: {e}")])
    mark = e.problem_mark or e.context_mark
    where = Span(path, mark.line + 1, mark.column + 1) if mark else Span(path, 1, 1)
    problem = (e.problem or "invalid YAML").strip()
    context = f" ({e.context.strip()})" if e.context else ""
    hint = ""
    if any(s in problem for s in ("mapping values are not allowed", "expected <block end>", "could not find expected ':'")) or "block mapping" in (
        e.context or ""
    ):
        hint = "; check the indentation: keys of one mapping start in the same column, and a nested value is indented more than its key"
    elif "found character '\\t'" in problem:
        hint = "; YAML indents with spaces, not tabs"
    return SpecError([Diagnostic(where, "FG002", f"YAML syntax error: {problem}{context}{hint}")])


def parse_spec_text(text: str, path: str) -> RawSpec:
    if "\x00" in text:
        raise SpecError([Diagnostic(Span(path, 1, 1), "FG001", "the file holds binary data (NUL bytes); a spec is UTF-8 YAML text")])
    try:
        _check_shape(text, path)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(path, e) from e
    except yaml.YAMLError as e:
        raise _syntax_error(path, e) from e
    if root is None:
        raise SpecError([Diagnostic(Span(path, 1, 1), "FG003", "the file is empty; a spec is a mapping with at least `name` and `sql`")])
    if not isinstance(root, yaml.MappingNode):
        raise SpecError([Diagnostic(span(path, root), "FG003", "a spec is a mapping of fields (name: ..., sql: ...), not a list or a scalar")])
    problems: list[Diagnostic] = []
    _check_duplicate_keys(path, root, problems)
    if problems:
        raise SpecError(problems)
    return RawSpec(path, text, root)


def load_spec(path: Path, display_path: str | None = None) -> RawSpec:
    shown = display_path or path.as_posix()
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SpecError([Diagnostic(Span(shown, 1, 1), "FG001", f"cannot read the file: {e.strerror}")]) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecError(
            [Diagnostic(Span(shown, line, 1), "FG001", f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save the spec as UTF-8")]
        ) from e
    return parse_spec_text(text.removeprefix("\ufeff"), shown)


def spec_files(specs_dir: Path) -> list[Path]:
    return sorted(p for p in specs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_specs(specs_dir: Path, problems: list[Diagnostic], display_dir: str | None = None) -> list[RawSpec]:
    """Every spec of a directory that reads and parses, sorted by file name; the others' diagnostics go to ``problems``."""
    shown_dir = display_dir if display_dir is not None else _display(specs_dir)
    raws: list[RawSpec] = []
    for p in spec_files(specs_dir):
        try:
            raws.append(load_spec(p, f"{shown_dir}/{p.name}" if shown_dir else p.name))
        except SpecError as e:
            problems.extend(e.diagnostics)
    return raws


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return path.as_posix()
