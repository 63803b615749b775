"""Spec + Catalog -> CompiledQuery: the query parsed, checked against the schema, typed, and held per dialect.

Steps, each reporting with positions in the YAML file: parse, placeholders,
tables, qualify (columns), result types, ``returns``, tags and triggers,
dialect SQL, version.
"""

from __future__ import annotations

import difflib
import hashlib
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.qualify import qualify

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import Column, CompiledQuery, Dialect, Spec
from generator.schema import Catalog
from generator.sql_dialects import render_one
from generator.sql_types import Scope, infer
from generator.model import DIALECTS

_PLACEHOLDER = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/|(?<!:):([A-Za-z_][A-Za-z0-9_]*)", re.S)
_OPT_POS = re.compile(r"Line: (\d+), Col: (\d+)")

# Functions sqlglot copies through or rewrites with another meaning on some
# dialect (shared DIALECTS.md); each is refused with a portable alternative.
UNPORTABLE: dict[type[exp.Expression], str] = {
    exp.TimestampDiff: "TIMESTAMPDIFF is reordered or passed through; compute the difference in Python, or compare timestamps directly",
    exp.DayOfWeek: "DAYOFWEEK is numbered differently per database; filter on a date range, or use flightschedule's weekday flags",
    exp.GroupConcat: "GROUP_CONCAT ordering and syntax differ; return one row per item (returns: many) instead",
    exp.JSONArrayAgg if hasattr(exp, "JSONArrayAgg") else exp.GroupConcat: "JSON aggregation differs per database; return rows instead",
}
_UNPORTABLE_NAMES = {"SUBSTRING_INDEX": "SUBSTRING_INDEX passes through unchanged; use SUBSTRING with a position"}


