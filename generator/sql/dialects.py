"""Step 5: one typed query -> its SQL for MySQL/MariaDB, PostgreSQL and SQLite.

``normalize`` runs once, before typing: ``NOW()`` becomes CURRENT_TIMESTAMP,
``DATE_ADD``/``DATE_SUB`` become ``x + INTERVAL``/``x - INTERVAL``.
``render`` then writes each dialect from a copy of the typed tree:

all three
  identifiers quoted; comments dropped; ORDER BY keeps MySQL's null order
  (NULLs first ascending) and says nothing where the key cannot be NULL.
postgres and sqlite
  a decimal quotient and the AVG of an integer or decimal are rounded half
  up to MySQL's scale (the dividend's + 4): ``ROUND(x / y, s + 4)``,
  ``ROUND(AVG(x), s + 4)``; unless already inside a ROUND to as many digits
  or fewer.
mysql and postgres
  ORDER BY a text key and MIN/MAX of text compare by code point, as SQLite
  does: ``COLLATE utf8mb4_bin`` on MySQL, ``COLLATE "C"`` on PostgreSQL
  (MariaDB's unicode_ci sorts COX-DAYTON before COX'S BAZAR and 'ree'
  before 'Zellweger'; the others do not).
mysql
  an integer subtraction casts its operands to SIGNED (an UNSIGNED column
  minus a larger number fails on MySQL and is negative elsewhere);
  GROUP BY, DISTINCT, COUNT(DISTINCT) and UNION of text compare by code
  point too (``_binary_text_sets``; on PostgreSQL a DISTINCT's text
  projections are collated like its ORDER BY keys).
sqlite
  ``x + INTERVAL n DAY`` -> ``date(x, '+n days')`` for a date and day/week
  units, else ``datetime(x, '+n hours')``...; CURRENT_TIMESTAMP and
  CURRENT_DATE -> ``datetime('now', 'localtime')``/``date('now', 'localtime')``
  (MySQL's are local time, SQLite's UTC); CAST(x AS DECIMAL(p, s)) ->
  ``ROUND(CAST(x AS REAL), s)``.
postgres
  date/datetime/time/decimal parameters cast to their type (an untyped
  ``$1 + INTERVAL`` is ambiguous); a date plus days stays a DATE;
  CURRENT_TIMESTAMP -> LOCALTIMESTAMP; LIKE -> ILIKE (MySQL's collation is
  case-insensitive, as is SQLite's LIKE); CAST AS CHAR -> TEXT/VARCHAR (no
  blank padding); CONCAT and STRING_AGG arguments cast to TEXT; decimal
  division stays numeric; TINYINT(1) columns are BOOLEAN there: compared
  with 0/1 they compare with FALSE/TRUE, in arithmetic and aggregates they
  are cast to INTEGER, and a number written into one is cast to BOOLEAN.

Placeholders become markers before generation and the driver's placeholder
after: ``%s`` for pymysql and psycopg (every literal ``%`` doubled, so the
runtime must always pass a parameter tuple, even an empty one), ``?`` for
sqlite3. Each dialect's SQL is parsed again by sqlglot as a check. It is
written one clause a line (sqlglot's pretty form), so that a generated
module shows a change of a spec as a change of the lines it touches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError

from generator.model import Dialect, Param
from generator.sql import aggregates
from generator.sql.casts import as_text, joined_value, pg_casts, set_joined, sqlite_casts, sqlite_text
from generator.sql.collation import fold_case
from generator.sql.distinct_on import distinct_on
from generator.sql.pg_forms import CASE_SENSITIVE, mysql_like, sqlite_like
from generator.sql.sqlite_decimals import exact_avg, exact_div, exact_round
from generator.sql.timediff import rewrite as timediff
from generator.sql.typer import FIXED
from generator.sql.types import DAY_UNITS, KEY, SqlType, interval_unit, sql_type
from generator.sql.union_order import ordered_unions

MARK = "\x00{}\x00"
MARK_RE = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")
PG_CASTS = {"date": "DATE", "datetime": "TIMESTAMP", "time": "TIME", "decimal": "NUMERIC"}
NULLS_ARE_SMALL = {"mysql": True, "postgres": False, "sqlite": True}
NUMBERS = ("int", "decimal", "float")


class RenderError(Exception):
    """A dialect's SQL could not be written or read back."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """One dialect's SQL and the parameter bound to each placeholder."""

    sql: str  # with the driver's placeholders
    order: tuple[str, ...]  # the param of each placeholder, in order


# ---------------------------------------------------------------- normalize


def normalize(tree: exp.Expr) -> exp.Expr:
    """Spell a few MySQL synonyms one way, before typing (in place).

    >>> import sqlglot
    >>> normalize(sqlglot.parse_one("SELECT NOW(), DATE_SUB(d, INTERVAL 2 DAY)", read="mysql")).sql("mysql")
    "SELECT CURRENT_TIMESTAMP(), d - INTERVAL '2' DAY"
    """
    tree = tree.transform(_synonym, copy=False).transform(_unqualified_set, copy=False)
    _drop_constant_order(tree)
    return ordered_unions(tree)


def _drop_constant_order(tree: exp.Expr) -> None:
    """``ORDER BY NULL`` (MySQL's way to say "no order") and other constant keys order nothing: dropped.

    PostgreSQL refuses a constant ORDER BY key ("non-integer constant in ORDER
    BY"). A number stays: it names a result column by position.
    """
    for order in list(tree.find_all(exp.Order)):
        keys = [o for o in order.expressions if not (isinstance(o.this, exp.Null) or (isinstance(o.this, exp.Literal) and o.this.is_string))]
        if len(keys) == len(order.expressions):
            continue
        if keys:
            order.set("expressions", keys)
        else:
            order.pop()


def _unqualified_set(node: exp.Expr) -> exp.Expr:
    """``UPDATE t AS x SET x.c = ...``: PostgreSQL and SQLite take no alias in SET."""
    if isinstance(node, exp.Update):
        for eq in node.expressions:
            if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                eq.this.set("table", None)
    return node


def _synonym(node: exp.Expr) -> exp.Expr:
    """NOW() -> CURRENT_TIMESTAMP; DATE_ADD/DATE_SUB of a literal -> x +/- INTERVAL."""
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "CURRENT_TIMESTAMP", "LOCALTIMESTAMP") and not node.expressions:
        return exp.CurrentTimestamp()
    if isinstance(node, (exp.DateAdd, exp.DateSub)) and isinstance(node.expression, exp.Literal):
        unit = node.args.get("unit")
        interval = exp.Interval(this=node.expression.copy(), unit=unit.copy() if unit else exp.var("DAY"))
        op = exp.Add if isinstance(node, exp.DateAdd) else exp.Sub
        return op(this=node.this.copy(), expression=interval)
    return node


# ------------------------------------------------------------------- render


def render(tree: exp.Expr, params: tuple[Param, ...], dialect: Dialect) -> Rendered:
    """The SQL for ``dialect`` with driver placeholders, one clause a line, and the param order.

    >>> import sqlglot
    >>> from generator.model import Param
    >>> from generator.diagnostics import Span
    >>> t = sqlglot.parse_one("SELECT a FROM t WHERE s LIKE '50%' AND b = :b", read="mysql")
    >>> p = (Param("b", "int", Span("f", 1, 1)),)
    >>> mysql = render(t, p, "mysql")
    >>> print(mysql.sql)
    SELECT
      `a`
    FROM `t`
    WHERE
      `s` LIKE '50%%' AND `b` = %s
    >>> mysql.order, render(t, p, "sqlite").sql.splitlines()[-1]
    (('b',), '  "s" LIKE \\'50%\\' AND "b" = ?')
    """
    types = {p.name: p.type for p in params}
    work = tree.copy()
    for rewrite in REWRITES[dialect]:
        work = work.transform(rewrite, copy=False)
    _fix_null_order(work, dialect)
    work = work.transform(lambda n: _marker(n, types, dialect), copy=False)
    try:
        text = work.sql(dialect=dialect, identify=True, comments=False, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        raise RenderError(f"sqlglot cannot write this for {dialect}: {e}") from None
    _reparse(text, dialect)
    order = tuple(MARK_RE.findall(text))
    if dialect == "sqlite":
        return Rendered(MARK_RE.sub("?", text), order)
    return Rendered(MARK_RE.sub("%s", text.replace("%", "%%")), order)


def _marker(node: exp.Expr, types: Mapping[str, str], dialect: Dialect) -> exp.Expr:
    """A placeholder -> a marker sqlglot writes verbatim (cast for PostgreSQL)."""
    if not isinstance(node, exp.Placeholder):
        return node
    marker: exp.Expr = exp.var(MARK.format(node.name))
    cast = PG_CASTS.get(types.get(node.name, ""))
    if dialect == "postgres" and cast:
        return exp.cast(marker, exp.DataType.build(cast))
    return marker


def _reparse(text: str, dialect: Dialect) -> None:
    """sqlglot must read its own output back (markers as ``:name``)."""
    try:
        sqlglot.parse_one(MARK_RE.sub(r":\1", text), read=dialect)
    except SqlglotError as e:
        raise RenderError(f"the {dialect} SQL does not parse back: {str(e).splitlines()[0]}") from None


def _fix_null_order(tree: exp.Expr, dialect: Dialect) -> None:
    """Where an ORDER BY key cannot be NULL, use the target's own null order.

    sqlglot keeps MySQL's order (NULLs first ascending) by writing NULLS
    FIRST/LAST for PostgreSQL; a key that is never NULL needs neither, and
    an index serves a plain ORDER BY better.
    """
    small = NULLS_ARE_SMALL[dialect]
    for ordered in tree.find_all(exp.Ordered):
        if not sql_type(ordered.this).nullable:
            desc = bool(ordered.args.get("desc"))
            ordered.set("nulls_first", small != desc)


# ------------------------------------------------------------------ sqlite


def _interval_parts(node: exp.Expr) -> tuple[exp.Expr, int, str] | None:
    """(base, signed amount, unit) of ``x + INTERVAL n UNIT`` / ``x - ...``."""
    if not isinstance(node, (exp.Add, exp.Sub)) or not isinstance(node.expression, exp.Interval):
        return None
    interval = node.expression
    amount = interval.this
    negative = isinstance(amount, exp.Neg)
    if negative:
        amount = amount.this
    if not isinstance(amount, exp.Literal):
        return None
    n = int(amount.name) * (-1 if negative else 1) * (-1 if isinstance(node, exp.Sub) else 1)
    return node.this, n, interval_unit(interval)


def sqlite_intervals(node: exp.Expr) -> exp.Expr:
    """``x + INTERVAL 1 DAY`` -> ``DATE(x, '+1 days')`` (DATETIME unless a date and days)."""
    parts = _interval_parts(node)
    if parts is None:
        return node
    base, n, unit = parts
    days = unit in DAY_UNITS
    if unit == "WEEK":
        n, unit = n * 7, "DAY"
    fn = "DATE" if days and sql_type(base).py == "date" else "DATETIME"
    modifier = exp.Literal.string(f"{n:+d} {unit.lower()}s")
    return _typed(exp.Anonymous(this=fn, expressions=[base, modifier]), sql_type(node))


def sqlite_now(node: exp.Expr) -> exp.Expr:
    """MySQL's CURRENT_TIMESTAMP/CURRENT_DATE are local time; SQLite's are UTC."""
    if isinstance(node, exp.CurrentTimestamp):
        return _typed(exp.Anonymous(this="DATETIME", expressions=[exp.Literal.string("now"), exp.Literal.string("localtime")]), sql_type(node))
    if isinstance(node, exp.CurrentDate):
        return _typed(exp.Anonymous(this="DATE", expressions=[exp.Literal.string("now"), exp.Literal.string("localtime")]), sql_type(node))
    return node


def sqlite_count_distinct(node: exp.Expr) -> exp.Expr:
    """``COUNT(DISTINCT a, b)``: SQLite's COUNT takes one argument.

    MySQL counts the distinct (a, b) among the rows where neither is NULL; so
    does ``COUNT(DISTINCT CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE
    QUOTE(a) || ',' || QUOTE(b) END)``: QUOTE writes each value as an SQL
    literal, so two tuples give the same text only when they are equal.
    """
    if not (isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct) and len(node.this.expressions) > 1):
        return node
    parts = node.this.expressions
    quoted = [exp.Anonymous(this="QUOTE", expressions=[p.copy()]) for p in parts]
    key: exp.Expr = quoted[0]
    for q in quoted[1:]:
        key = exp.DPipe(this=exp.DPipe(this=key, expression=exp.Literal.string(",")), expression=q)
    missing = exp.or_(*[exp.Is(this=p.copy(), expression=exp.Null()) for p in parts])
    one = exp.Case(ifs=[exp.If(this=missing, true=exp.Null())], default=key)
    node.this.set("expressions", [_typed(one, SqlType("str", True))])
    return node


def sqlite_decimal_cast(node: exp.Expr) -> exp.Expr:
    """CAST(x AS DECIMAL(p, s)) rounds on MySQL; SQLite's REAL cast does not."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL:
        scale = sql_type(node).scale or 0
        real = exp.cast(node.this, exp.DataType.build("DOUBLE"))
        return _typed(exp.Round(this=real, decimals=exp.Literal.number(scale)), sql_type(node))
    return node


# ------------------------------------------------------------ text order

BINARY_COLLATION: dict[Dialect, exp.Expr] = {"mysql": exp.Var(this="utf8mb4_bin"), "postgres": exp.Identifier(this="C", quoted=True)}


def _binary_text_order(dialect: Dialect) -> Callable[[exp.Expr], exp.Expr]:
    """ORDER BY keys and MIN/MAX arguments of text -> ``x COLLATE <binary>``.

    A key naming a result column of the same SELECT (``ORDER BY country``,
    which is also what sqlglot makes of ``ORDER BY pd.country`` when the query
    groups by it) is ordered by that column's expression, collated.
    """

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, (exp.Ordered, exp.Min, exp.Max)) and _text_key(node.this):
            node.set("this", _collated(node.this, dialect))
        elif isinstance(node, exp.Ordered) and (shown := output_expression(node)) is not None and _text_key(shown):
            collated = node.copy()  # a new node: the rewrite does not visit it again
            collated.set("this", shown if isinstance(shown, exp.Collate) else _collated(shown, dialect))
            return collated
        return node

    return rewrite


def output_expression(ordered: exp.Ordered) -> exp.Expr | None:
    """A copy of the expression of the result column an ORDER BY key names, in a SELECT (not a UNION's)."""
    key, order = ordered.this, ordered.parent
    select = order.parent if isinstance(order, exp.Order) else None
    if not (isinstance(key, exp.Column) and not key.table and isinstance(select, exp.Select)):
        return None
    for proj in select.selects:
        if isinstance(proj, exp.Alias) and proj.alias == key.name and isinstance(proj.this, exp.Expr):
            return proj.this.copy()
    return None


def _binary_text_sets(dialect: Dialect) -> Callable[[exp.Expr], exp.Expr]:
    """GROUP BY, DISTINCT, COUNT(DISTINCT), a window's PARTITION BY and
    UNION/INTERSECT/EXCEPT of text compare by code point on MySQL, as on
    PostgreSQL and SQLite.

    MariaDB's unicode_ci made 'LaRose' and 'Larose' one last name: 17,667
    distinct against 17,682. A text GROUP BY key gets a binary twin
    (``GROUP BY x, x COLLATE utf8mb4_bin``: ``x`` stays grouped for
    ONLY_FULL_GROUP_BY), unless other keys fix it (``sql.typer.FIXED``);
    DISTINCT and set operations compare binary projections. On PostgreSQL a
    DISTINCT's text projections are collated as its ORDER BY keys are, which
    it requires (and which changes no equality: "C" and the default compare
    bytes alike).
    """

    def rewrite(node: exp.Expr) -> exp.Expr:
        if dialect == "mysql" and isinstance(node, exp.Group):
            twins = [_collated(k.copy(), dialect) for k in node.expressions if _text_key(k) and not k.meta.get(FIXED)]
            if twins:
                node.set("expressions", [*node.expressions, *twins])
        elif dialect == "mysql" and isinstance(node, exp.Window) and node.args.get("partition_by"):
            node.set("partition_by", [_collated(k, dialect) if _text_key(k) else k for k in node.args["partition_by"]])
        elif dialect == "mysql" and isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
            node.this.set("expressions", [_collated(e, dialect) if _text_key(e) else e for e in node.this.expressions])
        elif isinstance(node, exp.Select) and (on := _distinct_on(node)) is not None:
            on.set("expressions", [_collated(k, dialect) if _text_key(k) else k for k in on.expressions])  # as its ORDER BY keys
        elif isinstance(node, exp.Select) and (node.args.get("distinct") or (dialect == "mysql" and _in_distinct_set(node))):
            for proj in node.selects:
                if isinstance(proj, exp.Alias) and _text_key(proj.this):
                    proj.set("this", _collated(proj.this, dialect))
        return node

    return rewrite


def _distinct_on(select: exp.Select) -> exp.Tuple | None:
    """The keys of ``SELECT DISTINCT ON (...)`` (PostgreSQL specs), if any."""
    distinct = select.args.get("distinct")
    on = distinct.args.get("on") if isinstance(distinct, exp.Distinct) else None
    return on if isinstance(on, exp.Tuple) else None


def _in_distinct_set(select: exp.Select) -> bool:
    """True when ``select`` is a branch of a UNION/INTERSECT/EXCEPT that removes duplicates."""
    parent = select.parent
    while isinstance(parent, exp.SetOperation):
        if parent.args.get("distinct"):
            return True
        parent = parent.parent
    return False


def _text_key(node: exp.Expr) -> bool:
    """A text value compared by collation (not a literal, nor an output column's name)."""
    if isinstance(node, (exp.Literal, exp.Null)) or (isinstance(node, exp.Column) and not node.table):
        return False
    return sql_type(node).py == "str"


def _collated(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """``node COLLATE <binary collation of dialect>`` (parenthesised unless atomic)."""
    inner = node if isinstance(node, (exp.Column, exp.Func, exp.Paren)) else exp.paren(node, copy=False)
    return _typed(exp.Collate(this=inner, expression=BINARY_COLLATION[dialect].copy()), sql_type(node))


# ---------------------------------------------------------- decimal scale


def mysql_scale(node: exp.Expr) -> exp.Expr:
    """``x / y`` (decimal) and ``AVG(x)`` (int or decimal) -> ``ROUND(..., s + 4)``.

    MySQL gives both the scale of x plus 4 (div_precision_increment), rounded
    half up; PostgreSQL keeps 16 or more digits, SQLite a float.
    """
    target = node.this if isinstance(node, exp.Window) else node
    if isinstance(target, exp.Avg) and isinstance(node.parent, exp.Window):
        return node  # rounded around the window
    if isinstance(target, exp.Div) and sql_type(target).py == "decimal":
        scale = sql_type(target).scale or 0
    elif isinstance(target, exp.Avg) and sql_type(target.this).py in ("int", "decimal", "bool"):
        scale = (sql_type(target.this).scale or 0) + 4
    else:
        return node
    outer = node.parent
    if isinstance(outer, exp.Round) and _digits(outer) <= scale:
        return node
    rounded = exp.Round(this=node, decimals=exp.Literal.number(scale))
    return _typed(rounded, sql_type(node))


def _digits(node: exp.Round) -> int:
    """n of ``ROUND(x, n)`` (a literal), else a large number."""
    d = node.args.get("decimals")
    return int(d.name) if isinstance(d, exp.Literal) and d.is_int else 0 if d is None else 1_000


# ------------------------------------------------------------------- mysql


def mysql_signed_sub(node: exp.Expr) -> exp.Expr:
    """An integer ``a - b`` -> ``CAST(a AS SIGNED) - CAST(b AS SIGNED)`` on MySQL.

    With an UNSIGNED operand (``airplane.capacity``) MySQL computes the
    difference as BIGINT UNSIGNED and fails below zero ("BIGINT UNSIGNED value
    is out of range") where PostgreSQL and SQLite return the negative number.
    Literals and parameters are signed already and stay as they are.

    >>> import sqlglot
    >>> t = sqlglot.parse_one("SELECT p.capacity - 1 FROM p", read="mysql")
    >>> _ = [_typed(s, SqlType("int", False)) for s in t.find_all(exp.Sub)]
    >>> t.transform(mysql_signed_sub).sql("mysql")
    'SELECT CAST(p.capacity AS SIGNED) - 1 FROM p'
    """
    if not isinstance(node, exp.Sub) or sql_type(node).py != "int":
        return node
    for side in ("this", "expression"):
        operand = node.args[side]
        if not isinstance(operand, (exp.Literal, exp.Placeholder, exp.Neg, exp.Cast)):
            signed = exp.cast(operand, exp.DataType.build("SIGNED", dialect="mysql"))
            node.set(side, _typed(signed, SqlType("int", sql_type(operand).nullable)))
    return node


# ---------------------------------------------------------------- postgres


def pg_dates(node: exp.Expr) -> exp.Expr:
    """A date plus whole days is a DATE on MySQL; PostgreSQL makes a TIMESTAMP."""
    parts = _interval_parts(node)
    if parts is not None and sql_type(node).py == "date" and not isinstance(node.parent, exp.Cast):
        return _typed(exp.Cast(this=node.copy(), to=exp.DataType.build("DATE")), sql_type(node))
    if isinstance(node, exp.CurrentTimestamp):
        return _typed(exp.Localtimestamp(), sql_type(node))
    return node


def pg_text(node: exp.Expr) -> exp.Expr:
    """LIKE -> ILIKE; CHAR casts -> TEXT/VARCHAR; CONCAT/STRING_AGG args -> TEXT."""
    if isinstance(node, exp.Like) and not node.meta.get(CASE_SENSITIVE):
        return _typed(exp.ILike(this=node.this, expression=node.expression), sql_type(node))
    if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR):
        length = node.to.expressions
        to = exp.DataType(this=exp.DataType.Type.VARCHAR, expressions=length) if length else exp.DataType.build("TEXT")
        return _typed(exp.Cast(this=node.this, to=to), sql_type(node))
    if isinstance(node, exp.Concat):
        node.set("expressions", [as_text(a, "postgres") for a in node.expressions])
    if isinstance(node, exp.DPipe):
        node.set("this", as_text(node.this, "postgres"))
        node.set("expression", as_text(node.expression, "postgres"))
    if isinstance(node, exp.GroupConcat):
        set_joined(node, as_text(joined_value(node), "postgres"))
    return node


def pg_zero_divisor(node: exp.Expr) -> exp.Expr:
    """``x DIV 0`` and ``x MOD 0`` are NULL on MySQL and SQLite, an error on PostgreSQL: ``NULLIF(y, 0)``.

    (sqlglot writes ``/`` so already.) A literal divisor other than 0 stays.
    """
    if isinstance(node, (exp.IntDiv, exp.Mod)):
        divisor = node.expression
        if not (isinstance(divisor, exp.Literal) and not divisor.is_string and float(divisor.name) != 0):
            guarded = exp.Nullif(this=exp.paren(divisor, copy=False) if isinstance(divisor, exp.Binary) else divisor, expression=exp.Literal.number(0))
            node.set("expression", _typed(guarded, SqlType(sql_type(divisor).py, True, sql_type(divisor).scale)))
    return node


def pg_booleans(node: exp.Expr) -> exp.Expr:
    """TINYINT(1) is BOOLEAN on PostgreSQL: 0/1 literals and arithmetic adapt."""
    if isinstance(node, (exp.EQ, exp.NEQ)):
        _bool_literal(node)
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        left, right = sql_type(node.left).py, sql_type(node.right).py
        if {left, right} & {"bool"} and {left, right} & {"int", "decimal", "float"}:
            side = "this" if left == "bool" else "expression"
            node.set(side, _as_int(node.args[side]))
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv)):
        for side in ("this", "expression"):
            if sql_type(node.args[side]).py == "bool":
                node.set(side, _as_int(node.args[side]))
    if isinstance(node, (exp.Sum, exp.Avg, exp.Min, exp.Max)) and sql_type(node.this).py == "bool":
        node.set("this", _as_int(node.this))
    if isinstance(node, exp.Div) and "decimal" in (sql_type(node.left).py, sql_type(node.right).py):
        node.set("typed", True)
    return node


