"""The spec format's fields and allowed values: one table for the validator and the JSON Schema.

Each table maps a field name to the values it allows (an empty tuple: any
value of the field's kind). ``DOCS`` describes each field for the schema.
"""

from __future__ import annotations

SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "name": (),
    "summary": (),
    "kind": ("read", "write"),
    "dialect": ("mysql", "postgres", "sqlite"),
    "params": (),
    "sql": (),
    "returns": ("one", "many", "scalar"),
    "columns": (),
    "cache": (),
    "invalidate": (),
    "write": ("through", "behind"),
    "examples": (),
    "lookup": (),
}

PARAM_FIELDS: dict[str, tuple[str, ...]] = {
    "type": ("str", "int", "float", "decimal", "bool", "date", "datetime", "time"),
    "pattern": (),
    "nullable": (),
}

CACHE_FIELDS: dict[str, tuple[str, ...]] = {
    "key": (),
    "ttl": (),
    "jitter": (),
    "tags": (),
    "store": ("json", "hash", "zset", "bitmap"),
    "stampede": ("lock", "early", "none"),
    "negative_ttl": (),
    "bitmap": (),
    "member": (),
    "score": (),
    "near": (),
    "near_size": (),
}

# `cache.bitmap:` of a `store: bitmap` spec, and its `maintain:` (flughafen/bitmap_store.py).
BITMAP_FIELDS: dict[str, tuple[str, ...]] = {"member": (), "seats": (), "maintain": ()}
MAINTAIN_FIELDS: dict[str, tuple[str, ...]] = {"table": (), "member_column": (), "param_columns": (), "counters": ()}

TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {"table": (), "tags": (), "all": (), "moves": ()}

# `moves:` of a trigger of a store: zset spec: the written row's column that names the member, and the step.
MOVE_FIELDS: dict[str, tuple[str, ...]] = {"column": (), "by": ()}

COLUMN_FIELDS: dict[str, tuple[str, ...]] = {"type": PARAM_FIELDS["type"], "nullable": ()}

# Names a spec or parameter may not take: they would shadow generated code.
RESERVED_NAMES = frozenset({"runtime", "tests", "conftest", "key", "fetch", "invalidate", "invalidate_all", "query"})

DOCS: dict[str, str] = {
    "name": "A lower-case Python identifier; the module is generated/<name>.py.",
    "summary": "One line: the module's docstring.",
    "kind": "read (default): a cached SELECT; write: INSERT/UPDATE/DELETE that fires triggers.",
    "dialect": "The dialect the SQL is written in (default mysql).",
    "params": "Ordered parameters: name -> type, or name -> {type, pattern, nullable}. Used as :name in SQL.",
    "sql": "One statement. Placeholders are :name.",
    "returns": "one (a row or None), many (a list, default) or scalar (one value).",
    "columns": "Overrides of inferred result column types: column -> type or {type, nullable}.",
    "invalidate": "Triggers: a write to table drops entries by tags ({column} of the written row) or all.",
    "write": "For kind: write: through (commit, then invalidate) or behind (queued on a Valkey stream).",
    "lookup": "For kind: write (UPDATE/DELETE): read the trigger columns of the touched rows before writing.",
    "examples": "Parameter sets used by the generated round-trip test, `demo` and `verify`.",
    "key": "Key template: literals and {param} fields, separated (e.g. flight:{origin}:{day}).",
    "ttl": "Seconds, or 30s / 5m / 1h / 1d (combinations like 1h30m too); at most a year.",
    "jitter": "Spread of expiry, 0% to 50% (e.g. 10%), so keys set together do not expire together.",
    "tags": "Tag templates: {param} or {row.column}; invalidating a tag drops every entry under it.",
    "cache": "How results are cached: key template, ttl, jitter, tags, store, stampede, negative_ttl, near, near_size (store: json); member and score for store: zset; bitmap for store: bitmap.",
    "store": "json (default): one string; hash: a returns: one row, a field per column; zset: a ranking (member, score); bitmap: a set of small integers or seat labels.",
    "member": "store: zset: the result column whose values are the ranking's members. In cache.bitmap: the result column whose values are the set's members, an int column (0 to 1048575), or str with seats.",
    "score": "store: zset: the result column (int or float) that orders the members.",
    "bitmap": "For store: bitmap: member (the result column), seats (a seat-letter alphabet), maintain.",
    "seats": "Members are seat labels: a row number (1, 2, ...) and one of these letters, e.g. ABCDEFGHIJK.",
    "maintain": "Writes that change the set in place: INSERT into table sets the written row's member, DELETE clears it.",
    "member_column": "The written table's column holding the member (default: the member's name).",
    "param_columns": "Key parameter -> the written table's column giving it (default: the parameter's own name).",
    "counters": "Read spec -> {int field: change per member added}; those entries move with the set.",
    "stampede": "lock (default): one caller fills a missing key; early: probabilistic early refresh; none.",
    "negative_ttl": "How long an empty result is cached (default: ttl).",
    "near": "Opt-in near cache: each process also keeps hot entries in memory, served without Valkey for at most this long (e.g. 30s, at most the ttl); Valkey's invalidation messages (CLIENT TRACKING) drop them as soon as they change.",
    "near_size": "With near: the most entries one process keeps for this spec (default 10000, at most 1000000); the least recently used go first.",
    "type": "str int float decimal bool date datetime time.",
    "pattern": "A regular expression a str parameter must match in full.",
    "nullable": "Whether the value may be None.",
    "table": "The written table that fires this trigger.",
    "all": "true: drop every entry of the spec (a generation bump, O(1)).",
    "moves": "store: zset: an INSERT adds `by` to the score of the member named by the written row's `column`, a DELETE subtracts it (ZINCRBY after commit), instead of dropping the ranking.",
    "column": "The written row's column whose value is the zset member.",
    "by": "The score step per inserted (+) or deleted (-) row; default 1.",
}