class _Mapper:
    """Positions in the SQL text -> positions in the YAML file."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.starts = [0]
        for i, ch in enumerate(spec.sql):
            if ch == "\n":
                self.starts.append(i + 1)

    def line_col(self, line: int, col: int) -> Span:
        s = self.spec.sql_span
        if line <= 1:
            return Span(s.path, s.line, s.col + max(col, 1) - 1)
        return Span(s.path, s.line + line - 1, self.spec.sql_indent + max(col, 1))

    def offset(self, offset: int) -> Span:
        line = sum(1 for st in self.starts if st <= offset)
        return self.line_col(line, offset - self.starts[line - 1] + 1)

    def find(self, word: str) -> Span:
        m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", self.spec.sql)
        return self.offset(m.start()) if m else self.spec.sql_span


def placeholders(sql: str) -> list[tuple[str, int]]:
    """``:name`` placeholders outside strings and comments, with their offsets.

    >>> placeholders("SELECT ':x', a::int FROM t WHERE b = :origin -- :no")
    [('origin', 37)]
    """
    return [(m.group(1), m.start()) for m in _PLACEHOLDER.finditer(sql) if m.group(1)]


def _parse(spec: Spec, where: _Mapper) -> exp.Expression:
    try:
        trees = [t for t in sqlglot.parse(spec.sql, read=spec.dialect) if t is not None]
    except ParseError as e:
        err = e.errors[0] if e.errors else {}
        span = where.line_col(int(err.get("line") or 1), int(err.get("col") or 1))
        text = str(err.get("description") or e).split(". Line")[0]
        raise SpecError([Diagnostic(span, "FG060", f"SQL does not parse ({spec.dialect}): {text}")]) from e
    if len(trees) != 1:
        raise SpecError([Diagnostic(spec.sql_span, "FG060", f"sql holds {len(trees)} statements; a spec holds exactly one")])
    tree = trees[0]
    if spec.kind == "read" and not isinstance(tree, exp.Query):
        raise SpecError([Diagnostic(spec.sql_span, "FG067", f"a read spec runs a SELECT, this is {tree.key.upper()}; use kind: write for writes")])
    if spec.kind == "write" and not isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
        raise SpecError([Diagnostic(spec.sql_span, "FG067", f"a write spec runs INSERT, UPDATE or DELETE, this is {tree.key.upper()}")])
    return tree


def _check_placeholders(spec: Spec, where: _Mapper) -> list[Diagnostic]:
    problems = []
    found = placeholders(spec.sql)
    declared = {p.name for p in spec.params}
    for name, offset in found:
        if name not in declared:
            close = difflib.get_close_matches(name, sorted(declared), n=1)
            hint = f"did you mean :{close[0]}?" if close else "declare it under params:"
            problems.append(Diagnostic(where.offset(offset), "FG063", f"placeholder :{name} is not a declared parameter; {hint}"))
    used = {name for name, _ in found}
    for p in spec.params:
        if p.name not in used:
            problems.append(Diagnostic(p.span, "FG064", f"parameter {p.name!r} is never used in the SQL; use :{p.name} or remove it"))
    return problems


def _check_tables(spec: Spec, tree: exp.Expression, catalog: Catalog, where: _Mapper) -> list[Diagnostic]:
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    problems = []
    known = [t.name for t in catalog.tables]
    for t in tree.find_all(exp.Table):
        if t.name and t.name not in ctes and catalog.table(t.name) is None:
            start = t.this.meta.get("start") if isinstance(t.this, exp.Identifier) else None
            span = where.offset(start) if isinstance(start, int) else where.find(t.name)
            close = difflib.get_close_matches(t.name.lower(), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "tables are defined in specs/schema.sql"
            problems.append(Diagnostic(span, "FG061", f"unknown table {t.name!r}; {hint}"))
    return problems


def _check_portable(tree: exp.Expression, where: _Mapper) -> list[Diagnostic]:
    problems = []
    for node in tree.walk():
        message = UNPORTABLE.get(type(node))
        if message is None and isinstance(node, exp.Anonymous):
            message = _UNPORTABLE_NAMES.get(node.name.upper())
        if message is None and isinstance(node, exp.Div):
            scope_free = [c for c in (node.this, node.expression) if isinstance(c, exp.Literal) and c.is_int]
            if len(scope_free) == 2:
                message = "integer division differs (MySQL gives a decimal, PostgreSQL and SQLite truncate); CAST one side AS DECIMAL"
        if message is not None:
            word = node.sql(dialect="mysql").split("(")[0].split()[0]
            problems.append(Diagnostic(where.find(word), "FG068", f"not portable across mysql, postgres and sqlite: {message}"))
    return problems


def _qualify(spec: Spec, tree: exp.Expression, catalog: Catalog, where: _Mapper) -> exp.Expression:
    try:
        return qualify(
            tree.copy(),
            schema=catalog.sqlglot_schema(),
            dialect=spec.dialect,
            validate_qualify_columns=True,
            quote_identifiers=False,
        )
    except OptimizeError as e:
        text = str(e)
        m = _OPT_POS.search(text)
        span = where.line_col(int(m.group(1)), int(m.group(2))) if m else spec.sql_span
        name = re.search(r"Column '([^']+)'", text)
        if name:
            col = name.group(1)
            span = where.find(col) if not m else span
            message = f"unknown or ambiguous column {col!r}; qualify it with its table alias (a.{col}) and check specs/schema.sql"
        else:
            message = f"cannot resolve the query against the schema: {text.split('. Line')[0]}"
        raise SpecError([Diagnostic(span, "FG062", message)]) from e


def _columns(spec: Spec, original: exp.Expression, qualified: exp.Expression, catalog: Catalog, where: _Mapper) -> tuple[tuple[Column, ...], list[Diagnostic]]:
    problems: list[Diagnostic] = []
    select = qualified if isinstance(qualified, exp.Select) else qualified.find(exp.Select)
    assert select is not None
    scope = Scope(select, catalog)
    originals = original.selects if isinstance(original, exp.Query) else []
    has_star = any(isinstance(o, exp.Star) or (isinstance(o, exp.Column) and isinstance(o.this, exp.Star)) for o in originals)
    overrides = {o.name: o for o in spec.columns}
    columns: list[Column] = []
    names: set[str] = set()
    for i, proj in enumerate(qualified.selects):
        name = proj.alias_or_name.lower()
        orig = originals[i] if i < len(originals) and not has_star else None
        if orig is not None and not isinstance(orig, (exp.Alias, exp.Column)):
            problems.append(Diagnostic(where.find(orig.sql(dialect=spec.dialect).split("(")[0]), "FG065", f"computed column {orig.sql(dialect=spec.dialect)!r} needs a name; add AS some_name"))
            continue
        if name in names:
            problems.append(Diagnostic(where.find(name), "FG065", f"two result columns are named {name!r}; give one another name with AS"))
            continue
        names.add(name)
        typed = infer(proj, scope)
        override = overrides.pop(name, None)
        py = override.type if override and override.type else typed.type
        nullable = override.nullable if override and override.nullable is not None else typed.nullable
        if py is None:
            problems.append(Diagnostic(where.find(name), "FG065", f"cannot infer the type of column {name!r}; declare it under columns: ({name}: {{type: int}})"))
            continue
        columns.append(Column(name, py, nullable, typed.scale if py == "decimal" else None))
    for o in overrides.values():
        problems.append(Diagnostic(o.span, "FG013", f"columns: names {o.name!r}, which the query does not return; returned: {', '.join(sorted(names))}"))
    return tuple(columns), problems


def _check_returns(spec: Spec, columns: tuple[Column, ...]) -> list[Diagnostic]:
    if spec.returns == "scalar" and len(columns) != 1:
        return [Diagnostic(spec.returns_span, "FG066", f"returns: scalar needs exactly one result column, the query has {len(columns)}; use returns: one")]
    return []


def _check_templates(spec: Spec, columns: tuple[Column, ...], catalog: Catalog) -> list[Diagnostic]:
    problems = []
    names = {c.name for c in columns}
    if spec.cache is not None:
        for t in spec.cache.tags:
            for f in t.fields:
                if f.source == "row" and f.name not in names:
                    close = difflib.get_close_matches(f.name, sorted(names), n=1)
                    hint = f"did you mean {{row.{close[0]}}}?" if close else f"the query returns: {', '.join(sorted(names))}"
                    problems.append(Diagnostic(f.span, "FG054", f"tag names {{row.{f.name}}}, a column the query does not return; {hint}"))
                if f.source == "row" and spec.returns == "scalar":
                    problems.append(Diagnostic(f.span, "FG054", "a scalar result has no rows to take tags from; use parameters"))
    for trig in spec.invalidate:
        table = catalog.table(trig.table)
        if table is None:
            close = difflib.get_close_matches(trig.table, [t.name for t in catalog.tables], n=1)
            problems.append(Diagnostic(trig.span, "FG070", f"invalidate names table {trig.table!r}, which specs/schema.sql does not define" + (f"; did you mean {close[0]!r}?" if close else "")))
            continue
        for t in trig.tags:
            for f in t.fields:
                if table.column(f.name) is None:
                    problems.append(Diagnostic(f.span, "FG070", f"table {table.name} has no column {f.name!r}; a trigger tag names columns of the written row"))
    return problems


def _write_info(tree: exp.Expression, catalog: Catalog, where: _Mapper) -> tuple[str, tuple[tuple[str, str], ...], list[Diagnostic]]:
    target = tree.this
    table_node = target.this if isinstance(target, exp.Schema) else target
    table = table_node.name.lower() if isinstance(table_node, exp.Table) else ""
    bound: dict[str, str] = {}
    if isinstance(tree, exp.Insert) and isinstance(target, exp.Schema):
        cols = [c.name.lower() for c in target.expressions]
        values = tree.expression
        rows = values.expressions if isinstance(values, exp.Values) else []
        if rows:
            for col, value in zip(cols, rows[0].expressions):
                if isinstance(value, exp.Placeholder):
                    bound[col] = value.name
    if isinstance(tree, exp.Update):
        for eq in tree.expressions:
            if isinstance(eq, exp.EQ) and isinstance(eq.expression, exp.Placeholder):
                bound[eq.this.name.lower()] = eq.expression.name
    where_clause = tree.args.get("where")
    if where_clause is not None:
        for eq in where_clause.find_all(exp.EQ):
            if isinstance(eq.this, exp.Column) and isinstance(eq.expression, exp.Placeholder):
                bound.setdefault(eq.this.name.lower(), eq.expression.name)
    problems = []
    tdef = catalog.table(table)
    if tdef is not None:
        for col in bound:
            if tdef.column(col) is None:
                problems.append(Diagnostic(where.find(col), "FG062", f"table {table} has no column {col!r}"))
    return table, tuple(sorted(bound.items())), problems


def version_of(tree: exp.Expression, columns: tuple[Column, ...], returns: str) -> str:
    normal = tree.sql(dialect="mysql", comments=False)
    shape = ";".join(f"{c.name}:{c.type}:{int(c.nullable)}:{c.scale}" for c in columns)
    return hashlib.sha256(f"{normal}\n{shape}\n{returns}".encode()).hexdigest()[:12]


def compile_query(spec: Spec, catalog: Catalog) -> CompiledQuery:
    where = _Mapper(spec)
    tree = _parse(spec, where)
    problems = _check_placeholders(spec, where) + _check_tables(spec, tree, catalog, where) + _check_portable(tree, where)
    if problems:
        raise SpecError(problems)
    columns: tuple[Column, ...] = ()
    written: str | None = None
    bound: tuple[tuple[str, str], ...] = ()
    rendered_tree = tree
    if spec.kind == "read":
        qualified = _qualify(spec, tree, catalog, where)
        columns, problems = _columns(spec, tree, qualified, catalog, where)
        problems += _check_returns(spec, columns)
        rendered_tree = qualified
        tables = tuple(sorted({t.name.lower() for t in tree.find_all(exp.Table)} - {c.alias_or_name for c in tree.find_all(exp.CTE)}))
    else:
        written, bound, problems = _write_info(tree, catalog, where)
        tables = (written,)
    problems += _check_templates(spec, columns, catalog)
    if problems:
        raise SpecError(problems)
    types = {p.name: p.type for p in spec.params}
    sql: dict[Dialect, str] = {}
    order: list[str] = []
    for d in DIALECTS:
        sql[d], order = render_one(rendered_tree, types, d)
    return CompiledQuery(
        spec=spec,
        sql=sql,
        param_order=tuple(order),
        columns=columns,
        tables=tables,
        version=version_of(tree, columns, spec.returns),
        written_table=written,
        bound_columns=bound,
    )


def compile_all(specs: list[Spec], catalog: Catalog) -> list[CompiledQuery]:
    out: list[CompiledQuery] = []
    problems: list[Diagnostic] = []
    for spec in specs:
        try:
            out.append(compile_query(spec, catalog))
        except SpecError as e:
            problems.extend(e.diagnostics)
    if problems:
        raise SpecError(problems)
    return out
