"""Step 4: refuse what does not mean the same on MySQL, PostgreSQL and SQLite (FG068).

The rule is an allowlist: a statement may use only the constructs listed in
``ALLOWED``, each known to translate faithfully (with the rewrites of
``sql.dialects``). Everything else is refused at its position, with a
portable alternative where one is known (``SUGGEST``). A few allowed
constructs have conditions, checked by ``CHECKS``:

- ``/`` between two integers (MySQL gives a decimal, the others truncate);
- INTERVAL: a number literal of DAY, WEEK, HOUR, MINUTE or SECOND added to a
  date or datetime (SQLite's month arithmetic does not clamp to the month's end);
- ``||`` in MySQL (it is OR there, concatenation elsewhere);
- LENGTH in MySQL (bytes; CHAR_LENGTH counts characters everywhere);
- GROUP_CONCAT, JSON_ARRAYAGG and JSON_OBJECT: the conditions of
  ``sql.aggregates`` (an ORDER BY inside GROUP_CONCAT, SQLite 3.44, no floats in JSON);
- a non-aggregated column that is neither grouped nor functionally
  dependent on a grouped primary key (PostgreSQL refuses it, SQLite picks a row);
- arithmetic on dates, times or text (other than adding an INTERVAL);
- SELECT DISTINCT ordered by something not selected (PostgreSQL refuses it);
- text compared by ``=``, ``<>``, ``<=>`` or IN with a value whose case is not
  fixed (MariaDB's collation ignores case, PostgreSQL's and SQLite's do not),
  and text compared by ``<``, ``>`` or BETWEEN (the collations order text
  differently); ORDER BY and MIN/MAX of text are rewritten by ``sql.dialects``
  to sort by code point everywhere, except ORDER BY an output column's name;
- SUBSTRING from a position that is not a positive number literal, or for a
  length that is not a number literal (MySQL, PostgreSQL and SQLite read 0
  and negative numbers three ways);
- UPPER/LOWER in a result (SQLite changes ASCII letters only; in a
  comparison both sides change alike).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from sqlglot import exp
from sqlglot.tokenizer_core import TokenType

from generator.diagnostics import Diagnostic
from generator.model import Param
from generator.schema import Catalog
from generator.sql import aggregates, collation, pg_forms, timediff
from generator.sql.casts import check_casts
from generator.sql.collation import FOLD
from generator.sql.grouping import aggregate, clause_items, keyed_aliases, loose_columns
from generator.sql.parse import Source, node_offset, placeholders
from generator.sql.text_columns import columns_problem, compared_value
from generator.sql.types import DAY_UNITS, UNKNOWN, interval_unit, sql_type

ALLOWED: frozenset[type[exp.Expr]] = frozenset((
    # statements and clauses
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.TableAlias, exp.Subquery,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
    exp.Distinct, exp.Alias, exp.Column, exp.Identifier, exp.Star, exp.Table, exp.Tuple, exp.Paren,
    exp.Literal, exp.Null, exp.Boolean, exp.Placeholder, exp.Var, exp.DataType, exp.DataTypeParam,
    exp.Interval, exp.Insert, exp.Schema, exp.Values, exp.Update, exp.Delete,
    # operators
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Is, exp.Like, exp.In, exp.Between, exp.Exists, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv,
    exp.Mod, exp.Neg, exp.DPipe,
    # functions
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Coalesce, exp.Nullif, exp.Case, exp.If, exp.Cast,
    exp.Round, exp.Abs, exp.Floor, exp.Ceil, exp.Upper, exp.Lower, exp.Concat, exp.Substring, exp.Trim,
    exp.Length, exp.Replace, exp.CurrentTimestamp, exp.CurrentDate, exp.TsOrDsToDate, exp.DateAdd,
    exp.DateSub, exp.TimestampDiff, exp.DateDiff, exp.Window, exp.WindowSpec, exp.RowNumber, exp.Rank, exp.DenseRank,
    exp.GroupConcat, exp.JSONArrayAgg, exp.JSONObject, exp.JSONKeyValue,  # with the conditions of sql.aggregates
))  # fmt: skip

DATE_HINT = "compare with a range instead (col >= :day AND col < :day + INTERVAL 1 DAY), or compute it in Python"
SUGGEST: dict[str, str] = {
    "DayOfWeek": "DAYOFWEEK is numbered differently per database; compute the weekday in Python from the value read, or keep it in a column",
    "DayOfWeekIso": "WEEKDAY is numbered differently per database; compute the weekday in Python from the value read, or keep it in a column",
    "Year": "YEAR() does not exist on SQLite; " + DATE_HINT,
    "Month": "MONTH() does not exist on SQLite; " + DATE_HINT,
    "Day": "DAY() does not exist on SQLite; " + DATE_HINT,
    "Extract": "EXTRACT does not exist on SQLite; " + DATE_HINT,
    "TimeToStr": "DATE_FORMAT specifiers differ per database; format the value in Python",
    "StrToTime": "STR_TO_DATE formats differ per database; pass a typed date/datetime parameter",
    "OnConflict": "ON DUPLICATE KEY UPDATE is MySQL only (PostgreSQL and SQLite use ON CONFLICT); write a separate UPDATE spec",
    "Returning": "MySQL has no RETURNING; select the row in a read spec",
    "ConcatWs": "CONCAT_WS does not exist on SQLite before 3.44; use CONCAT(a, ',', b) (NULL if any part is NULL)",
    "Left": "LEFT() does not exist on SQLite; use SUBSTRING(x, 1, n)",
    "Right": "RIGHT() does not exist on SQLite, and a negative SUBSTRING start counts from the end on MySQL only; take the end of the string in Python",
    "Greatest": "GREATEST ignores NULLs on PostgreSQL but not on MySQL; use CASE WHEN a >= b THEN a ELSE b END",
    "Least": "LEAST ignores NULLs on PostgreSQL but not on MySQL; use CASE WHEN a <= b THEN a ELSE b END",
    "RegexpLike": "regular expressions differ per database (and are case-insensitive on MySQL); use LIKE",
    "Pad": "LPAD/RPAD do not exist on SQLite; pad in Python",
    "SubstringIndex": "SUBSTRING_INDEX passes through unchanged; use SUBSTRING with a position",
    "UnixToTime": "use a datetime parameter",
    "TimestampTrunc": "DATE_TRUNC is PostgreSQL's; compare with a range instead (col >= :day AND col < :day + INTERVAL 1 DAY), or truncate in Python",
    "DateTrunc": "DATE_TRUNC is PostgreSQL's; compare with a range instead (col >= :day AND col < :day + INTERVAL 1 DAY), or truncate in Python",
    "ArrayAgg": "arrays are PostgreSQL's; return the rows (returns: many) and collect them in Python",
    "Any": "= ANY(...) is PostgreSQL's; write IN (...) with the values, or IN (SELECT ...)",
    "StrPosition": "the position functions differ (LOCATE, POSITION, INSTR); test with LIKE '%text%', or search in Python",
    "AtTimeZone": "time zones are converted differently; store and pass UTC datetimes, and convert in Python",
    "ToChar": "formats differ per database; format the value in Python",
    "Anonymous": "this function is not known to mean the same on MySQL, PostgreSQL and SQLite",
}
GENERIC = (
    "not known to mean the same on MySQL, PostgreSQL and SQLite; write it with the constructs that do (docs/portability.md: "
    "COUNT, SUM, AVG, MIN, MAX, CASE, COALESCE, NULLIF, CAST, ROUND, CONCAT, SUBSTRING, TRIM, REPLACE, LIKE, INTERVAL arithmetic, "
    "TIMESTAMPDIFF, window functions), or compute it in Python"
)
ANONYMOUS: dict[str, str] = {
    "SUBSTRING_INDEX": SUGGEST["SubstringIndex"],
    "TIMEDIFF": "TIMEDIFF passes through unchanged; compare datetimes directly or compute in Python",
    "TIME_TO_SEC": "TIME_TO_SEC passes through unchanged; compute in Python",
    "UNIX_TIMESTAMP": "UNIX_TIMESTAMP passes through unchanged; use a datetime parameter",
    "DAYNAME": "DAYNAME passes through unchanged; format the date in Python",
    "ADDDATE": "write DATE_ADD(x, INTERVAL n DAY) or x + INTERVAL n DAY",
    "SUBDATE": "write DATE_SUB(x, INTERVAL n DAY) or x - INTERVAL n DAY",
    "UTC_TIMESTAMP": "pass the time as a datetime parameter",
}
INTERVAL_UNITS = DAY_UNITS | {"HOUR", "MINUTE", "SECOND"}
PREFIX = "does not translate to every dialect: "

Check = Callable[[Source, exp.Expr, Catalog], Iterator[tuple[exp.Expr | int, str]]]


def check_portable(src: Source, tree: exp.Expr, catalog: Catalog) -> list[Diagnostic]:
    """FG068 for every construct outside the allowlist or failing a check."""
    found: list[tuple[exp.Expr | int, str]] = []
    for check in CHECKS:
        found += check(src, tree, catalog)
    diags = []
    for where, message in found:
        offset = where if isinstance(where, int) else node_offset(src, where)
        diags.append(src.diag(offset, "FG068", PREFIX + message))
    return sorted(set(diags), key=lambda d: (d.span.line, d.span.col, d.message))


def not_allowed(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """Constructs outside ``ALLOWED`` (exact classes: a subclass such as
    CONCAT_WS may mean something else); a refused node's children are skipped."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) in ALLOWED and not _unsupported_use(node):
            stack.extend(node.iter_expressions())
            continue
        yield _keyword_offset(src, node), _describe(node, _written_name(src, node))


