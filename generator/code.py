"""Pieces of generated Python: ``Code``, and the only ways a value from a spec becomes one.

A spec, the schema and the specs' file names are untrusted text. Nothing of
them is put into a generated module as it is: a value becomes a literal
(``literal``: repr()), a name (``name``: one that names.name_problem
accepts), or docstring text (``doc``); expressions are made of such parts
(``py_tuple``). render.py refuses any other str in a template's ``{{ }}``.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

from generator.names import Role, name_problem


class Code(str):
    """Python source the build wrote: a literal made by repr(), a checked name, or an expression of such parts."""

    __slots__ = ()


class UnescapedText(TypeError):
    """A template put a value into generated code without saying how to write it (a bug of the template, not of the spec)."""


# What repr() writes as a literal that evaluates back to the value (dates and decimals need the module's imports).
_LITERAL_TYPES = (str, int, float, bool, type(None), Decimal, datetime.date, datetime.time, datetime.timedelta)


def literal(value: object) -> Code:
    """``value`` as a Python literal: repr() of a str, number, date or decimal, or of a tuple, list or dict of them (``|py``)."""
    _check_literal(value)
    return Code(_literal_text(value))


def _literal_text(value: object) -> str:
    """repr(), but a whole decimal as ``Decimal(2)``: the form linters ask for (ruff's FURB157), the same value.

    >>> _literal_text((Decimal("2"), Decimal("-0"), Decimal("1.50"), {"a": [Decimal("10")]}))
    "(Decimal(2), Decimal('-0'), Decimal('1.50'), {'a': [Decimal(10)]})"
    >>> _literal_text((Decimal("3"),))
    '(Decimal(3),)'
    """
    if isinstance(value, Decimal) and re.fullmatch(r"-?[0-9]+", str(value)) and str(value) != "-0":
        return f"Decimal({value})"
    if isinstance(value, tuple):
        items = [_literal_text(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal_text(k)}: {_literal_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _check_literal(value: object) -> None:
    if isinstance(value, (tuple, list)):
        for item in value:
            _check_literal(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_literal(k)
            _check_literal(v)
    elif not isinstance(value, _LITERAL_TYPES) or (isinstance(value, float) and not math.isfinite(value)):
        raise UnescapedText(f"{value!r} has no literal that reads back as it; give the template a Code for it")


def name(text: str, role: Role) -> Code:
    """A name from a spec as code: the stages refused every name ``name_problem`` finds fault with; this is the last check."""
    problem = name_problem(text, role)
    if problem is not None:
        raise UnescapedText(f"the {role} name {text!r} {problem}, and would have been put into code")
    return Code(text)


# Characters that end or break a line, or do not print: in a docstring they become a space.
_NOT_IN_A_LINE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def doc(value: object) -> Code:
    r"""Text for inside a triple-quoted docstring (``|doc``): one line, backslashes and quotes escaped.

    Control, format and line-separator characters become spaces, and runs of
    spaces one, so the text can end neither the string nor the line:

    >>> print(doc("say " + chr(34) * 3 + r" and \N{"))
    say \"\"\" and \\N{
    >>> doc("two\u2028lines\r\n  and a\x00tab\t")
    'two lines and a tab'
    """
    text = "".join(" " if unicodedata.category(ch) in _NOT_IN_A_LINE else ch for ch in str(value))
    return Code(" ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"'))


def py_tuple(items: Sequence[Code]) -> Code:
    """Python source of a tuple of these item sources.

    >>> py_tuple([]), py_tuple([Code("1")]), py_tuple([Code("1"), Code("2")])
    ('()', '(1,)', '(1, 2)')
    """
    if not items:
        return Code("()")
    return Code("(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")")


def keywords(items: Sequence[Code], runtime: bool = False) -> Code:
    """A keyword-only parameter list, ``*, origin: str, runtime: Runtime | None = None``; empty without items or runtime."""
    tail = [Code("runtime: Runtime | None = None")] if runtime else []
    return Code(", ".join(["*", *items, *tail])) if items or tail else Code("")
