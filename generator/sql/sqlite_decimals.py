"""AVG and ROUND of decimals on SQLite, rounded half up exactly as MySQL rounds a DECIMAL.

SQLite keeps a DECIMAL as a float, and a float cannot hold a tie: the 32
prices of bookings 1 to 32 average 1055.9634375, which MySQL rounds to
1055.963438 and SQLite's float AVG to 1055.963437. A decimal of scale s times
10^s is a whole number, which a float holds exactly, so the build counts in
those units with integer arithmetic:

- ``AVG(x)`` (int or decimal of scale s, not a window): ``n = SUM(ROUND(x *
  10^s))``, ``c = COUNT(x)``, the mean to s + 4 digits (MySQL's scale) is
  ``sign(n) * ((|n| / c) * 10^4 + (2 * (|n| % c) * 10^4 + c) / (2 * c))``
  (integer division; the remainder keeps the products small) over
  ``10^(s+4)``; NULL when c is 0.
- ``ROUND(x, k)`` of a decimal of scale s > k: ``m = ROUND(x * 10^s)``,
  ``sign(m) * ((2 * |m| + 10^(s-k)) / (2 * 10^(s-k)))`` over ``10^k``.

- ``x / y`` of a decimal (scale s) by an int or decimal (scale t): ``a`` and
  ``b`` their whole units, the quotient to s + 4 digits is ``sign * ((2 *
  |a| * 10^(t+4) + |b|) / (2 * |b|))`` over ``10^(s+4)``, NULL when b is 0.
  (SQLite 3.40 rounded the float ``62.61 / 32`` up to 1.956563, as MySQL
  does, newer ones down to 1.956562: the float is just below the tie.)

An argument holding a parameter is left to the float forms (a parameter is
bound once, and these read the argument several times).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from generator.sql.types import KEY, SqlType, sql_type

AVG = (
    "CASE WHEN COUNT(__x) = 0 THEN NULL ELSE (CASE WHEN SUM({u}) < 0 THEN -1 ELSE 1 END)"
    " * ((ABS(CAST(SUM({u}) AS INTEGER)) / COUNT(__x)) * 10000"
    " + (2 * (ABS(CAST(SUM({u}) AS INTEGER)) % COUNT(__x)) * 10000 + COUNT(__x)) / (2 * COUNT(__x))) / {whole} END"
)
ROUND = "(CASE WHEN {m} < 0 THEN -1 ELSE 1 END) * ((2 * ABS({m}) + {step}) / (2 * {step})) / {whole}"
DIV = (
    "CASE WHEN {b} = 0 THEN NULL ELSE (CASE WHEN ({a} < 0) <> ({b} < 0) THEN -1 ELSE 1 END) * ((2 * ABS({a}) * {p} + ABS({b})) / (2 * ABS({b}))) / {whole} END"
)


def _units(scale: int) -> str:
    """``__x`` in whole units of its last digit, exactly."""
    return f"ROUND(__x * {10**scale})" if scale else "__x"


def _fill(template: str, x: exp.Expr, t: SqlType, y: exp.Expr | None = None) -> exp.Expr:
    tree = sqlglot.parse_one(template, read="sqlite")
    given = {"__x": x, "__y": y}
    filled = tree.transform(lambda n: given[n.name].copy() if isinstance(n, exp.Column) and given.get(n.name) is not None and not n.table else n)  # type: ignore[union-attr]
    filled = exp.paren(filled, copy=False) if isinstance(filled, exp.Binary) else filled
    filled.meta[KEY] = t
    return filled


def exact_avg(node: exp.Expr) -> exp.Expr:
    """AVG of an int or decimal: MySQL's s + 4 digits, rounded half up (typed a decimal of that scale, for the rewrites after)."""
    if not isinstance(node, exp.Avg) or isinstance(node.parent, exp.Window) or node.this.find(exp.Placeholder):
        return node
    arg = sql_type(node.this)
    if arg.py not in ("int", "decimal", "bool"):
        return node
    scale = arg.scale or 0
    template = AVG.format(u=_units(scale), whole=f"{10 ** (scale + 4)}.0")
    return _fill(template, node.this, SqlType("decimal", True, scale + 4))


def exact_round(node: exp.Expr) -> exp.Expr:
    """ROUND(x, k) of a decimal of scale s > k, rounded half up as MySQL does."""
    if not isinstance(node, exp.Round) or node.this.find(exp.Placeholder):
        return node
    digits, arg = node.args.get("decimals"), sql_type(node.this)
    k = int(digits.name) if isinstance(digits, exp.Literal) and digits.is_int else 0 if digits is None else None
    if arg.py != "decimal" or k is None or k < 0 or (arg.scale or 0) <= k:
        return node
    scale = arg.scale or 0
    template = ROUND.format(m=f"CAST(ROUND(__x * {10**scale}) AS INTEGER)", step=10 ** (scale - k), whole=f"{10**k}.0")
    return _fill(template, node.this, sql_type(node))


def exact_div(node: exp.Expr) -> exp.Expr:
    """``x / y`` with a decimal dividend: MySQL's s + 4 digits of the exact quotient, rounded half up."""
    if not isinstance(node, exp.Div) or node.find(exp.Placeholder) or sql_type(node).py != "decimal":
        return node
    left, right = sql_type(node.left), sql_type(node.right)
    if left.py != "decimal" or right.py not in ("int", "decimal", "bool"):
        return node
    s, t = left.scale or 0, right.scale or 0
    if isinstance(node.right, exp.Literal) and node.right.is_int and int(node.right.name) > 0:  # x / 32: the units by a positive number
        return _fill(ROUND.format(m=f"CAST({_units(s)} AS INTEGER) * 10000", step=node.right.name, whole=f"{10 ** (s + 4)}.0"), node.left, sql_type(node))
    a, b = f"CAST({_units(s)} AS INTEGER)", f"CAST({_units(t).replace('__x', '__y')} AS INTEGER)"
    return _fill(DIV.format(a=a, b=b, p=10 ** (t + 4), whole=f"{10 ** (s + 4)}.0"), node.left, sql_type(node), node.right)