def _written_name(src: Source, node: exp.Expr) -> str | None:
    """The name a refused function is written with in the spec (``JSON_OBJECT``, not sqlglot's class name)."""
    if not isinstance(node, exp.Func):
        return None
    found = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?=\s*\()", src.sql[node_offset(src, node) :])
    return found.group(0).upper() if found else None


def _keyword_offset(src: Source, node: exp.Expr) -> exp.Expr | int:
    """For a refused clause of INSERT/UPDATE/DELETE, the offset of its keyword."""
    if not isinstance(node, (exp.Insert, exp.Update, exp.Delete)):
        return node
    words = ("DUPLICATE", "IGNORE", "RETURNING", "JOIN", "FROM", "USING", "ORDER", "LIMIT", ",")
    toks = src.tokens
    for word in words:
        for i, tok in enumerate(toks):
            if i > 0 and tok.text.upper().split()[0] == word and not (word == "FROM" and isinstance(node, exp.Delete) and i == 1):
                return toks[i - 1].start if word == "DUPLICATE" else tok.start
    return node


def check_write_shape(src: Source, tree: exp.Expr) -> list[Diagnostic]:
    """FG068 for a multi-table, ordered or limited write, before its names are
    checked (``DELETE b FROM booking b JOIN ...`` names no table ``b``)."""
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)) and _unsupported_use(tree):
        where = _keyword_offset(src, tree)
        return [src.diag(where if isinstance(where, int) else node_offset(src, where), "FG068", PREFIX + _describe(tree))]
    return []


