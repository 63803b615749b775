"""Path -> RawSpec: YAML parsed with every node's position kept.

>>> raw = parse_spec_text("name: x\\nsql: SELECT 1\\n", "specs/x.yaml")
>>> [k.value for k, _ in raw.root.value]
['name', 'sql']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


def parse_spec_text(text: str, path: str) -> RawSpec:
    if "\x00" in text:
        raise SpecError([Diagnostic(Span(path, 1, 1), "FG001", "the file holds binary data (NUL bytes); a spec is UTF-8 YAML text")])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Span(path, mark.line + 1, mark.column + 1) if mark else Span(path, 1, 1)
        problem = (e.problem or "invalid YAML").strip()
        context = f" ({e.context.strip()})" if e.context else ""
        raise SpecError([Diagnostic(where, "FG002", f"YAML syntax error: {problem}{context}")]) from e
    except yaml.YAMLError as e:
        raise SpecError([Diagnostic(Span(path, 1, 1), "FG002", f"YAML syntax error: {e}")]) from e
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
        raise SpecError([Diagnostic(Span(shown, line, 1), "FG001", f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save the spec as UTF-8")]) from e
    return parse_spec_text(text.removeprefix("\ufeff"), shown)


def spec_files(specs_dir: Path) -> list[Path]:
    return sorted(p for p in specs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_specs(specs_dir: Path, display_dir: str | None = None) -> list[RawSpec]:
    """Every spec of a directory, sorted by file name; all errors together."""
    shown_dir = display_dir if display_dir is not None else _display(specs_dir)
    raws: list[RawSpec] = []
    problems: list[Diagnostic] = []
    for p in spec_files(specs_dir):
        try:
            raws.append(load_spec(p, f"{shown_dir}/{p.name}" if shown_dir else p.name))
        except SpecError as e:
            problems.extend(e.diagnostics)
    if problems:
        raise SpecError(problems)
    return raws


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return path.as_posix()
