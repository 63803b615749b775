"""The spec format's fields and allowed values: one table for the validator and the JSON Schema.

Each table maps a field name to the values it allows (an empty tuple: any
value of the field's kind). ``DOCS`` describes each field for the schema.
A store kind's own fields (``near``, ``member``, ``score``, ``bitmap``,
``moves``) are declared, described and read by that kind (generator/stores/).
"""

from __future__ import annotations

from generator.stores import DEFAULT_STORE, STORES
from generator.stores.base import StoreKind

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

# The fields every cache: section may have; each store kind adds its own (OWN_CACHE_FIELDS).
COMMON_CACHE_FIELDS: dict[str, tuple[str, ...]] = {
    "key": (),
    "ttl": (),
    "jitter": (),
    "tags": (),
    "store": tuple(STORES),
    "stampede": ("lock", "early", "none"),
    "negative_ttl": (),
    "replica_reads": (),
}
COMMON_TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {"table": (), "tags": (), "all": ()}

# A field of one store kind -> that kind: `near` of json, `member` and `score` of zset, `bitmap`, `moves` of a zset trigger.
OWN_CACHE_FIELDS: dict[str, StoreKind] = {name: kind for kind in STORES.values() for name in kind.cache_fields}
OWN_TRIGGER_FIELDS: dict[str, StoreKind] = {name: kind for kind in STORES.values() for name in kind.trigger_fields}

CACHE_FIELDS: dict[str, tuple[str, ...]] = {**COMMON_CACHE_FIELDS, **dict.fromkeys(OWN_CACHE_FIELDS, ())}
TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {**COMMON_TRIGGER_FIELDS, **dict.fromkeys(OWN_TRIGGER_FIELDS, ())}

COLUMN_FIELDS: dict[str, tuple[str, ...]] = {"type": PARAM_FIELDS["type"], "nullable": ()}

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
    "cache": "How results are cached: key template, ttl, jitter, tags, store, stampede, negative_ttl, replica_reads; "
    + "; ".join(f"{', '.join(kind.cache_fields)} for store: {kind.name}" for kind in STORES.values() if kind.cache_fields)
    + ".",
    "store": "; ".join(f"{name}{' (default)' if name == DEFAULT_STORE else ''}: {kind.summary}" for name, kind in STORES.items()) + ".",
    "stampede": "lock (default): one caller fills a missing key; early: probabilistic early refresh; none.",
    "negative_ttl": "How long an empty result is cached (default: ttl).",
    "replica_reads": "Opt-in: hits may be read from replicas (Valkey Cluster, Sentinel) at most this stale (e.g. 2s); "
    "caps the entry's lifetime at this bound. Not with near.",
    "type": "str int float decimal bool date datetime time.",
    "pattern": "A regular expression a str parameter must match in full.",
    "nullable": "Whether the value may be None.",
    "table": "The written table that fires this trigger.",
    "all": "true: drop every entry of the spec (a generation bump, O(1)).",
}