def _unsupported_use(node: exp.Expr) -> bool:
    """Allowed classes used in a way that is not (LIMIT in UPDATE, binary LENGTH...)."""
    if isinstance(node, exp.Length):
        return bool(node.args.get("binary"))
    if isinstance(node, (exp.Update, exp.Delete)):
        multi = isinstance(node.this, exp.Table) and bool(node.this.args.get("joins"))
        return multi or any(node.args.get(k) for k in ("from_", "from", "joins", "limit", "order", "using", "returning", "tables"))
    if isinstance(node, exp.Insert):
        return any(node.args.get(k) for k in ("conflict", "returning", "ignore", "overwrite"))
    return False


def _describe(node: exp.Expr, written: str | None = None) -> str:
    """What is wrong with a refused node, and what to write instead."""
    name = type(node).__name__
    if isinstance(node, exp.Anonymous):
        return f"{node.name.upper()}(): " + ANONYMOUS.get(node.name.upper(), SUGGEST["Anonymous"])
    if isinstance(node, exp.Length):
        return "LENGTH counts bytes on MySQL and characters elsewhere; use CHAR_LENGTH"
    if isinstance(node, exp.Insert):
        return "ON DUPLICATE KEY UPDATE, INSERT IGNORE and RETURNING are not portable; write a plain INSERT"
    if isinstance(node, (exp.Update, exp.Delete)):
        return f"{name.upper()} with JOIN/FROM, ORDER BY, LIMIT or RETURNING is MySQL or PostgreSQL only; write a single-table {name.upper()} with a WHERE"
    label = written or (node.sql_name() if isinstance(node, exp.Func) else node.key.upper())
    return f"{label}: " + SUGGEST.get(name, GENERIC)


