"""``flughafen-gen check``: lints on specs that build, each with a position and a rewrite.

CHECKS is a tuple of small functions ``(Context) -> findings``; each finds one
kind of problem a query can have while still building:

- FGL01 a function wraps an indexed column in WHERE (``DATE(departure) = :d``):
  the index cannot be used; compare the bare column with a range.
- FGL02 is retired: a text comparison whose result depends on the collation
  no longer builds (FG068, ``sql.portable.text_comparisons``), and text is
  sorted by code point on every database (``sql.dialects``).
- FGL03 LIMIT without an ORDER BY that ends on a key: which rows come back
  may differ between runs and databases.
- FGL04 ``returns: one`` on a query that can return many rows.
- FGL05 ``returns: many`` with neither LIMIT nor a key or indexed column
  fixed in WHERE: the result grows with the table (not for ``store: zset``,
  which holds a whole ranking by design).
- FGL06 a table the query reads has no ``invalidate:`` trigger.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from generator.commands import EXIT_OK, EXIT_STALE, print_diagnostics
from generator.diagnostics import Diagnostic
from generator.model import CompiledQuery
from generator.pipeline import load_project
from generator.schema import Catalog
from generator.sql.parse import Source, node_offset, tokenize
from generator.stores import kind_of


@dataclass(frozen=True)
class Context:
    q: CompiledQuery
    catalog: Catalog
    src: Source
    tree: exp.Expr
    aliases: dict[str, str]  # alias -> table

    def column_def(self, col: exp.Column) -> tuple[str, str] | None:
        """(table, column) of a column reference, when the catalog knows it."""
        table = self.aliases.get(col.table) if col.table else None
        candidates = [table] if table else list(self.aliases.values())
        for t in candidates:
            tdef = self.catalog.table(t or "")
            if tdef is not None and tdef.column(col.name) is not None:
                return tdef.name, col.name.lower()
        return None

    def warn(self, node: exp.Expr | None, code: str, message: str) -> Diagnostic:
        offset = node_offset(self.src, node) if node is not None else 0
        return Diagnostic(self.src.span(offset), code, message, severity="warning")


Check = Callable[[Context], Iterator[Diagnostic]]


def _where(ctx: Context) -> exp.Expr | None:
    w = ctx.tree.args.get("where")
    return w.this if isinstance(w, exp.Where) else None


def non_sargable(ctx: Context) -> Iterator[Diagnostic]:
    where = _where(ctx)
    if where is None:
        return
    for cmp in where.find_all(exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE):
        for side in (cmp.left, cmp.right):
            if isinstance(side, exp.Func) and not isinstance(side, exp.Column):
                for col in side.find_all(exp.Column):
                    found = ctx.column_def(col)
                    tdef = ctx.catalog.table(found[0]) if found else None
                    if found and tdef is not None and tdef.indexed(found[1]):
                        fn = side.sql(dialect="mysql")
                        hint = (
                            f"write {col.sql(dialect='mysql')} >= :day AND {col.sql(dialect='mysql')} < :day + INTERVAL 1 DAY"
                            if isinstance(side, (exp.Date, exp.TsOrDsToDate, exp.Cast))
                            else f"compare {col.sql(dialect='mysql')} itself, with the function applied to the parameter"
                        )
                        yield ctx.warn(side, "FGL01", f"{fn} hides the index on {found[0]}.{found[1]}; {hint}")


def _total_order(ctx: Context) -> bool:
    order = ctx.tree.args.get("order")
    if not isinstance(order, exp.Order):
        return False
    keyed: set[tuple[str, str]] = set()
    for item in order.expressions:
        if isinstance(item.this, exp.Column):
            found = ctx.column_def(item.this)
            if found:
                keyed.add(found)
        selects = ctx.tree.selects if isinstance(ctx.tree, exp.Query) else []
        names = {s.alias_or_name: s.unalias() for s in selects}  # ORDER BY an output alias
        target = names.get(item.this.name) if isinstance(item.this, exp.Column) and not item.this.table else None
        if isinstance(target, exp.Column) and (found := ctx.column_def(target)):
            keyed.add(found)
    for table in set(ctx.aliases.values()):
        tdef = ctx.catalog.table(table)
        if tdef is not None and tdef.primary_key and all((tdef.name, c) in keyed for c in tdef.primary_key):
            return True
    return False


def limit_order(ctx: Context) -> Iterator[Diagnostic]:
    limit = ctx.tree.args.get("limit")
    if limit is not None and not ctx.q.single_row and not _total_order(ctx):
        yield ctx.warn(
            limit, "FGL03", "LIMIT without an ORDER BY that ends on a primary key: which rows come back may differ; add the key as the last ORDER BY column"
        )


def returns_one(ctx: Context) -> Iterator[Diagnostic]:
    spec = ctx.q.spec
    if spec.returns == "one" and not (ctx.q.pins_key or ctx.q.single_row):
        yield Diagnostic(
            spec.returns_span,
            "FGL04",
            "returns: one, but the query can return many rows (no key fixed, no LIMIT 1); fix a primary or unique key in WHERE, add LIMIT 1, or use returns: many",
            severity="warning",
        )


def unbounded(ctx: Context) -> Iterator[Diagnostic]:
    spec = ctx.q.spec
    if spec.returns != "many" or ctx.tree.args.get("limit") is not None:
        return
    if spec.cache is not None and kind_of(spec.cache.store).whole_result:
        return  # store: zset holds the whole ranking by design; top(n) bounds what is read
    where = _where(ctx)
    for cmp in where.find_all(exp.EQ) if where is not None else []:
        for side in (cmp.left, cmp.right):
            if isinstance(side, exp.Column) and (found := ctx.column_def(side)):
                tdef = ctx.catalog.table(found[0])
                if tdef is not None and tdef.indexed(found[1]):
                    return
    yield ctx.warn(None, "FGL05", "returns: many with no LIMIT and no indexed column fixed in WHERE: the result grows with the table; add LIMIT or a filter")


def uncovered_tables(ctx: Context) -> Iterator[Diagnostic]:
    covered = {t.table for t in ctx.q.spec.invalidate}
    for table in ctx.q.tables:
        if table not in covered:
            yield Diagnostic(
                ctx.q.spec.name_span,
                "FGL06",
                f"{ctx.q.spec.name} reads {table}, which no invalidate: entry covers: after a write to {table} it may be stale for up to its TTL; add `- table: {table}` with tags or all: true",
                severity="warning",
            )


CHECKS: tuple[Check, ...] = (non_sargable, limit_order, returns_one, unbounded, uncovered_tables)


def check(queries: list[CompiledQuery], catalog: Catalog) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for q in queries:
        if q.spec.kind != "read":
            continue
        tree = sqlglot.parse_one(q.spec.sql, read=q.spec.dialect)
        aliases = {t.alias_or_name: t.name.lower() for t in tree.find_all(exp.Table)}
        ctx = Context(q, catalog, tokenize(q.spec), tree, aliases)
        for rule in CHECKS:
            found.extend(rule(ctx))
    return sorted(found, key=lambda d: (d.span.path, d.span.line, d.span.col, d.code))


def main_check(specs_dir: Path) -> int:
    """``flughafen-gen check``: every finding with its position and source line on stdout; exit 1 when there is any."""
    catalog, queries = load_project(specs_dir)
    found = check(queries, catalog)
    print_diagnostics(found, sys.stdout)
    print(f"{len(found)} warning(s) in {len(queries)} spec(s)", file=sys.stderr)
    return EXIT_STALE if found else EXIT_OK
