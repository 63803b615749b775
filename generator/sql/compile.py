"""Spec + Catalog -> CompiledQuery: the SQL stage of the build.

The steps, each a module of its own, each reporting at positions in the YAML:

1. ``sql.parse``: tokenize and parse one statement of the spec's kind
   (FG060, FG067); ``:name`` placeholders against params (FG063, FG064).
2. ``sql.resolve``: tables and columns against the catalog (FG061, FG062);
   qualify every column and expand ``*``; ``sql.grouping``: the columns a
   GROUP BY determines added to it; ``sql.writes``: the table a write
   writes and the columns its params bind.
3. ``sql.typer`` and ``sql.types``: type every expression by small rules,
   the catalog as the authority.
4. ``sql.result``: result columns (FG065, overrides FG069), ``returns``
   (FG066), tag fields (FG054), triggers (FG070); ``sql.portable``: what
   would not mean the same on every database (FG068).
5. the spec's store kind (``stores/*.py``, ``check_sql``): its fields
   against the typed result columns (zset FG095-FG097, bitmap FG100, FG103).
6. ``sql.dialects``: the SQL per dialect with driver placeholders.

>>> from generator.schema import parse_catalog
>>> from generator.sql.testing import make_spec
>>> cat = parse_catalog("CREATE TABLE t (id INT NOT NULL, d DATE NULL, PRIMARY KEY (id));")
>>> q = compile_query(make_spec("SELECT id, d FROM t WHERE id = :id", {"id": "int"}), cat)
>>> print(q.sql["postgres"])
SELECT
  "t"."id" AS "id",
  "t"."d" AS "d"
FROM "t" AS "t"
WHERE
  "t"."id" = %s
>>> q.param_order, q.columns[1]
(('id',), Column(name='d', type='date', nullable=True, scale=None))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sqlglot import exp
from sqlglot.errors import OptimizeError

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import DIALECTS, Column, CompiledQuery, Dialect, Kind, Param, PyType, Spec, Statement
from generator.schema import Catalog, TableDef
from generator.spec.version import entry_shape
from generator.sql import aggregates
from generator.sql.dialects import RenderError, normalize, render
from generator.sql.grouping import complete_group_by
from generator.sql.parse import check_params, parse_statement, placeholders, tokenize
from generator.sql.pg_forms import postgres_division, spell_common, spell_postgres
from generator.sql.portable import check_portable, check_write_shape
from generator.sql.resolve import check_names, qualify_tree, tables_read
from generator.sql.result import check_returns, check_tags, check_triggers, name_scalar, pins_key, result_columns, single_row, unnamed_columns
from generator.sql.typer import Typer
from generator.sql.writes import write_target
from generator.stores import kind_of

__all__ = ["compile_all", "compile_query", "render_for_dialect", "version_of"]


def compile_query(spec: Spec, catalog: Catalog) -> CompiledQuery:
    """Check, type and render one spec; raise SpecError with every problem found."""
    src = tokenize(spec)
    tree = parse_statement(src)
    name_scalar(spec, tree)
    diags = check_params(src, tree) + unnamed_columns(src, tree) + check_triggers(spec, catalog)
    names = check_write_shape(src, tree) or check_names(src, tree, catalog)
    if names:
        raise SpecError(diags + names)
    if spec.dialect == "postgres":
        spell_postgres(tree)
    tree = tree.transform(spell_common, copy=False).transform(aggregates.spell, copy=False)
    tree = normalize(tree)
    try:
        qualify_tree(tree, catalog, spec.dialect)
    except OptimizeError as e:
        raise SpecError([*diags, src.diag(0, "FG062", f"cannot resolve the query against the schema: {e}")]) from None
    complete_group_by(tree, catalog)
    target = write_target(tree, catalog)
    outer: dict[str, TableDef] = {}
    if target is not None and (tdef := catalog.table(target.table)) is not None:
        outer = {target.table: tdef}
    Typer(tree, catalog, spec, outer).annotate(tree)
    if spec.dialect == "postgres":
        postgres_division(tree)
    columns, more = result_columns(src, tree)
    store = kind_of(spec.cache.store) if spec.cache is not None else None
    diags += more + check_returns(spec, columns) + check_tags(spec, columns) + check_portable(src, tree, catalog)
    diags += store.check_sql(spec, columns, catalog, tree) if store is not None else []
    if diags:
        raise SpecError(diags)
    sql, order = _render_all(src.diag(0, "FG068", "").span, spec, tree)
    return CompiledQuery(
        spec=spec,
        sql=sql,
        param_order=order,
        columns=columns,
        tables=tables_read(tree),
        version=version_of(tree, columns, entry_shape(spec) + (f";collation={spec.collation}" if spec.collation else "")),
        statement=_statement(tree),
        written_table=target.table if target else None,
        bound_columns=target.bound if target else (),
        set_columns=target.set_columns if target else (),
        set_params=target.set_params if target else (),
        where_params=target.where_params if target else (),
        pins_key=pins_key(tree, catalog),
        single_row=single_row(tree, catalog),
    )


def _statement(tree: exp.Expr) -> Statement:
    if isinstance(tree, exp.Insert):
        return "insert"
    if isinstance(tree, exp.Update):
        return "update"
    if isinstance(tree, exp.Delete):
        return "delete"
    return "select"


def _render_all(at: Span, spec: Spec, tree: exp.Expr) -> tuple[dict[Dialect, str], tuple[str, ...]]:
    """Each dialect's SQL; the placeholders must come in the same order in all."""
    sql: dict[Dialect, str] = {}
    orders: dict[Dialect, tuple[str, ...]] = {}
    problems = []
    for d in DIALECTS:
        try:
            r = render(tree, spec.params, d)
        except RenderError as e:
            problems.append(Diagnostic(at, "FG068", f"does not translate to every dialect: {e}"))
            continue
        sql[d], orders[d] = r.sql, r.order
    if not problems and len(set(orders.values())) > 1:
        problems.append(Diagnostic(at, "FG068", f"does not translate to every dialect: the parameters come in a different order per dialect ({orders})"))
    if problems:
        raise SpecError(problems)
    return sql, orders["mysql"]


