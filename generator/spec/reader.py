"""YAML nodes -> values, every problem collected with its position: the spec stage's reader.

Store kinds (generator/stores/) read their own fields through it; they see
it as ``stores.base.Reader``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

import yaml

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import Template
from generator.spec.load import RawSpec, span
from generator.spec.templating import TemplateKind, parse_template

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
MAX_TTL = 366 * 24 * 3600


class Reader:
    """Collects diagnostics for one file while turning nodes into values."""

    def __init__(self, raw: RawSpec):
        self.raw = raw
        self.path = raw.path
        self.problems: list[Diagnostic] = []

    def span(self, node: yaml.Node) -> Span:
        """The 1-based position of a node of this file."""
        return span(self.path, node)

    def describe(self, node: yaml.Node) -> str:
        """A node as a message names it: "a mapping", "str 'x'", "nothing (null)"."""
        return describe(node)

    def scalar(self, node: yaml.ScalarNode) -> object:
        """The value of a scalar node, built from the node."""
        return scalar(node)

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            return bool(scalar(node))
        self.error(node, "FG012", f"{what} must be true or false, found {describe(node)}")
        return None

    def error(self, node: yaml.Node | Span, code: str, message: str) -> None:
        where = node if isinstance(node, Span) else span(self.path, node)
        self.problems.append(Diagnostic(where, code, message))

    def mapping(self, node: yaml.Node, what: str, allowed: Mapping[str, object]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); unknown keys are reported with a suggestion."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "FG012", f"{what} must be a mapping of fields")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(sorted(allowed)) or 'none'}"
                self.error(k, "FG010", f"unknown field {what + '.' if what != 'spec' else ''}{key}; {hint}")
                continue
            out[key] = (k, v)
        return out

    def string(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.error(node, "FG012", f"{what} must be a string, found {describe(node)}")
            return None
        return str(node.value)

    def choice(self, node: yaml.Node, what: str, options: tuple[str, ...]) -> str | None:
        value = self.string(node, what)
        if value is None:
            return None
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"write one of: {' | '.join(options)}"
            self.error(node, "FG013", f"{what}: {value!r} is not allowed; {hint}")
            return None
        return value

    def duration(self, node: yaml.Node, what: str) -> int | None:
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        seconds = parse_duration(value) if isinstance(value, str) else None
        if seconds is None or not 0 < seconds <= MAX_TTL:
            shown = repr(value) if isinstance(value, str) else describe(node)
            self.error(node, "FG040", f"{what}: {shown} is not a duration; write seconds (300) or 30s / 5m / 1h / 1d, more than 0 and at most a year")
            return None
        return seconds

    def template(self, node: yaml.Node, what: str, kind: TemplateKind) -> Template | None:
        text = self.string(node, what)
        if text is None:
            return None
        start = span(self.path, node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            start = Span(start.path, start.line, start.col + 1)
        try:
            return parse_template(text, start, kind)
        except SpecError as e:
            self.problems.extend(e.diagnostics)
            return None

    def templates(self, node: yaml.Node, what: str, kind: TemplateKind) -> tuple[Template, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "FG012", f'{what} must be a list of templates, e.g. ["flight:{{flight_id}}"]')
            return ()
        found = [self.template(item, what, kind) for item in node.value]
        return tuple(t for t in found if t is not None)


def parse_duration(text: str) -> int | None:
    """``"90"`` -> 90, ``"5m"`` -> 300, ``"1h30m"`` -> 5400; None when it does not parse.

    >>> [parse_duration(t) for t in ["300", "30s", "5m", "1h", "1d", "1h30m", "5 minutes", ""]]
    [300, 30, 300, 3600, 86400, 5400, None, None]
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    m = _DURATION.match(text)
    if not text or m is None:
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def parse_jitter(text: str) -> float | None:
    """``"10%"`` -> 0.1, ``"0.1"`` -> 0.1; None when it does not parse or is outside [0, 0.5].

    >>> [parse_jitter(t) for t in ["10%", "0.1", "0", "60%", "lots"]]
    [0.1, 0.1, 0.0, None, None]
    """
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 0.5 else None


def describe(node: yaml.Node) -> str:
    """A node as a message names it.

    >>> describe(yaml.compose("[1]")), describe(yaml.compose("x")), describe(yaml.compose("~"))
    ('a list', "str 'x'", 'nothing (null)')
    """
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    return f"{tag} {node.value!r}" if tag != "null" else "nothing (null)"


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def scalar(node: yaml.ScalarNode) -> object:
    """The value of a scalar node as its resolved tag says, built from the node (never by parsing its text again).

    >>> scalar(yaml.compose('"a: b: c"'))
    'a: b: c'
    >>> scalar(yaml.compose("12"))
    12
    """
    return _CONSTRUCTOR.construct_object(node, deep=True)
