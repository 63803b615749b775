"""GROUP_CONCAT(x ORDER BY y SEPARATOR s) and JSON_ARRAYAGG / JSON_OBJECT, held alike for the three databases.

GROUP_CONCAT with an ORDER BY:

- MySQL as written (a text key collated by code point, as every ORDER BY of
  text is); PostgreSQL ``STRING_AGG(CAST(x AS TEXT), s ORDER BY y COLLATE "C")``;
  SQLite ``GROUP_CONCAT(x, s ORDER BY y)``, which needs SQLite 3.44: the
  runtime's driver (``flughafen.sqlite_driver``: sqlean.py when installed) must
  have it, or the build refuses the spec. Every database skips NULLs, and gives
  NULL when all are.
- Without ORDER BY each database concatenates in its own order: refused, as is
  DISTINCT inside (MariaDB's collation makes 'a' and 'A' one value).
- MariaDB and MySQL cut the result at ``group_concat_max_len`` bytes (1 MiB on
  MariaDB, 1024 on MySQL); the runtime raises it to the largest value on each
  connection (flughafen/db.py), so the text is whole, as elsewhere.

JSON_ARRAYAGG(JSON_OBJECT('k', v, ...)) and JSON_OBJECT are typed ``json``: the
runtime reads the JSON text each database writes and returns it in one form
(``flughafen.convert``: no spaces, keys in the order written), so only values
must agree, not spacing:

- dates, datetimes and times are written as MySQL writes them
  (``CAST(x AS CHAR)``, ``CAST(x AS TEXT)`` on PostgreSQL, SQLite's text);
  decimals are JSON numbers (SQLite: ``CAST(x AS REAL)``: its NUMERIC column
  may hold 1160 for 1160.00), read back as floats; a TINYINT(1) is 1 or 0
  (PostgreSQL casts its boolean to INT); a float is refused (each database
  prints it its own way);
- the array's elements come in the order of their values (MySQL leaves it
  unspecified), or in the ORDER BY written inside: ``JSON_AGG(... ORDER BY)``
  on PostgreSQL, ``JSON_GROUP_ARRAY(... ORDER BY)`` on SQLite (3.44, as above),
  ``JSON_ARRAYAGG(... ORDER BY)`` on MariaDB (10.5 and newer; MySQL has none);
- no row: NULL on every database (SQLite's JSON_GROUP_ARRAY gives ``[]``:
  ``CASE WHEN COUNT(*) = 0 THEN NULL ELSE ... END``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlglot import exp

from flughafen.sqlite_driver import NAME, ORDERED_AGGREGATES, VERSION
from generator.model import Dialect
from generator.schema import Catalog
from generator.sql.parse import Source
from generator.sql.types import KEY, SqlType, sql_type

JSON = SqlType("json", True)
DONE = "fg_json_done"
DATES = ("date", "datetime", "time")


def spell(node: exp.Expr) -> exp.Expr:
    """``JSON_ARRAYAGG(x [ORDER BY k])``, an unknown call to sqlglot, -> ``exp.JSONArrayAgg`` with its order (before typing).

    Without an ORDER BY the elements are ordered by their values: the JSON
    object's values in the order written, or the one value.
    """
    if not (isinstance(node, exp.Anonymous) and node.name.upper() == "JSON_ARRAYAGG" and len(node.expressions) == 1):
        return node
    arg = node.expressions[0]
    value = arg.this if isinstance(arg, exp.Order) else arg
    if isinstance(arg, exp.Order):
        order = arg.copy()
        order.set("this", None)
    else:
        order = exp.Order(expressions=[exp.Ordered(this=k.copy(), nulls_first=True) for k in _values(value)])
    return exp.JSONArrayAgg(this=value.copy(), order=order)


def _values(value: exp.Expr) -> list[exp.Expr]:
    """What orders the elements of an array of ``value``: a JSON object's values (not nested JSON), or the value."""
    if isinstance(value, exp.JSONObject):
        return [kv.expression for kv in value.expressions if isinstance(kv, exp.JSONKeyValue) and not isinstance(kv.expression, exp.JSONObject)]
    return [value]


# --------------------------------------------------------------------- check