def pg_bool_targets(node: exp.Expr) -> exp.Expr:
    """A number written into a BOOLEAN column (``SET sunday = 1``) is cast to BOOLEAN."""
    pairs: list[tuple[SqlType, exp.Expr]] = []
    if isinstance(node, exp.Update):
        pairs = [(sql_type(eq.this), eq) for eq in node.expressions if isinstance(eq, exp.EQ)]
        for target, eq in pairs:
            if target.py == "bool" and sql_type(eq.expression).py in NUMBERS:
                eq.set("expression", _as_bool(eq.expression))
    if isinstance(node, exp.Insert) and isinstance(node.this, exp.Schema) and isinstance(node.expression, exp.Values):
        targets = [sql_type(name).py for name in node.this.expressions]
        for row in node.expression.expressions:
            row.set(
                "expressions", [_as_bool(v) if t == "bool" and sql_type(v).py in NUMBERS else v for t, v in zip(targets, row.expressions, strict=False)]
            )  # a short row: the database refuses it
    return node


def _as_bool(node: exp.Expr) -> exp.Expr:
    """``CAST(CAST(node AS INT) AS BOOLEAN)``: 0 is FALSE, anything else TRUE, as
    on MySQL (PostgreSQL casts only INTEGER to BOOLEAN, and psycopg may send a
    small int as SMALLINT)."""
    whole = node if isinstance(node, exp.Literal) else exp.cast(node, exp.DataType.build("INT"))
    return _typed(exp.cast(whole, exp.DataType.build("BOOLEAN")), SqlType("bool", sql_type(node).nullable))