def mysql_double_pipe(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """``||`` written in a MySQL spec: OR there, concatenation elsewhere."""
    if src.spec.dialect != "mysql":
        return
    for tok in src.tokens:
        if tok.token_type == TokenType.DPIPE:
            yield tok.start, "`||` means OR in MySQL and concatenation in PostgreSQL and SQLite; write OR, or CONCAT(a, b)"


def date_or_text_arithmetic(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """``+ - * / % DIV`` on dates, times or text: each database does something else."""
    ops = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv)
    for op in tree.find_all(*ops):
        if isinstance(op.left, exp.Interval) or isinstance(op.right, exp.Interval):
            continue
        kinds = {sql_type(side).py for side in (op.left, op.right) if sql_type(side) is not UNKNOWN}
        odd = kinds & {"date", "datetime", "time", "str"}
        if odd:
            yield (
                op,
                f"arithmetic on a {sorted(odd)[0]} value means something else on each database; add an INTERVAL to a date, compare dates directly, or compute in Python",
            )


def integer_division(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """``int / int``: a decimal on MySQL, truncated on PostgreSQL and SQLite."""
    for div in tree.find_all(exp.Div):
        if {sql_type(div.left).py, sql_type(div.right).py} <= {"int", "bool"}:
            yield (
                div,
                "`/` between integers gives a decimal on MySQL and an integer elsewhere; write CAST(x AS DECIMAL(10, 4)) / y, or x DIV y for integer division",
            )


def intervals(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """INTERVAL arithmetic that can be written faithfully for SQLite and PostgreSQL."""
    for node in tree.find_all(exp.Interval, exp.DateAdd, exp.DateSub):
        if isinstance(node, exp.Interval) and not isinstance(node.parent, (exp.Add, exp.Sub, exp.DateAdd, exp.DateSub)):
            yield node, "INTERVAL is supported only as `x + INTERVAL n DAY` or DATE_ADD/DATE_SUB"
            continue
        if isinstance(node, exp.Interval):
            continue
        yield from _interval_problems(node.this, node.expression, interval_unit(node), node)
    for op in tree.find_all(exp.Add, exp.Sub):
        for base, other in ((op.left, op.right), (op.right, op.left)):
            if isinstance(other, exp.Interval):
                if isinstance(op, exp.Sub) and base is op.right:
                    yield op, "write the interval on the right: x - INTERVAL n DAY"
                else:
                    yield from _interval_problems(base, other.this, interval_unit(other), op)


def _interval_problems(base: exp.Expr, amount: exp.Expr, unit: str, node: exp.Expr) -> Iterator[tuple[exp.Expr | int, str]]:
    """Why ``base + INTERVAL amount unit`` cannot be written faithfully, if it cannot."""
    if unit not in INTERVAL_UNITS:
        yield (
            node,
            f"INTERVAL of {unit or '?'}: SQLite's month and year arithmetic does not clamp to the month's end as MySQL's does; use DAY, WEEK, HOUR, MINUTE or SECOND",
        )
    elif not _number_literal(amount):
        yield node, "the INTERVAL amount must be a number literal (INTERVAL 1 DAY), not an expression or parameter"
    elif sql_type(base).py not in ("date", "datetime", "str"):
        yield node, f"INTERVAL arithmetic on a {sql_type(base).py} value; add intervals to a date or datetime"


def _number_literal(node: exp.Expr) -> bool:
    """True for an integer literal, possibly negated."""
    if isinstance(node, exp.Neg):
        return _number_literal(node.this)
    if isinstance(node, exp.Literal):
        try:
            int(node.name)
        except ValueError:
            return False
        return True
    return False


def strict_grouping(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """Non-aggregated columns must be grouped, of a table whose primary key is grouped, or (``sql.grouping``) added
    to the GROUP BY because its keys determine them."""
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if group is None and not any(aggregate(n) for p in select.selects for n in p.walk()):
            continue
        grouped = {e.sql() for e in group.expressions} if group is not None else set()
        keyed = keyed_aliases(select, catalog, {(c.table, c.name) for c in group.expressions if isinstance(c, exp.Column)} if group is not None else set())
        items = [*select.selects, *clause_items(select)]
        for item in items:
            for col in loose_columns(item, grouped, select):
                if col.table not in keyed:
                    yield (
                        col,
                        f"column {col.table}.{col.name} is neither grouped nor aggregated (PostgreSQL refuses it, SQLite picks any row); add it to GROUP BY or wrap it in MIN()/MAX()",
                    )


def distinct_order(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """SELECT DISTINCT ... ORDER BY x: PostgreSQL needs x in the select list."""
    for select in tree.find_all(exp.Select):
        order = select.args.get("order")
        distinct = select.args.get("distinct")
        if not distinct or order is None:
            continue
        on = distinct.args.get("on")
        if on is not None:
            keys = on.expressions if isinstance(on, exp.Tuple) else [on]
            first = [o.this.sql() for o in order.expressions[: len(keys)]]
            if sorted(first) != sorted(k.sql() for k in keys):
                yield (
                    order,
                    "SELECT DISTINCT ON (k) keeps the first row of each k in the ORDER BY's order; start the ORDER BY with the DISTINCT ON keys (ORDER BY k, ...)",
                )
            continue
        shown = {p.unalias().sql() for p in select.selects} | {p.alias_or_name for p in select.selects}
        for o in order.expressions:
            key = o.this
            if key.sql() not in shown and not (isinstance(key, exp.Column) and not key.table and key.name in shown):
                yield key, "with SELECT DISTINCT, PostgreSQL orders only by selected expressions; select it too, or drop DISTINCT"


def text_comparisons(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """Text compared where the collation decides: MariaDB's ignores case, PostgreSQL's and SQLite's do not.

    ``=``, ``<>``, ``<=>`` and IN between a text column and a value are the same
    everywhere when the value's case is fixed: an upper-case literal,
    ``UPPER(...)``, NULL, or a parameter whose pattern admits no lower-case
    letter (this trusts the column to store upper case, as the FlughafenDB
    data does). ``UPPER(col) = UPPER(:p)`` is never refused. Another column,
    or what a subquery selects, is the data's own case, which may differ from
    the column's (``sql.text_columns``).
    ``<``, ``>`` and BETWEEN on text depend on each collation's order.
    """
    params = {p.name: p for p in src.spec.params}
    folding = src.spec.collation == collation.MARIADB
    for like in tree.find_all(exp.Like):
        accented = _accented(like.expression)
        if accented is not None:
            yield like.expression, accented
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ, exp.In):
        if isinstance(node.parent, exp.Update):
            continue  # SET col = value assigns
        if isinstance(node, exp.In):
            pairs = [(node.this, v) for v in [*node.expressions, *([node.args["query"]] if node.args.get("query") else [])]]
        else:
            pairs = [(node.this, node.expression), (node.expression, node.this)]
        for side, other in pairs:
            col, value = compared_value(side), compared_value(other)
            if sql_type(col).py != "str" or sql_type(value).py != "str":
                continue
            op = {exp.EQ: "=", exp.NEQ: "<>", exp.NullSafeEQ: "<=>", exp.NullSafeNEQ: "IS DISTINCT FROM", exp.In: "IN"}[type(node)]
            accented = _accented(value)
            if accented is not None:
                yield value, accented
                break
            problem = columns_problem(side, other, op, catalog)
            if problem is not None:
                if folding:
                    node.meta[FOLD] = True
                else:
                    yield node, f"{problem}, {collation.HINT}"
                break
            if isinstance(col, exp.Column) and not _case_fixed(value, params):
                if not folding:
                    yield _value_offset(src, col, value), _case_message(col, value)
                elif isinstance(value, exp.Placeholder) and not collation.ascii_pattern(params[value.name].pattern if value.name in params else None):
                    yield _value_offset(src, col, value), _accented_param(col, value)
                else:
                    node.meta[FOLD] = True
                break
    for node in tree.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between):
        sides = [node.this, node.args["low"], node.args["high"]] if isinstance(node, exp.Between) else [node.this, node.expression]
        if any(isinstance(x, exp.Column) and sql_type(x).py == "str" for x in sides) and all(sql_type(x).py == "str" for x in sides):
            yield (
                node,
                "`<`, `>` and BETWEEN on text follow each database's collation (MariaDB sorts COX-DAYTON before COX'S BAZAR, PostgreSQL and SQLite after); compare with = or LIKE 'prefix%', or filter in Python",
            )


def _accented(value: exp.Expr) -> str | None:
    """Why a string literal with letters beyond ASCII compares differently per database, or None."""
    if not (isinstance(value, exp.Literal) and value.is_string and collation.non_ascii_letters(value.name)):
        return None
    letters = collation.non_ascii_letters(value.name)
    like = "".join("_" if c in letters else c for c in value.name)
    return (
        f"'{value.name}' holds {', '.join(dict.fromkeys(letters))}: MariaDB's collation also matches it without accents and in any case "
        f"('Koln' and 'KÖLN' for 'Köln'), PostgreSQL and SQLite only as written; write each such letter as _ in a LIKE ('{like}'), "
        "which matches it, with or without its accent, on every database"
    )


def _accented_param(col: exp.Column, value: exp.Placeholder) -> str:
    name = f"{col.table}.{col.name}" if col.table else col.name
    return (
        f"{name} = :{value.name} compares text whose letters beyond ASCII MariaDB folds ('ö' = 'o', 'Ö' = 'ö') and SQLite does not; "
        f'give :{value.name} a pattern of ASCII characters (pattern: "^[A-Za-z .-]+$")'
    )


def _value_offset(src: Source, col: exp.Column, value: exp.Expr) -> exp.Expr | int:
    """Where ``value`` is written: a parameter by its first ``:name`` after the column."""
    if not isinstance(value, exp.Placeholder):
        return value
    after = node_offset(src, col)
    return next((p.start for p in placeholders(src) if p.name == value.name and p.start > after), col)


def _case_fixed(value: exp.Expr, params: dict[str, Param]) -> bool:
    """True when ``value`` cannot hold a lower-case letter, or comes from the data."""
    if isinstance(value, (exp.Column, exp.Upper, exp.Null, exp.Subquery, exp.Select)):
        return True
    if isinstance(value, exp.Literal):
        return not value.is_string or value.name == value.name.upper()
    if isinstance(value, exp.Placeholder):
        p = params.get(value.name)
        return p is None or (p.pattern is not None and fixes_case(p.pattern))  # undeclared: FG063 says so
    return False


def _case_message(col: exp.Column, value: exp.Expr) -> str:
    name = f"{col.table}.{col.name}" if col.table else col.name
    if isinstance(value, exp.Placeholder):
        shown, fix = (
            f":{value.name}",
            f'give :{value.name} a pattern that admits no lower-case letter (pattern: "^[A-Z ]+$"), or write UPPER({name}) = UPPER(:{value.name})',
        )
    elif isinstance(value, exp.Literal):
        shown, fix = f"'{value.name}'", f"write UPPER({name}) = '{value.name.upper()}'"
    else:
        shown, fix = "this value", f"write UPPER({name}) = UPPER(...)"
    return f"{name} = {shown} compares text: case-insensitively on MariaDB, case-sensitively on PostgreSQL and SQLite; {fix}, {collation.HINT}"


def fixes_case(pattern: str) -> bool:
    """True when no string the pattern matches can hold a lower-case letter (a cautious guess).

    >>> fixes_case("^[A-Z]{3}$"), fixes_case("^[A-Z][A-Z .,'()-]{1,49}$"), fixes_case("^.{1,50}$"), fixes_case("^[a-z]+$")
    (True, True, False, False)
    """
    outside = re.sub(r"\[(?:\\.|[^\]])*\]", "", pattern)
    if re.search(r"(?<!\\)\.|\\[wWSDB]|[a-z]", outside.replace("\\d", "")):
        return False
    for cls in re.findall(r"\[((?:\\.|[^\]])*)\]", pattern):
        if cls.startswith("^") or re.search(r"[a-z]|\\[wWSD]", cls):
            return False
    return True


def substring_positions(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """SUBSTRING(x, start[, length]) with literal, positive positions only.

    From 0 MySQL returns '' and the others the first length - 1 characters;
    from -n MySQL and SQLite count from the end (MySQL gives '' when x is
    shorter than n), PostgreSQL from before the start; a negative length is
    '' on MySQL and an error on PostgreSQL.
    """
    for node in tree.find_all(exp.Substring):
        start, length = node.args.get("start"), node.args.get("length")
        if start is not None and not (isinstance(start, exp.Literal) and _number_literal(start) and int(start.name) > 0):
            yield (
                node,
                "SUBSTRING counts a start of 0 or below three different ways on MySQL, PostgreSQL and SQLite; start from a positive number literal (SUBSTRING(x, 1, 3)), or take the end of the string in Python",
            )
        elif length is not None and not (_number_literal(length) and not isinstance(length, exp.Neg)):
            yield (
                node,
                "SUBSTRING's length must be a number literal of 0 or more (a negative length is '' on MySQL and an error on PostgreSQL); write SUBSTRING(x, 1, 3)",
            )


def case_changes(src: Source, tree: exp.Expr, catalog: Catalog) -> Iterator[tuple[exp.Expr | int, str]]:
    """UPPER/LOWER whose value is returned: SQLite changes ASCII letters only ('Alpensöhnehütte')."""
    predicates = (
        exp.EQ,
        exp.NEQ,
        exp.NullSafeEQ,
        exp.NullSafeNEQ,
        exp.In,
        exp.Like,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.Between,
        exp.Where,
        exp.Having,
        exp.Join,
    )
    for node in tree.find_all(exp.Upper, exp.Lower):
        parent = node.parent
        while parent is not None and not isinstance(parent, (exp.Query, *predicates)):
            parent = parent.parent
        if isinstance(parent, exp.Select) and _compared_subquery(parent) and node in [p.unalias() for p in parent.selects]:
            continue  # IN (SELECT UPPER(g.country) ...): compared, not returned
        if not isinstance(parent, predicates):
            yield (
                node,
                f"{node.sql_name()} in a result changes only ASCII letters on SQLite (ö stays ö) and every letter elsewhere; change the case in Python, and use {node.sql_name()} only to compare (UPPER(col) = UPPER(:p))",
            )


def _compared_subquery(select: exp.Select) -> bool:
    """True for the SELECT of ``x IN (SELECT ...)`` or ``x = (SELECT ...)``."""
    sub = select.parent
    return isinstance(sub, exp.Subquery) and isinstance(sub.parent, (exp.In, exp.EQ, exp.NEQ, exp.NullSafeEQ))


CHECKS: tuple[Check, ...] = (
    not_allowed, mysql_double_pipe, date_or_text_arithmetic, integer_division, intervals, strict_grouping, distinct_order,
    text_comparisons, substring_positions, case_changes, check_casts, timediff.check, pg_forms.check, aggregates.check,
)  # fmt: skip
