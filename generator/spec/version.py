"""What of a spec its key version covers: everything that changes what an entry holds or how it is found.

Every key carries a version (``fg:<ns>:<name>:<version>:...``), a hash of the
normalised SQL, the typed result columns, and ``entry_shape(spec)`` below
(sql/compile.py ``version_of``). Entries written by one build are so never
read by a build that would mean something else by them: other parameters,
``returns``, key template, tags (entries are registered under them), triggers
(what drops, moves or keeps them), store kind and the kind's options (a
bitmap's seat letters map labels to bits; a zset's member and score; the
table a maintained set follows).

The rule is written the other way round, so that a field added to the
format changes the version until it is shown not to: every field of the spec
is covered save those NEUTRAL names (each with its reason), positions
(``Span``), and the options a store kind names in ``version_neutral``. A value
of a type this module does not know is an error, not silently left out.

>>> from generator.sql.testing import make_spec
>>> a = make_spec("SELECT 1 AS one", {"x": "int"})
>>> entry_shape(a) == entry_shape(make_spec("SELECT 1 AS one", {"x": "int"}, tags=["t:{x}"]))
False
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from generator.diagnostics import Span
from generator.model import CacheSpec, Param, Spec, StoreOptions, Template
from generator.stores import kind_of

# Fields that do not change what an entry holds or how it is found, per class, with the reason.
NEUTRAL: dict[type, dict[str, str]] = {
    Spec: {
        "path": "where the spec's file is",
        "name": "the key's prefix holds it already (fg:<ns>:<name>:)",
        "summary": "the module's docstring",
        "sql": "its normalised form is the version's first part, which ignores layout and comments",
        "dialect": "the SQL is normalised from the dialect it is written in, so its normal form covers it",
        "sql_indent": "the SQL's layout in the file",
        "columns": "the typed result columns, the version's second part, hold what the overrides change",
        "examples": "inputs of the generated tests, demo and verify",
        "source": "the file's text",
        "collation": "sql/compile.py adds it to the version when it is set (and so changes what PostgreSQL and SQLite return)",
    },
    CacheSpec: {
        "ttl": "how long an entry lives, not what it holds",
        "jitter": "the spread of when entries expire, not what they hold",
        "negative_ttl": "how long an empty result lives, not what it holds",
        "stampede": "how a miss is filled: every mode stores the same entry",
        "replica_reads": "which server a hit is read from, and how long an entry lives, not what it holds",
    },
    Param: {"pattern": "which values may be asked for: an entry for a value both patterns allow is the same"},
    Template: {"text": "its parts are covered: `{ origin }` and `{origin}` are one template"},
}


def entry_shape(spec: Spec) -> str:
    """The spec's fields that shape its entries, as canonical text for the version's hash."""
    neutral = kind_of(spec.cache.store).version_neutral if spec.cache is not None else {}
    return json.dumps(_shape(spec, neutral), sort_keys=True, ensure_ascii=True)


def _shape(value: object, options_neutral: Mapping[str, str]) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_shape(item, options_neutral) for item in value if not isinstance(item, Span)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        neutral = options_neutral if isinstance(value, StoreOptions) else NEUTRAL.get(type(value), {})
        return {
            f.name: _shape(getattr(value, f.name), options_neutral)
            for f in dataclasses.fields(value)
            if f.name not in neutral and not isinstance(getattr(value, f.name), Span)
        }
    raise TypeError(f"{type(value).__name__} is not known to the key version; say in generator/spec/version.py whether it changes entries")
