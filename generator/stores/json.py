"""``store: json`` (the default): the whole result as one string entry; the only kind with a near cache.

Its own fields: ``near`` (how long a process may serve its in-memory copy, at
most the ttl) and ``near_size`` (entries per process, only with near), FG042.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import yaml

from generator.model import StoreOptions
from generator.stores.base import DURATION, CacheSection, OwnField, Reader, StoreKind

MAX_NEAR_SIZE = 1_000_000


@dataclass(frozen=True, slots=True)
class JsonOptions(StoreOptions):
    near: int | None = None  # seconds a process may serve its in-memory copy; None: no near cache
    near_size: int | None = None  # entries per process; None: the runtime's default


_ELSEWHERE = "the other stores are read from Valkey on every call"


class Json(StoreKind):
    name = "json"
    summary = "one string"
    template = "accessor_json.py.jinja"
    test_template = "test_accessor.py.jinja"
    codes = ("FG042", "FG094")  # near and near_size; the two on another store
    version_neutral: ClassVar = {
        "near": "how long a process may serve its own copy of an entry, not what the entry holds",
        "near_size": "how many copies a process keeps",
    }
    cache_fields: ClassVar = {
        "near": OwnField(
            "Opt-in near cache: each process also keeps hot entries in memory, served without Valkey for at most this long "
            "(e.g. 30s, at most the ttl); Valkey's invalidation messages (CLIENT TRACKING) drop them as soon as they change.",
            DURATION,
            "FG094",
            _ELSEWHERE,
        ),
        "near_size": OwnField(
            "With near: the most entries one process keeps for this spec (default 10000, at most 1000000); the least recently used go first.",
            {"type": "integer", "minimum": 1, "maximum": MAX_NEAR_SIZE},
            "FG094",
            _ELSEWHERE,
        ),
    }

    def read_options(self, r: Reader, cache: CacheSection) -> StoreOptions | None:
        """``near: 30s`` (at most the ttl) and ``near_size: N`` (only with near)."""
        fields = cache.fields
        near = r.duration(fields["near"][1], "cache.near") if "near" in fields else None
        if near is not None and cache.ttl is not None and near > cache.ttl:
            r.error(
                fields["near"][1],
                "FG042",
                f"cache.near: {near} s is longer than cache.ttl ({cache.ttl} s); a local copy never outlives its entry, write at most {cache.ttl}s",
            )
            near = None
        if "near_size" not in fields:
            return JsonOptions(near, None)
        node = fields["near_size"][1]
        value = r.scalar(node) if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" else None
        if not isinstance(value, int) or not 1 <= value <= MAX_NEAR_SIZE:
            r.error(node, "FG042", f"cache.near_size: {r.describe(node)} is not a number of entries; write a whole number from 1 to {MAX_NEAR_SIZE}")
            return JsonOptions(near, None)
        if "near" not in fields:
            r.error(fields["near_size"][0], "FG011", "cache.near_size needs cache.near (how long a local copy may be served, e.g. near: 30s)")
        return JsonOptions(near, value)


JSON = Json()
