"""A UNION's ORDER BY, made the ORDER BY of a SELECT from it, so that text sorts alike everywhere.

``... UNION ALL ... ORDER BY direction, departure`` sorts ``direction`` by each
database's collation (MariaDB's unicode_ci puts ``COX-DAYTON`` before ``COX'S
BAZAR``, PostgreSQL's "C" and SQLite after), and PostgreSQL cannot collate a
UNION's output column (its ORDER BY takes output names only). Written as

    SELECT u.direction AS direction, ... FROM (... UNION ALL ...) AS u
    ORDER BY u.direction, u.departure LIMIT ...

the keys are columns of a derived table, which ``sql.dialects`` collates by
code point on every database as it does any ORDER BY key of text. The rows,
their order and their names are those of the UNION's ORDER BY. Keys that name
a result column, or its position (``ORDER BY 2``), are rewritten; a query
ordered otherwise is left as written.
"""

from __future__ import annotations

from sqlglot import exp

from generator.sql.result import leftmost

ALIAS = "u"


def ordered_unions(tree: exp.Expr) -> exp.Expr:
    """Every UNION/INTERSECT/EXCEPT with an ORDER BY, as a SELECT from it (the new root, if the root was one)."""
    for setop in list(tree.find_all(exp.SetOperation)):
        select = _as_select(setop)
        if select is None:
            continue
        if setop is tree:
            tree = select
        else:
            setop.replace(select)
    return tree


def _as_select(setop: exp.SetOperation) -> exp.Select | None:
    order = setop.args.get("order")
    first = leftmost(setop)
    if order is None or first is None:
        return None
    names = [p.alias_or_name for p in first.selects]
    if not names or "*" in names or len(set(names)) < len(names):
        return None
    found = [_key_name(o.this, names) for o in order.expressions]
    keys = [k for k in found if k is not None]
    if len(keys) < len(found):
        return None
    inner = setop.copy()
    for arg in ("order", "limit", "offset", "with"):
        inner.set(arg, None)
    select = exp.Select(expressions=[exp.alias_(exp.column(n, table=ALIAS), n) for n in names])
    select = select.from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(ALIAS))), copy=False)
    ordered = []
    for o, name in zip(order.expressions, keys, strict=True):
        key = o.copy()
        key.set("this", exp.column(name, table=ALIAS))
        ordered.append(key)
    select.set("order", exp.Order(expressions=ordered))
    for arg in ("limit", "offset", "with"):
        if setop.args.get(arg) is not None:
            select.set(arg, setop.args[arg].copy())
    return select


def _key_name(key: exp.Expr, names: list[str]) -> str | None:
    """The result column an ORDER BY key names (by name or position), or None."""
    if isinstance(key, exp.Column) and not key.table and key.name in names:
        return key.name
    if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.name) <= len(names):
        return names[int(key.name) - 1]
    return None