def check(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """What of GROUP_CONCAT and the JSON functions cannot be held alike."""
    for node in tree.find_all(exp.GroupConcat):
        yield from _group_concat_problems(node)
    for agg in tree.find_all(exp.JSONArrayAgg):
        if agg.args.get("null_handling") or agg.args.get("return_type") or agg.args.get("strict") or isinstance(agg.this, exp.Distinct):
            yield agg, "JSON_ARRAYAGG takes one value here (JSON_ARRAYAGG(JSON_OBJECT('k', x, ...)) or JSON_ARRAYAGG(x ORDER BY y)); drop the options"
        elif (old := _old_sqlite("JSON_ARRAYAGG")) is not None:
            yield agg, old
    for obj in tree.find_all(exp.JSONObject):
        if any(obj.args.get(k) for k in ("null_handling", "unique_keys", "return_type", "encoding")):
            yield obj, "JSON_OBJECT takes key, value pairs only here; drop the options"
        for kv in obj.expressions:
            key = kv.this if isinstance(kv, exp.JSONKeyValue) else None
            if not (isinstance(key, exp.Literal) and key.is_string):
                yield kv, "a JSON_OBJECT key must be a string literal ('flight_id'), as it names the same field on every database"
            elif sql_type(kv.expression).py == "float":
                yield kv.expression, "a float in JSON: each database prints floats its own way; write it as a decimal: CAST(x AS DECIMAL(10, 2))"


def _group_concat_problems(node: exp.GroupConcat) -> Iterator[tuple[exp.Expr | int, str]]:
    arg = node.this
    value = arg.this if isinstance(arg, exp.Order) else arg
    separator = node.args.get("separator")
    if isinstance(value, exp.Distinct):
        yield (
            node,
            "GROUP_CONCAT(DISTINCT ...): MariaDB's collation makes 'a' and 'A' one value, the others do not; write GROUP_CONCAT(x ORDER BY x) over a DISTINCT derived table",
        )
    elif not isinstance(arg, exp.Order):
        yield (
            node,
            "GROUP_CONCAT without ORDER BY: each database concatenates in its own order (PostgreSQL gave '33C; 10F; 28E' where MariaDB gave "
            "'10F; 28E; 33C'); write the order inside: GROUP_CONCAT(x ORDER BY x SEPARATOR ', ')",
        )
    elif separator is not None and not (isinstance(separator, exp.Literal) and separator.is_string):
        yield separator, "GROUP_CONCAT's SEPARATOR must be a string literal; write SEPARATOR ', '"
    elif (old := _old_sqlite("GROUP_CONCAT(... ORDER BY ...)")) is not None:
        yield node, old


def _old_sqlite(what: str) -> str | None:
    """Why the runtime's SQLite cannot run an ordered aggregate, or None."""
    if VERSION >= ORDERED_AGGREGATES:
        return None
    shown = ".".join(map(str, VERSION))
    return (
        f"{what} needs SQLite 3.44 or newer (ORDER BY inside an aggregate), and {NAME} here links SQLite {shown}; "
        "install flughafen-gen[sqlite] (sqlean.py, SQLite 3.50) where you build and where the application runs, "
        "or return the rows in order (returns: many) and join them in Python"
    )


# -------------------------------------------------------------------- render


def rewrite(dialect: Dialect) -> Callable[[exp.Expr], exp.Expr]:
    """The JSON functions as ``dialect`` writes them; GROUP_CONCAT is left to sqlglot (and ``sql.casts``)."""

    def visit(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.JSONArrayAgg):
            for obj in list(node.find_all(exp.JSONObject)):
                obj.replace(_object(obj, dialect))
            return _array(node, dialect)
        if isinstance(node, exp.JSONObject) and not node.meta.get(DONE):
            return _object(node, dialect)
        return node

    return visit


def _array(node: exp.JSONArrayAgg, dialect: Dialect) -> exp.Expr:
    order = node.args.get("order")
    value: exp.Expr = node.this
    if isinstance(order, exp.Order) and order.expressions:
        value = exp.Order(this=value, expressions=order.expressions)
    name = {"mysql": "JSON_ARRAYAGG", "postgres": "JSON_AGG", "sqlite": "JSON_GROUP_ARRAY"}[dialect]
    array = _typed(exp.Anonymous(this=name, expressions=[value]))
    if dialect == "sqlite":
        none = exp.EQ(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(0))
        return _typed(exp.Case(ifs=[exp.If(this=none, true=exp.Null())], default=array))
    return _outermost(array, node, dialect)


def _object(node: exp.JSONObject, dialect: Dialect) -> exp.Expr:
    args: list[exp.Expr] = []
    for kv in node.expressions:
        args += [kv.this, _json_value(kv.expression, dialect)]
    name = "JSON_BUILD_OBJECT" if dialect == "postgres" else "JSON_OBJECT"
    built = _typed(exp.Anonymous(this=name, expressions=args))
    built.meta[DONE] = True
    return _outermost(built, node, dialect)


def _json_value(value: exp.Expr, dialect: Dialect) -> exp.Expr:
    """A value as MySQL writes it into JSON: dates as text, decimals as numbers, a TINYINT(1) as 1 or 0."""
    t = sql_type(value)
    if t.py in DATES and dialect != "sqlite":
        return _typed(exp.cast(value, exp.DataType.build("CHAR" if dialect == "mysql" else "TEXT")), SqlType("str", t.nullable))
    if t.py == "decimal" and dialect == "sqlite":
        return _typed(exp.cast(value, exp.DataType.build("REAL")), SqlType("float", t.nullable))
    if t.py == "bool" and dialect == "postgres":
        return _typed(exp.cast(value, exp.DataType.build("INT")), SqlType("int", t.nullable))
    return value


def _outermost(built: exp.Expr, was: exp.Expr, dialect: Dialect) -> exp.Expr:
    """PostgreSQL's JSON as TEXT where it leaves the JSON functions (psycopg would decode it; the others return text)."""
    parent = was.parent
    nested = isinstance(parent, (exp.JSONKeyValue, exp.JSONArrayAgg, exp.JSONObject)) or (
        isinstance(parent, exp.Anonymous) and parent.name.upper() in ("JSON_AGG", "JSON_BUILD_OBJECT")
    )
    if dialect != "postgres" or nested:
        return built
    return _typed(exp.cast(built, exp.DataType.build("TEXT")))


def _typed(node: exp.Expr, t: SqlType = JSON) -> exp.Expr:
    node.meta[KEY] = t
    return node
