"""Key and tag templates: ``"flight:search:{origin}:{day}"`` -> model.Template.

>>> t = parse_template("route:{origin}:{row.flight_id}", Span("s.yaml", 3, 10), "tag")
>>> [type(p).__name__ for p in t.parts]
['Literal_', 'Field', 'Literal_', 'Field']
>>> t.parts[3]
Field(name='flight_id', source='row', span=Span(path='s.yaml', line=3, col=25))
"""

from __future__ import annotations

import re
from typing import Literal

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import Field, Literal_, Template, TemplatePart

# Characters the runtime leaves as they are in an encoded value; every other
# character is percent-encoded. A literal between two fields must contain a
# character outside this set, or the key would not be injective.
SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TemplateKind = Literal["key", "tag", "trigger"]


# Valkey Cluster places a key by its first {...}: the runtime's bucket. A literal brace in a key
# (or a tag, which becomes part of keys) could move it, so no template may hold one.
_NO_BRACES = "a literal '{brace}' in a {kind} template: Valkey Cluster would place the key by it (a hash tag); use another character"


def parse_template(text: str, where: Span, kind: TemplateKind) -> Template:
    """Parse a template; ``where`` is the position of its first character."""
    parts: list[TemplatePart] = []
    problems: list[Diagnostic] = []
    buf: list[str] = []
    i = 0

    def at(offset: int) -> Span:
        return Span(where.path, where.line, where.col + offset)

    while i < len(text):
        ch = text[i]
        if (ch == "{" and text.startswith("{{", i)) or (ch == "}" and text.startswith("}}", i)):
            problems.append(Diagnostic(at(i), "FG050", _NO_BRACES.format(kind=kind, brace=ch)))
            buf.append(ch)
            i += 2
        elif ch == "}":
            problems.append(Diagnostic(at(i), "FG050", f"unmatched '}}' in {kind} template; a template may not hold a literal brace"))
            i += 1
        elif ch == "{":
            end = text.find("}", i + 1)
            inner = text[i + 1 : end] if end != -1 else ""
            if end == -1 or "{" in inner:
                problems.append(
                    Diagnostic(at(i), "FG050", f"unclosed '{{' in {kind} template; fields look like {{name}}, and a template may not hold a literal brace")
                )
                break
            field = _field(inner, at(i), kind, problems)
            if field is not None:
                if buf:
                    parts.append(Literal_("".join(buf)))
                    buf = []
                parts.append(field)
            i = end + 1
        else:
            buf.append(ch)
            i += 1
    if buf:
        parts.append(Literal_("".join(buf)))
    if kind == "key":
        _check_separated(parts, at, problems)
    if problems:
        raise SpecError(problems)
    return Template(text, tuple(parts), where)


def _field(inner: str, where: Span, kind: TemplateKind, problems: list[Diagnostic]) -> Field | None:
    name = inner.strip()
    if not name:
        problems.append(Diagnostic(where, "FG050", f"empty field '{{}}' in {kind} template; name a parameter, e.g. {{origin}}"))
        return None
    if name.startswith("row."):
        column = name[4:]
        if kind != "tag":
            hint = (
                "a key must be known before the query runs: use parameters only"
                if kind == "key"
                else "in a trigger, {column} already names a column of the written row"
            )
            problems.append(Diagnostic(where, "FG050", f"'{{{name}}}' is not allowed in a {kind} template; {hint}"))
            return None
        if not _IDENT.match(column):
            problems.append(Diagnostic(where, "FG050", f"'{{{name}}}' is not a column name; write {{row.column_name}}"))
            return None
        return Field(column, "row", where)
    if not _IDENT.match(name) or name.startswith("__"):
        problems.append(
            Diagnostic(
                where, "FG050", f"'{{{inner}}}' is not a field; a field is a parameter name like {{origin}}" + (" or {row.column}" if kind == "tag" else "")
            )
        )
        return None
    return Field(name, "column" if kind == "trigger" else "param", where)


def _check_separated(parts: list[TemplatePart], at: object, problems: list[Diagnostic]) -> None:
    previous_field: Field | None = None
    between = ""
    for part in parts:
        if isinstance(part, Field):
            if previous_field is not None and not any(c not in SAFE_CHARS for c in between):
                problems.append(
                    Diagnostic(
                        part.span,
                        "FG053",
                        f"fields {{{previous_field.name}}} and {{{part.name}}} are not separated, so two parameter sets "
                        f"could share a key; put a separator such as ':' between them",
                    )
                )
            previous_field = part
            between = ""
        else:
            between += part.text
