"""The names a spec gives to generated Python, and the one rule each must follow.

A spec names a module (its ``name``), keyword parameters (its ``params``;
a zset's or bitmap's member, which ``rank()``, ``score()`` and ``contains()``
take), and fields of the row class (its result columns). Whatever the build
accepts must import, type-check and run, so each name must be:

- a Python identifier that Python reads as written: Python folds identifiers
  to their NFKC form (``class`` in fullwidth letters is the keyword, and
  ``file`` with the ligature U+FB01 is ``file``), so a name must already be in that form, which also
  keeps two names from being one to Python;
- not a keyword, and not begun with two underscores (``__init__`` would be
  Python's own; ``__x`` is renamed inside a class);
- not ``l``, ``O`` or ``I`` (but as a module's name): linters refuse them in the
  generated code (E741), as they read as 1 and 0 in many fonts;
- not a name the generated code binds where the spec's name would meet it
  (RESERVED by role, below).

The spec stage (params, names), the SQL stage (result columns) and the store
kinds (members) refuse a name where it is written (FG020, FG065, FG095,
FG102); render.py checks again before it puts a name into code.

>>> name_problem("\\uff43\\uff4c\\uff41\\uff53\\uff53", "column")  # class, fullwidth
"is read by Python as 'class' (its NFKC form); write that"
>>> name_problem("__init__", "column")
'begins with two underscores, which Python keeps for its own names (and renames inside a class)'
>>> name_problem("l", "column")
"reads as 1 or 0 in many fonts, and linters refuse it as a name (pycodestyle's E741); choose a longer one"
>>> name_problem("airport_code", "parameter") is None
True
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from typing import Literal

Role = Literal["spec", "parameter", "column", "member"]

# Spec and parameter names are lower-case ASCII: a spec's name is a file name, a parameter's a keyword in every caller's code.
LOWER = re.compile(r"[a-z_][a-z0-9_]*\Z")

# Names of the generated package's own files and of every accessor's functions; a spec or a parameter may not take them.
GENERATED_NAMES = frozenset({"runtime", "tests", "conftest", "key", "fetch", "invalidate", "invalidate_all", "query"})

# The keywords every generated read takes after its parameters (fetch(..., refresh=True, cache=False)).
READ_KEYWORDS = frozenset({"refresh", "cache"})

# Keys the runtime keeps under ``fg:<ns>:`` beside the specs' ``fg:<ns>:<name>:``. A spec of such a name would
# share keys with them (``fg:<ns>:stats:gen``, a spec's generation, is also the counters of a spec named ``gen``)
# and fail with WRONGTYPE. tests/generator/test_names.py checks the list against the runtime's source.
VALKEY_NAMESPACES = frozenset(
    {
        "seq",  # fg:<ns>:seq:{<bucket>}, a bucket's tag-invalidation sequence
        "tagseq",  # fg:<ns>:tagseq:{<bucket>}:<tag>
        "tag",  # fg:<ns>:tag:{<bucket>}:<tag>, a tag's set of entries in a bucket
        "stats",  # fg:<ns>:stats:<name>, the shared counters of `flughafen-gen stats`
        "writes",  # fg:<ns>:writes:<name>, the queues of write: behind
        "gen",  # fg:<ns>:<name>:gen:{<bucket>}, each spec's generation: fg:<ns>:stats:gen would be both
    }
)

# Names a generated function binds in its body besides its parameters (a typed result); a parameter may not shadow them.
LOCALS = frozenset({"value"})

# The types generated annotations name, in the row class and in function bodies: a field or a parameter of
# that name would hide the type from the annotations after it (render.ANNOTATION; test_names.py checks).
TYPE_NAMES = frozenset({"int", "str", "float", "bool", "datetime"})

# Names pycodestyle (E741) and ruff refuse as variables, arguments and class fields: in many fonts l is 1, O is 0, I is l.
AMBIGUOUS = frozenset({"l", "O", "I"})
RESERVED: dict[Role, frozenset[str]] = {
    "spec": GENERATED_NAMES | VALKEY_NAMESPACES,
    "parameter": GENERATED_NAMES | READ_KEYWORDS | LOCALS | TYPE_NAMES,
    "column": TYPE_NAMES,
    "member": GENERATED_NAMES | READ_KEYWORDS | LOCALS | TYPE_NAMES,
}
WHY: dict[Role, str] = {
    "spec": "a name of the generated package, its functions, or the runtime's keys in Valkey",
    "parameter": "a name the generated functions use themselves",
    "column": "a type the row class names",
    "member": "a name the generated functions or the row class use themselves",
}


def name_problem(name: str, role: Role) -> str | None:
    """Why ``name`` cannot name a ``role`` in generated code (a phrase: "is a Python keyword"), or None."""
    normal = unicodedata.normalize("NFKC", name)
    if not name.isidentifier():
        return "is not a Python identifier"
    if normal != name:
        return f"is read by Python as {normal!r} (its NFKC form); write that"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name.startswith("__"):
        return "begins with two underscores, which Python keeps for its own names (and renames inside a class)"
    if name in AMBIGUOUS and role != "spec":
        return "reads as 1 or 0 in many fonts, and linters refuse it as a name (pycodestyle's E741); choose a longer one"
    if role in ("spec", "parameter") and not LOWER.match(name):
        return "is not lower-case ASCII (letters a-z, digits and _)"
    if name in RESERVED[role]:
        return f"is {WHY[role]} (reserved: {', '.join(sorted(RESERVED[role]))})"
    return None
