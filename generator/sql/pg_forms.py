"""PostgreSQL's own spellings in ``dialect: postgres`` specs, held for MySQL and SQLite with their meaning.

- ``ILIKE`` is case-insensitive: what LIKE is on MySQL and SQLite, and what a
  MySQL spec's LIKE becomes on PostgreSQL. ``LIKE`` in a PostgreSQL spec is
  case-sensitive, so it stays so: ``x COLLATE utf8mb4_bin LIKE p`` on MySQL,
  ``x GLOB p'`` on SQLite (``%`` -> ``*``, ``_`` -> ``?``; a literal pattern
  only: FG068 names ILIKE otherwise).
- ``a / b`` of two integers truncates toward zero: ``a DIV b`` on MySQL.
- ``IS [NOT] DISTINCT FROM`` (in any spec): ``NOT a <=> b`` on MySQL, ``a IS NOT b``
  on SQLite.

In every spec:
- ``FETCH FIRST n ROWS ONLY`` is ``LIMIT n``;
- ``agg(x) FILTER (WHERE c)`` is ``agg(CASE WHEN c THEN x END)``, and
  ``COUNT(*) FILTER (WHERE c)`` is ``COUNT(CASE WHEN c THEN 1 END)``:
  aggregates skip NULLs, so both count and sum the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from generator.schema import Catalog
from generator.sql.parse import Source
from generator.sql.types import KEY, SqlType, sql_type

CASE_SENSITIVE = "fg_case_sensitive"  # node.meta flag on a PostgreSQL spec's LIKE


def spell_postgres(tree: exp.Expr) -> exp.Expr:
    """A PostgreSQL spec's ILIKE as LIKE, its LIKE marked case-sensitive (in place, before typing)."""

    def one(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.ILike):
            like = exp.Like(this=node.this, expression=node.expression)
            if node.args.get("escape") is not None:
                like.set("escape", node.args["escape"])
            return like
        if isinstance(node, exp.Like):
            node.meta[CASE_SENSITIVE] = True
        return node

    return tree.transform(one, copy=False)


def spell_common(node: exp.Expr) -> exp.Expr:
    """FETCH FIRST n ROWS ONLY -> LIMIT n; agg(...) FILTER (WHERE c) -> agg(CASE WHEN c THEN ... END)."""
    if isinstance(node, exp.Fetch):
        options = node.args.get("limit_options")
        if node.args.get("count") is not None and not (options is not None and (options.args.get("percent") or options.args.get("with_ties"))):
            return exp.Limit(expression=node.args["count"])
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc) and isinstance(node.expression, exp.Where):
        agg, condition = node.this, node.expression.this
        value = agg.this
        if isinstance(agg, exp.Count) and (value is None or isinstance(value, exp.Star)):
            value = exp.Literal.number(1)
        if isinstance(value, exp.Expr) and not isinstance(value, exp.Distinct):
            agg.set("this", exp.Case(ifs=[exp.If(this=condition, true=value)]))
            return agg
    return node


def postgres_division(tree: exp.Expr) -> None:
    """A PostgreSQL spec's ``a / b`` of two integers truncates: ``a DIV b`` (in place, after typing)."""
    for div in list(tree.find_all(exp.Div)):
        if {sql_type(div.left).py, sql_type(div.right).py} <= {"int", "bool"}:
            whole = exp.IntDiv(this=div.left, expression=div.right)
            whole.meta[KEY] = SqlType("int", True)
            div.replace(whole)


def check(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """FG068 for a case-sensitive LIKE (a PostgreSQL spec's) that SQLite's GLOB cannot hold."""
    for like in tree.find_all(exp.Like):
        if like.meta.get(CASE_SENSITIVE) and _glob(like) is None:
            yield (
                like,
                "LIKE is case-sensitive on PostgreSQL and not on MySQL and SQLite, which hold it only for a pattern written as a literal "
                "without ESCAPE; write the pattern as a literal, or ILIKE to match any case everywhere",
            )


def _glob(like: exp.Like) -> str | None:
    """A case-sensitive LIKE's literal pattern as a GLOB pattern, or None."""
    pattern = like.expression
    if like.args.get("escape") is not None or not (isinstance(pattern, exp.Literal) and pattern.is_string) or "\\" in pattern.name:
        return None
    out = []
    for ch in pattern.name:
        out.append({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
    return "".join(out)


def mysql_like(node: exp.Expr) -> exp.Expr:
    """A case-sensitive LIKE compares by code point on MySQL."""
    if isinstance(node, exp.Like) and node.meta.get(CASE_SENSITIVE):
        collated = exp.Collate(this=node.this, expression=exp.Var(this="utf8mb4_bin"))
        collated.meta[KEY] = sql_type(node.this)
        node.set("this", collated)
    return node


def sqlite_like(node: exp.Expr) -> exp.Expr:
    """A case-sensitive LIKE is GLOB on SQLite."""
    if isinstance(node, exp.Like) and node.meta.get(CASE_SENSITIVE) and (pattern := _glob(node)) is not None:
        glob = exp.Glob(this=node.this, expression=exp.Literal.string(pattern))
        glob.meta[KEY] = sql_type(node)
        return glob
    return node