def version_of(tree: exp.Expr, columns: Iterable[Column], spec_shape: str) -> str:
    """12 hex chars of sha256 over the normalised SQL, the result columns and the rest of the spec that shapes entries.

    The SQL is sqlglot's MySQL text of the qualified query, without comments:
    reformatting a spec or editing its comments keeps the version.
    ``spec_shape`` is ``spec.version.entry_shape``: returns, key, tags,
    triggers, store and its options.
    """
    normal = tree.sql(dialect="mysql", identify=True, comments=False)
    shape = ";".join(f"{c.name}:{c.type}:{int(c.nullable)}:{c.scale}" for c in columns)
    return hashlib.sha256(f"{normal}\n{shape}\n{spec_shape}".encode()).hexdigest()[:12]


def compile_all(specs: Iterable[Spec], catalog: Catalog) -> list[CompiledQuery]:
    """Compile every spec; raise one SpecError with the problems of all of them."""
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


def render_for_dialect(
    sql_text: str,
    read_dialect: Dialect,
    write_dialect: Dialect,
    catalog: Catalog,
    params: Mapping[str, PyType] | None = None,
) -> str:
    """The SQL the build would hold for ``write_dialect`` (driver placeholders).

    ``params`` gives each placeholder's type (default: str); the SQL may be
    a read or a write. Raises SpecError as ``compile_query`` does.

    >>> from generator.schema import parse_catalog
    >>> cat = parse_catalog("CREATE TABLE t (d DATETIME NOT NULL);")
    >>> print(render_for_dialect("SELECT d FROM t WHERE d < :x + INTERVAL 1 DAY", "mysql", "sqlite", cat, {"x": "date"}))
    SELECT
      "t"."d" AS "d"
    FROM "t" AS "t"
    WHERE
      "t"."d" < DATE(?, '+1 days')
    """
    span = Span("<sql>", 1, 1)
    probe = Spec("<sql>", "adhoc", span, "read", "", read_dialect, (), sql_text, span, 0, "many", span, None)
    names = dict.fromkeys(p.name for p in placeholders(tokenize(probe)))
    types = dict(params or {})
    plist = tuple(Param(n, types.get(n, "str"), span) for n in names)
    kind: Kind = "write" if sql_text.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE") else "read"
    spec = Spec("<sql>", "adhoc", span, kind, "", read_dialect, plist, sql_text, span, 0, "many", span, None)
    return compile_query(spec, catalog).sql[write_dialect]
