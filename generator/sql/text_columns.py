"""Text compared with text the data holds: another column, or what a subquery selects.

MariaDB's collation ignores case, PostgreSQL's and SQLite's do not. So
``pd.country IN (SELECT g.country FROM airport_geo g ...)`` finds 236
passengers on MariaDB and 4 elsewhere: passengerdetails stores ``Germany``,
airport_geo ``GERMANY``. The build cannot see how the data is cased, so such a
comparison is held to the rule for a literal: it builds when the case of
both sides is fixed, and is refused otherwise, with the rewrite.

Fixed: both sides wrapped in UPPER() (or LOWER()); the same column of the
same row; or two columns a declared FOREIGN KEY links (the referencing
column holds copies of the referenced one's values).
"""

from __future__ import annotations

from sqlglot import exp

from generator.schema import Catalog

CASE_FIXING = (exp.Upper, exp.Lower)


def compared_value(value: exp.Expr) -> exp.Expr:
    """What a comparison's side compares: a subquery's (first) selected expression, else itself."""
    query = value.this if isinstance(value, exp.Subquery) else value
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Select) and query.selects:
        return query.selects[0].unalias()
    return value


def columns_problem(left: exp.Expr, right: exp.Expr, op: str, catalog: Catalog) -> str | None:
    """Why comparing the text of ``left`` and ``right`` (one of them a column) depends on the collation, or None."""
    a, b = compared_value(left), compared_value(right)
    if isinstance(a, CASE_FIXING) and isinstance(b, CASE_FIXING):
        return None
    if not (isinstance(a, exp.Column) and isinstance(b, exp.Column)):
        return None  # a literal, a parameter, an expression: the rule for values applies (sql.portable)
    if (a.table, a.name) == (b.table, b.name) or _linked(a, b, catalog):
        return None
    left_text, right_text = _shown(left, a), _shown(right, b)
    return (
        f"{left_text} {op} {right_text} compares the text of two columns, whose stored case may differ (MariaDB matches 'Germany' with 'GERMANY', "
        f"PostgreSQL and SQLite do not); compare UPPER() of both sides: {_upper(left_text, a)} {op} {_upper(right_text, b)}, or declare a FOREIGN KEY "
        "between the two columns in the schema if one holds copies of the other's values"
    )


def _shown(side: exp.Expr, column: exp.Column) -> str:
    name = f"{column.table}.{column.name}" if column.table else column.name
    return f"(SELECT {name} ...)" if side is not column else name


def _upper(shown: str, column: exp.Column) -> str:
    name = f"{column.table}.{column.name}" if column.table else column.name
    return shown.replace(name, f"UPPER({name})")


def _linked(a: exp.Column, b: exp.Column, catalog: Catalog) -> bool:
    """True when a declared foreign key maps one column onto the other."""
    ta, tb = _table_of(a, catalog), _table_of(b, catalog)
    if ta is None or tb is None:
        return False
    for (src, col), (dst, ref) in (((ta, a.name), (tb, b.name)), ((tb, b.name), (ta, a.name))):
        tdef = catalog.table(src)
        for fk in tdef.foreign_keys if tdef is not None else ():
            if fk.table == dst and (col, ref) in zip(fk.columns, fk.ref_columns, strict=False):
                return True
    return False


def _table_of(column: exp.Column, catalog: Catalog) -> str | None:
    """The catalog table a qualified column's alias names, looking outwards through the enclosing SELECTs."""
    select = column.parent_select
    while select is not None:
        for table in select.find_all(exp.Table):
            if table.parent_select is select and table.alias_or_name == column.table:
                return table.name if catalog.table(table.name) is not None else None
        parent = select.parent
        select = parent.parent_select if parent is not None else None
    return None
