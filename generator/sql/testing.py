"""Build ``Spec`` objects from SQL text, for tests of the SQL stage.

``make_spec`` writes a small YAML file text as the loader would have read it
and gives every field its real position in it, so that tests can assert
``line:col`` of diagnostics and render them with a caret.

>>> s = make_spec("SELECT a.iata\\nFROM airport a", params={"x": "int"})
>>> print(s.source)
name: t
params:
  x: int
sql: |
  SELECT a.iata
  FROM airport a
returns: many
cache:
  key: "t:{x}"
  ttl: 60
<BLANKLINE>
>>> s.sql_span, s.sql_indent
(Span(path='specs/t.yaml', line=5, col=3), 2)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from generator.diagnostics import Span
from generator.model import (
    CacheSpec,
    ColumnOverride,
    Dialect,
    Field,
    Kind,
    Literal_,
    Param,
    PyType,
    Returns,
    Spec,
    Template,
    TemplatePart,
    Trigger,
)

PATH = "specs/t.yaml"


class _Writer:
    """Appends YAML lines and hands out the span of a piece of the last one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, text: str) -> int:
        """Append a line; return its 1-based number."""
        self.lines.append(text)
        return len(self.lines)

    def span(self, line: int, needle: str) -> Span:
        """The span of ``needle`` in line ``line``."""
        return Span(self.path, line, self.lines[line - 1].index(needle) + 1)


def make_spec(
    sql: str,
    params: Mapping[str, str | Mapping[str, str]] | None = None,
    *,
    kind: Kind = "read",
    returns: Returns = "many",
    dialect: Dialect = "mysql",
    columns: Mapping[str, tuple[PyType | None, bool | None]] | None = None,
    tags: Sequence[str] = (),
    triggers: Mapping[str, Sequence[str]] | None = None,
    sql_line: int | None = None,
    sql_col: int | None = None,
    indent: int | None = None,
) -> Spec:
    """A Spec for ``sql`` with ``params`` (name -> type, or {"type": ..., "pattern": ...}, in order).

    ``sql_line``/``sql_col``/``indent`` override where the SQL is said to be.
    """
    w = _Writer(PATH)
    w.add("name: t")
    name_span = Span(PATH, 1, 7)
    plist: list[Param] = []
    if params:
        w.add("params:")
        for pname, ptype in params.items():
            if isinstance(ptype, str):
                line = w.add(f"  {pname}: {ptype}")
                plist.append(Param(pname, _pytype(ptype), w.span(line, pname)))
                continue
            pattern = ptype.get("pattern")
            shown = f", pattern: {json.dumps(pattern)}" if pattern is not None else ""
            line = w.add(f"  {pname}: {{type: {ptype['type']}{shown}}}")
            plist.append(Param(pname, _pytype(ptype["type"]), w.span(line, pname), pattern=pattern))
    sql_start = w.add("sql: |") + 1
    for text in sql.split("\n"):
        w.add(f"  {text}" if text else "")
    rline = w.add(f"returns: {returns}")
    overrides = _columns(w, columns or {})
    cache = _cache(w, plist, tags) if kind == "read" else None
    trigs = _triggers(w, triggers or {})
    return Spec(
        path=PATH,
        name="t",
        name_span=name_span,
        kind=kind,
        summary="test",
        dialect=dialect,
        params=tuple(plist),
        sql=sql,
        sql_span=Span(PATH, sql_line or sql_start, sql_col or 3),
        sql_indent=2 if indent is None else indent,
        returns=returns,
        returns_span=w.span(rline, returns),
        cache=cache,
        invalidate=trigs,
        write="through" if kind == "write" else None,
        columns=overrides,
        source="\n".join(w.lines) + "\n",
    )


def _pytype(text: str) -> PyType:
    """A parameter type name checked against model.PyType."""
    for t in ("str", "int", "float", "decimal", "bool", "date", "datetime", "time"):
        if t == text:
            return t
    raise ValueError(f"not a parameter type: {text}")


def _columns(w: _Writer, columns: Mapping[str, tuple[PyType | None, bool | None]]) -> tuple[ColumnOverride, ...]:
    """Write ``columns:`` overrides and return them with their spans."""
    if not columns:
        return ()
    w.add("columns:")
    out = []
    for name, (ctype, nullable) in columns.items():
        bits = ([f"type: {ctype}"] if ctype else []) + ([f"nullable: {str(nullable).lower()}"] if nullable is not None else [])
        line = w.add(f"  {name}: {{{', '.join(bits)}}}")
        out.append(ColumnOverride(name, ctype, nullable, w.span(line, name)))
    return tuple(out)


def _cache(w: _Writer, params: list[Param], tags: Sequence[str]) -> CacheSpec:
    """Write ``cache:`` (a key over every param, ttl, tags) and return it."""
    w.add("cache:")
    key_text = "t" + "".join(f":{{{p.name}}}" for p in params)
    kline = w.add(f'  key: "{key_text}"')
    key = template(key_text, w.span(kline, '"'), "param")
    span = Span(w.path, kline - 1, 1)
    w.add("  ttl: 60")
    parsed = []
    if tags:
        w.add("  tags:")
        for tag in tags:
            line = w.add(f'    - "{tag}"')
            parsed.append(template(tag, w.span(line, '"'), "param"))
    return CacheSpec(key=key, ttl=60, span=span, tags=tuple(parsed))


def _triggers(w: _Writer, triggers: Mapping[str, Sequence[str]]) -> tuple[Trigger, ...]:
    """Write ``invalidate:`` entries and return them with their spans."""
    if not triggers:
        return ()
    w.add("invalidate:")
    out = []
    for table, tags in triggers.items():
        line = w.add(f"  - table: {table}")
        parsed = []
        if tags:
            w.add("    tags:")
            for tag in tags:
                tline = w.add(f'      - "{tag}"')
                parsed.append(template(tag, w.span(tline, '"'), "column"))
        out.append(Trigger(table, w.span(line, table), tuple(parsed), all=not tags))
    return tuple(out)


def template(text: str, span: Span, source: str) -> Template:
    """Parse ``"a:{x}:{row.y}"``; ``span`` is the opening quote's position.

    >>> [p.name for p in template("a:{x}:{row.y}", Span("f", 1, 1), "param").fields]
    ['x', 'y']
    """
    parts: list[TemplatePart] = []
    pos = 0
    for m in re.finditer(r"\{([^{}]*)\}", text):
        if m.start() > pos:
            parts.append(Literal_(text[pos : m.start()]))
        name = m.group(1)
        fspan = Span(span.path, span.line, span.col + 1 + m.start())
        if name.startswith("row."):
            parts.append(Field(name[4:], "row", fspan))
        else:
            parts.append(Field(name, "column" if source == "column" else "param", fspan))
        pos = m.end()
    if pos < len(text):
        parts.append(Literal_(text[pos:]))
    return Template(text, tuple(parts), span)


def one_line(sql: str) -> str:
    """The SQL held (one clause a line) on one line, as the dialect tables write it: only line breaks change.

    >>> one_line('SELECT\\n  "a"\\nFROM "t"\\nWHERE\\n  "a" IN (\\n    SELECT\\n      1\\n  )')
    'SELECT "a" FROM "t" WHERE "a" IN (SELECT 1)'
    """
    sql = re.sub(r"\(\n\s*", "(", sql)
    sql = re.sub(r"\n\s*\)", ")", sql)
    return re.sub(r"\n\s*", " ", sql)
