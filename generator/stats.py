"""``flughafen-gen stats``: what the cache is doing, across every process that uses it.

Accessor counters are kept in Valkey (``fg:stats:<name>`` hashes, added to by
``Runtime.publish_metrics()``, which every runtime calls when it closes), next
to the server's own keyspace figures, memory per spec sampled with MEMORY
USAGE, and the slow log.
"""

from __future__ import annotations

from typing import Any

from generator.runtime import Runtime

SAMPLE = 20


def collect(rt: Runtime) -> dict[str, Any]:
    client: Any = rt.cache.client
    accessors: dict[str, dict[str, float]] = {}
    for key in sorted(client.scan_iter(match="fg:stats:*", count=500)):
        name = key.decode().removeprefix("fg:stats:")
        accessors[name] = {k.decode(): float(v) for k, v in client.hgetall(key).items()}
    info = client.info("stats")
    memory: dict[str, tuple[int, int]] = {}
    shapes: dict[str, list[int]] = {}  # shape -> sampled entry sizes, every accessor together
    for name in accessors:
        sizes = [client.memory_usage(k) or 0 for k in list(client.scan_iter(match=f"fg:{name}:*", count=200))[:SAMPLE]]
        memory[name] = (len(sizes), int(sum(sizes) / len(sizes)) if sizes else 0)
        for key in _entries(client, name):
            shape, size = _entry_memory(client, key)
            shapes.setdefault(shape, []).append(size)
    by_shape = {shape: (len(sizes), int(sum(sizes) / len(sizes))) for shape, sizes in sorted(shapes.items())}
    slow = client.slowlog_get(5)
    return {"accessors": accessors, "info": info, "memory": memory, "shapes": by_shape, "slowlog": slow}


_NOT_ENTRIES = (b":lock", b":stale", b":meta", b":wip", b":gen")


def _entries(client: Any, name: str) -> list[bytes]:
    """Up to SAMPLE entry keys of an accessor (not its locks, stale copies, metas or generation)."""
    keys = [k for k in client.scan_iter(match=f"fg:{name}:*", count=200) if not k.endswith(_NOT_ENTRIES)]
    return sorted(keys)[:SAMPLE]


def _entry_memory(client: Any, key: bytes) -> tuple[str, int]:
    """The entry's shape and its bytes: a bitmap has a ``<key>:meta`` beside it, counted with it."""
    meta = client.memory_usage(key + b":meta")
    size = int(client.memory_usage(key) or 0)
    if meta:
        return "bitmap", size + int(meta)
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    return {"string": "json"}.get(kind, kind), size


def print_stats(database_url: str | None, cache_url: str | None) -> int:
    with Runtime.from_config(database_url=database_url, cache_url=cache_url) as rt:
        data = collect(rt)
        print(f"cache {rt.config.cache_url.redacted()}")
    print(f"{'accessor':<24} {'hits':>8} {'misses':>8} {'hit rate':>9} {'errors':>7} {'bytes/entry':>12}")
    for name, c in data["accessors"].items():
        hits, misses = c.get("hits", 0), c.get("misses", 0)
        rate = hits / (hits + misses) if hits + misses else 0.0
        print(f"{name:<24} {hits:>8.0f} {misses:>8.0f} {rate:>9.1%} {c.get('cache_errors', 0):>7.0f} {data['memory'][name][1]:>12}")
    print(f"\n{'shape':<24} {'entries sampled':>16} {'bytes/entry':>12}")
    for shape, (n, size) in data["shapes"].items():
        print(f"{shape:<24} {n:>16} {size:>12}")
    info = data["info"]
    print(
        f"\nkeyspace hits {info.get('keyspace_hits', 0)}, misses {info.get('keyspace_misses', 0)}, "
        f"expired {info.get('expired_keys', 0)}, evicted {info.get('evicted_keys', 0)}"
    )
    for entry in data["slowlog"]:
        command = entry.get("command", b"")
        shown = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        print(f"slow: {entry.get('duration')} us  {shown[:80]}")
    return 0
