"""How a project's text compares: ``collation = "mariadb"`` in ``[tool.flughafen]``.

MariaDB's default collation (utf8mb4_unicode_ci, or the general_ci and
uca1400 ones of newer servers) ignores case in ``=``, ``<>``, IN and LIKE;
PostgreSQL's and SQLite's do not. By default the build refuses a text
comparison whose outcome depends on it (``sql.portable.text_comparisons``).
With ``collation = "mariadb"`` it holds such a comparison for PostgreSQL and
SQLite in a form that ignores case as MariaDB does instead:

- PostgreSQL: ``LOWER(a) = LOWER(b)`` (IN: ``LOWER(a) IN (LOWER(x), ...)``,
  a subquery's selected value lowered too); an index on ``LOWER(col)``
  serves it;
- SQLite: ``a COLLATE NOCASE = b`` (IN: ``a COLLATE NOCASE IN (...)``, which
  also applies to a subquery's values); an index on a column declared
  ``COLLATE NOCASE`` serves it.

LIKE is case-insensitive on the three databases in either setting (ILIKE on
PostgreSQL). Comparisons that already build (an upper-case literal, a
parameter whose pattern admits no lower-case letter, two columns linked by a
foreign key) are left as written, so their indexes keep serving them.

Neither setting folds accents: MariaDB's collation makes ``'Köln'`` equal to
``'Koln'`` and ``'KÖLN'``, SQLite's NOCASE and LIKE fold ASCII letters only.
A literal with a letter beyond ASCII is refused in any comparison, and with
``collation = "mariadb"`` a parameter compared with text needs a pattern that
admits ASCII characters only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sqlglot import exp

from flughafen.config import ConfigError, find_project_dir, read_table
from generator.model import Dialect
from generator.sql.text_columns import compared_value
from generator.sql.types import KEY, SqlType

MARIADB = "mariadb"
MODES = (MARIADB,)
FOLD = "fg_fold_case"  # meta key: the comparison ignores case on every database
HINT = 'or set collation = "mariadb" in [tool.flughafen] to compare text case-insensitively on every database, as MariaDB does'


def project_collation(specs_dir: Path) -> str | None:
    """The ``collation`` setting of the project holding ``specs_dir`` (None: unset); ConfigError for another value."""
    where, table = read_table(find_project_dir(specs_dir))
    value = table.get("collation")
    if value is None or value in MODES:
        return value
    raise ConfigError(f'{where}: collation = {value!r} is not known; write collation = "mariadb" (text compared case-insensitively), or leave it out')


def non_ascii_letters(text: str) -> str:
    """The letters of ``text`` beyond ASCII, in order (``'öü'`` for ``'Göttingen Süd'``)."""
    return "".join(c for c in text if c.isalpha() and not c.isascii())


def ascii_pattern(pattern: str | None) -> bool:
    """True when no string ``pattern`` matches holds a character beyond ASCII (a cautious guess).

    >>> ascii_pattern("^[A-Za-z .'-]{1,50}$"), ascii_pattern("^.{1,50}$"), ascii_pattern(r"^\\w+$"), ascii_pattern("^[^0-9]+$"), ascii_pattern(None)
    (True, False, False, False, False)
    >>> ascii_pattern(r"^[A-Z]\\.[a-z]+$"), ascii_pattern("^[A-Z]+(.[A-Z]+)?$")
    (True, False)
    """
    if pattern is None or not pattern.isascii():
        return False
    unescaped = re.sub(r"\\\\", "", pattern)
    if re.search(r"\\[wWsSdDbBpPuUxN]|\[\^", unescaped):
        return False
    outside = re.sub(r"\[(?:\\.|[^\]])*\]", "", unescaped)  # a class's "." is a dot
    return not re.search(r"(?<!\\)\.", outside)


def fold_case(dialect: Dialect) -> Callable[[exp.Expr], exp.Expr]:
    """The comparisons ``sql.portable`` marked with FOLD, written to ignore case on ``dialect``."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if not node.meta.get(FOLD):
            return node
        if dialect == "sqlite":
            node.set("this", _typed(exp.Collate(this=_atom(node.this), expression=exp.Var(this="NOCASE"))))
            return node
        node.set("this", _lower(node.this))
        if isinstance(node, exp.In):
            node.set("expressions", [_lower(v) for v in node.expressions])
            query = node.args.get("query")
            if query is not None:
                _lower(query)
        else:
            node.set("expression", _lower(node.expression))
        return node

    return rewrite


def _lower(side: exp.Expr) -> exp.Expr:
    """``LOWER(side)``; for a subquery, its selected value lowered (in place)."""
    value = compared_value(side)
    if isinstance(side, exp.Literal) and side.is_string:
        return _typed(exp.Literal.string(side.name.lower()))  # ASCII: a literal beyond it is refused
    if value is side:
        return _typed(exp.Lower(this=side))
    alias = value.parent
    if isinstance(alias, exp.Alias):
        alias.set("this", _typed(exp.Lower(this=value.copy())))
    else:
        value.replace(_typed(exp.Lower(this=value.copy())))
    return side


def _atom(node: exp.Expr) -> exp.Expr:
    return node if isinstance(node, (exp.Column, exp.Func, exp.Paren, exp.Literal, exp.Placeholder)) else exp.paren(node, copy=False)


def _typed(node: exp.Expr) -> exp.Expr:
    node.meta[KEY] = SqlType("str", True)
    return node
