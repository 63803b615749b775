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

The layout (every key the runtime writes, for one Valkey server). Every key is
in a namespace, ``fg:<ns>:``: by default a digest of the database the runtime
reads (dialect, host, port, database name or resolved file path; no user,
password or option), so that two databases never share entries on one Valkey;
or ``cache_namespace`` from the configuration, to share a cache on purpose.
An entry is ``fg:<ns>:<name>:<version>:<key body>``, beside it
``<entry>:stale`` (the stale_if_error copy) and, for zset and bitmap entries,
``<entry>:meta``. ``fg:~lock:<entry>`` is its stampede lock or lease (in the
entry's namespace through the entry's key), outside ``fg:<ns>:<name>:`` so that
near caches tracking that prefix get no message for it. ``fg:<ns>:stats:<name>``
is a query's shared counters, ``fg:<ns>:writes:<name>`` a write-behind queue.
Key names are made here and nowhere else (Keyspace).

Entries live in buckets, so that every script and every multi-key command
touches one hash slot of a Valkey Cluster. A bucket is a hash tag,
``{<count>.<number>}`` (``{16.3}``: bucket 3 of 16); the count is part of every
key, so changing it starts a cold cache, never a wrong one. The bucket follows
the entry's prefix: ``fg:<ns>:<name>:<version>:{16.3}:<key body>``, the CRC-32 of
the key's field values modulo the count (``placement``: entries of any query for
the same values share a bucket); its stale copy, meta and lock carry the same
tag. Per bucket: ``fg:<ns>:<name>:gen:{<bucket>}``, a query's generation (all of
a query's buckets move together: ``fg:<ns>:<name>:gen`` names them),
``fg:<ns>:seq:{<bucket>}``, the sequence every invalidation moves,
``fg:<ns>:tag:{<bucket>}:<tag>``, a tag's set of entries, and
``fg:<ns>:tagseq:{<bucket>}:<tag>``, its marker (the sequence of its last
invalidation).
"""

from __future__ import annotations

import datetime
import hashlib
import re
import threading
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

MAX_KEY_LENGTH = 250
PREFIX = "fg"
DEFAULT_BUCKETS = 16  # see README "Valkey Cluster": the hit costs the same; a tag invalidation one script per bucket
_buckets: list[int] = []  # the process's bucket count, once keys were built (see use_buckets)
_TAGS: list[str] = []


class BucketCountError(ValueError):
    """A bucket count that cannot be used (not 1 to 16384, or not the process's)."""


def use_buckets(count: int) -> None:
    """Sets the process's bucket count (a runtime's ``cache_buckets``), before any key is built.

    Every key holds the count, and accessors remember their keys: one process uses one count.
    """
    if not 1 <= count <= 16384:
        raise BucketCountError(f"cache_buckets is {count}; it must be from 1 to 16384")
    if _buckets and _buckets[0] != count:
        raise BucketCountError(f"cache_buckets is {count}, but this process already uses {_buckets[0]}: one process uses one bucket count")
    if not _buckets:
        _buckets.append(count)
        _TAGS.extend(f"{{{count}.{b}}}" for b in range(count))


def buckets() -> list[str]:
    """Every bucket's hash tag, ``{<count>.<number>}`` (the count fixed at first use: use_buckets)."""
    if not _buckets:
        use_buckets(DEFAULT_BUCKETS)
    return _TAGS


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


TemplatePart = str | int | RowField
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


def entry_key(prefix: str, body: str, place: str | None = None) -> str:
    """An entry's key: its prefix (``Keyspace.entry_prefix``), its bucket, its body (bounded in length).

    The bucket is the CRC-32 of ``place`` (``placement``: the key's field values), or of
    the body when the key has no field, modulo the bucket count.

    >>> use_buckets(16); entry_key("fg:shop:airport_by_iata:0a1b2c3d4e5f:", "airport:JFK", "JFK")
    'fg:shop:airport_by_iata:0a1b2c3d4e5f:{16.15}:airport:JFK'
    """
    tags = _TAGS or buckets()
    key = bounded(prefix, body)
    tag = tags[zlib.crc32((body if place is None else place).encode("utf-8", "surrogatepass")) % len(tags)]
    return prefix + tag + ":" + key[len(prefix) :]


def placement(template: Template) -> Callable[[tuple[Any, ...], Any], str | None]:
    """What places a key's entry in a bucket: its field values, in order (None for a key without fields).

    Entries of different queries for the same values share a bucket (a bitmap set and the
    counters a write keeps with it: one script updates them together).

    >>> placement(("flight:", 0, ":seats"))((1001,), None) == placement(("flight:", 0, ":seatmap"))((1001,), None)
    True
    """
    fields = tuple(p for p in template if type(p) is not str)
    if not fields:
        return lambda args, row: None
    if len(fields) == 1 and type(fields[0]) is int:
        index = fields[0]
        return lambda args, row: encode_value(args[index])
    return lambda args, row: "\x00".join(encode_value(args[p]) if type(p) is int else encode_value(getattr(row, p.name)) for p in fields)  # type: ignore[union-attr]


def bucket_of(key: str) -> str:
    """The bucket (hash tag, braces included) of any key the runtime builds for an entry.

    >>> bucket_of("fg:~lock:fg:shop:a:0a1b:{16.9}:airport:JFK")
    '{16.9}'
    """
    start = key.index("{")
    return key[start : key.index("}", start) + 1]


def generation_in(generation: str, bucket: str) -> str:
    """A query's generation in one bucket.

    >>> generation_in("fg:shop:airport_by_iata:gen", "{16.9}")
    'fg:shop:airport_by_iata:gen:{16.9}'
    """
    return generation + ":" + bucket


LOCK_PREFIX = f"{PREFIX}:~lock:"
NAMESPACE = re.compile(r"[A-Za-z0-9._-]{1,32}\Z")
NAMESPACE_RULE = "1 to 32 letters, digits, '.', '_' or '-' (no spaces, ':', '{' or '}')"
TAG_MEMO_SIZE = 10_000


def lock_key(key: str) -> str:
    """The stampede lock (or lease) of an entry.

    >>> lock_key("fg:3f2a9c1d:airport_by_iata:0a1b2c3d4e5f:{16.9}:airport:JFK")
    'fg:~lock:fg:3f2a9c1d:airport_by_iata:0a1b2c3d4e5f:{16.9}:airport:JFK'
    """
    return LOCK_PREFIX + key


def stale_key(key: str) -> str:
    """Where stale_if_error keeps the last value stored for an entry."""
    return key + ":stale"


class Keyspace:
    """Every key name of one namespace (``fg:<namespace>:``); one object per namespace (``keyspace``).

    >>> ks = keyspace("shop")
    >>> ks.entry_prefix("airport_by_iata", "6849c7ce82a3"), ks.generation_key("airport_by_iata"), ks.sequence_in("{16.3}")
    ('fg:shop:airport_by_iata:6849c7ce82a3:', 'fg:shop:airport_by_iata:gen', 'fg:shop:seq:{16.3}')
    >>> ks.tag_keys("flight:671", "{16.3}"), ks.stats_key("flight_search"), ks.stream_key("reprice_booking")
    (('fg:shop:tag:{16.3}:flight:671', 'fg:shop:tagseq:{16.3}:flight:671'), 'fg:shop:stats:flight_search', 'fg:shop:writes:reprice_booking')
    >>> ks.query_of("fg:shop:airport_by_iata:gen"), ks.query_of("fg:shop:seq")
    ('airport_by_iata', '')
    """

    __slots__ = ("_tags", "dead_counts", "dead_prefix", "namespace", "root", "sequence", "stats_prefix", "stream_prefix")

    def __init__(self, namespace: str):
        if not NAMESPACE.match(namespace):
            raise ValueError(f"cache namespace {namespace!r}: use {NAMESPACE_RULE}")
        self.namespace = namespace
        self.root = f"{PREFIX}:{namespace}:"
        self.sequence = self.root + "seq:"  # and a bucket: moved by every tag invalidation there (and hash refresh tickets)
        self.stats_prefix = self.root + "stats:"
        self.stream_prefix = self.root + "writes:"
        self.dead_prefix = self.stream_prefix + "~dead:"
        self.dead_counts = self.stream_prefix + "~dead-count"
        self._tags: dict[tuple[str, str], tuple[str, str]] = {}  # (tag, bucket) -> its set and marker: hot tags recur on every miss

    def __repr__(self) -> str:
        return f"keyspace({self.namespace!r})"

    def query_prefix(self, name: str) -> str:
        """What every key of a query starts with (entries, stale copies, its generation): near caches track it."""
        return f"{self.root}{name}:"

    def entry_prefix(self, name: str, version: str) -> str:
        return f"{self.root}{name}:{version}:"

    def generation_key(self, name: str) -> str:
        """A query's generation: the name of its per-bucket keys (``generation_in``), and what invalidate_all moves."""
        return f"{self.root}{name}:gen"

    def sequence_in(self, bucket: str) -> str:
        """A bucket's sequence."""
        return self.sequence + bucket

    def tag_key(self, tag: str, bucket: str) -> str:
        """A tag's set of entries in one bucket."""
        return bounded(self.root + "tag:" + bucket + ":", tag)

    def tag_marker_key(self, tag: str, bucket: str) -> str:
        """A tag's marker in one bucket: the sequence of its last invalidation there."""
        return bounded(self.root + "tagseq:" + bucket + ":", tag)

    def tag_keys(self, tag: str, bucket: str) -> tuple[str, str]:
        """(the tag's set, its marker) in one bucket, remembered."""
        keys = self._tags.get((tag, bucket))
        if keys is None:
            if len(self._tags) >= TAG_MEMO_SIZE:
                self._tags.clear()
            keys = self._tags[tag, bucket] = (self.tag_key(tag, bucket), self.tag_marker_key(tag, bucket))
        return keys

    def stats_key(self, name: str) -> str:
        return self.stats_prefix + name

    def stream_key(self, name: str) -> str:
        return self.stream_prefix + name

    def dead_key(self, name: str) -> str:
        return self.dead_prefix + name

    def query_of(self, key: str) -> str:
        """The query name in a key of this namespace (``fg:<ns>:<name>:...``), else ''."""
        if not key.startswith(self.root):
            return ""
        name, sep, _ = key[len(self.root) :].partition(":")
        return name if sep else ""


_SPACES: dict[str, Keyspace] = {}
_SPACES_LOCK = threading.Lock()


def keyspace(namespace: str) -> Keyspace:
    """The Keyspace of ``namespace``: one object per namespace, so what is remembered per keyspace is shared."""
    space = _SPACES.get(namespace)
    if space is None:
        with _SPACES_LOCK:
            space = _SPACES.get(namespace)
            if space is None:
                space = _SPACES[namespace] = Keyspace(namespace)
    return space


def database_namespace(identity: str) -> str:
    """The namespace of a database, from its identity (config.DatabaseUrl.identity): a digest prefix.

    >>> database_namespace("postgres://127.0.0.1:5432/flughafen")
    '34e609a4'
    """
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:8]