def _bool_literal(node: exp.Expr) -> None:
    """``flag = 1`` -> ``flag = TRUE`` (and 0 -> FALSE) for a bool-typed side."""
    for mine, other in (("this", "expression"), ("expression", "this")):
        lit = node.args[other]
        if sql_type(node.args[mine]).py == "bool" and isinstance(lit, exp.Literal) and lit.name in ("0", "1"):
            node.set(other, _typed(exp.Boolean(this=lit.name == "1"), SqlType("bool", False)))


def _as_int(node: exp.Expr) -> exp.Expr:
    """``CAST(node AS INT)``: a PostgreSQL boolean in arithmetic."""
    return _typed(
        exp.cast(exp.paren(node, copy=False) if isinstance(node, exp.Binary) else node, exp.DataType.build("INT")), SqlType("int", sql_type(node).nullable)
    )


def _typed(node: exp.Expr, t: SqlType) -> exp.Expr:
    """Store the type on a node a rewrite created, for later rewrites."""
    node.meta[KEY] = t
    return node


REWRITES: dict[Dialect, tuple[Callable[[exp.Expr], exp.Expr], ...]] = {
    "mysql": (aggregates.rewrite("mysql"), distinct_on, mysql_like, mysql_signed_sub, _binary_text_sets("mysql"), _binary_text_order("mysql")),
    "postgres": (
        fold_case("postgres"),
        aggregates.rewrite("postgres"),
        timediff("postgres"),
        pg_dates,
        pg_casts,
        pg_text,
        pg_bool_targets,
        pg_booleans,
        pg_zero_divisor,
        mysql_scale,
        _binary_text_sets("postgres"),
        _binary_text_order("postgres"),
    ),
    "sqlite": (
        fold_case("sqlite"),
        aggregates.rewrite("sqlite"),
        distinct_on,
        timediff("sqlite"),
        sqlite_like,
        sqlite_intervals,
        sqlite_now,
        exact_avg,
        exact_div,
        exact_round,
        sqlite_casts,
        sqlite_decimal_cast,
        sqlite_text,
        sqlite_count_distinct,
        mysql_scale,
    ),
}
