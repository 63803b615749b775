"""Cache keys and tags: typed values -> strings that never collide, and the name of every key.

Every value is written as text for its type, then every character outside
``[A-Za-z0-9._-]`` is percent-encoded (``:`` ``{`` ``*`` space, newline, NUL,
``%`` itself, non-ASCII as UTF-8). The generator makes sure two fields of a
template are separated by a literal holding a character outside that set, so
a key can be read back into its values: different parameters, different keys.
A key longer than MAX_KEY_LENGTH keeps its readable prefix and replaces the
rest by ``#`` and a SHA-256 digest; ``#`` never appears in an encoded value.

>>> encode_value("JFK"), encode_value("a:b c"), encode_value(datetime.date(2024, 12, 15))
('JFK', 'a%3Ab%20c', '2024-12-15')
>>> encode_value(None), encode_value(True), encode_value(Decimal("12.50"))
('~', 'true', '12.5')

Values that compare equal and reach the database as the same value get one
text: ``Decimal("1.0")`` and ``Decimal("1.00")`` are ``1``, ``-0.0`` is ``0.0``.
Values that compare equal but do not (``time(0, tzinfo=UTC)`` and
``time(5, tzinfo=+05:00)``) keep their offsets, so their keys differ.

The layout (every key the runtime writes, for one Valkey server): an entry is
``fg:<name>:<version>:<key body>``, beside it ``<entry>:stale`` (the
stale_if_error copy) and, for zset and bitmap entries, ``<entry>:meta``.
``fg:~lock:<entry>`` is its stampede lock or lease, outside ``fg:<name>:`` so
that near caches tracking that prefix get no message for it.
``fg:<name>:gen`` is a query's generation, ``fg:seq`` the sequence every
invalidation moves, ``fg:tag:<tag>`` a tag's set of entries and
``fg:tagseq:<tag>`` its marker (the sequence of its last invalidation).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Union
from urllib.parse import quote

MAX_KEY_LENGTH = 250
PREFIX = "fg"


class RowField:
    """A template field filled from a row's column (result row or written row)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"row_field({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowField) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("row_field", self.name))


def row_field(name: str) -> RowField:
    return RowField(name)


TemplatePart = Union[str, int, RowField]
Template = tuple[TemplatePart, ...]


_PLAIN = re.compile(r"[A-Za-z0-9._-]*\Z")


def encode_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        if _PLAIN.match(value):
            return value  # type: ignore[no-any-return]
    elif kind is int:
        return str(value)
    elif kind is datetime.date:
        return value.isoformat()  # type: ignore[no-any-return]
    if value is None:
        return "~"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        text = value
    elif isinstance(value, Decimal):
        text = "0" if value.is_zero() else format(value.normalize(), "f")
    elif isinstance(value, float):
        text = repr(value + 0.0)  # -0.0 + 0.0 is 0.0: equal values, one key
    elif isinstance(value, datetime.datetime):
        text = value.isoformat()
    elif isinstance(value, (datetime.date, datetime.time, int)):
        text = value.isoformat() if not isinstance(value, int) else str(value)
    else:
        text = str(value)
    return quote(text, safe="-._~", encoding="utf-8", errors="surrogatepass").replace("~", "%7E")


def fill(template: Template, args: tuple[Any, ...], row: Any = None) -> str:
    out: list[str] = []
    for part in template:
        if type(part) is str:
            out.append(part)
        elif type(part) is int:
            out.append(encode_value(args[part]))
        else:
            assert isinstance(part, RowField)
            out.append(encode_value(getattr(row, part.name)))
    return "".join(out)


def filler(template: Template) -> Callable[[tuple[Any, ...], Any], str]:
    """``fill`` for one template, its parts sorted out once (key and tag templates are filled on every miss).

    >>> from types import SimpleNamespace
    >>> filler(("flight:", row_field("flight_id")))((), SimpleNamespace(flight_id=671)), filler(("route:", 0, ":", 1))(("JFK", "LAX"), None)
    ('flight:671', 'route:JFK:LAX')
    """
    if all(type(p) is str for p in template):
        text = "".join(p for p in template if isinstance(p, str))
        return lambda args, row: text
    if len(template) == 2 and type(template[0]) is str:
        head, part = template[0], template[1]
        if type(part) is int:
            return lambda args, row: head + encode_value(args[part])
        name = part.name if isinstance(part, RowField) else ""
        return lambda args, row: head + encode_value(getattr(row, name))
    return lambda args, row: fill(template, args, row)


def bounded(prefix: str, body: str) -> str:
    key = prefix + body
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return prefix + "#" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def entry_prefix(name: str, version: str) -> str:
    return f"{PREFIX}:{name}:{version}:"


def tag_key(tag: str) -> str:
    return bounded(f"{PREFIX}:tag:", tag)


def generation_key(name: str) -> str:
    return f"{PREFIX}:{name}:gen"


SEQUENCE_KEY = f"{PREFIX}:seq"  # moved by every tag invalidation (and hash refresh tickets)
LOCK_PREFIX = f"{PREFIX}:~lock:"


def lock_key(key: str) -> str:
    """The stampede lock (or lease) of an entry.

    >>> lock_key("fg:airport_by_iata:0a1b2c3d4e5f:airport:JFK")
    'fg:~lock:fg:airport_by_iata:0a1b2c3d4e5f:airport:JFK'
    """
    return LOCK_PREFIX + key


def stale_key(key: str) -> str:
    """Where stale_if_error keeps the last value stored for an entry."""
    return key + ":stale"


def tag_marker_key(tag: str) -> str:
    return bounded(f"{PREFIX}:tagseq:", tag)
