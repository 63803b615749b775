"""``flughafen-gen stats``: what the cache is doing, across every process that uses it.

Everything is read in the configured runtime's cache namespace (shown first, with the
database it was derived from, or "set" when ``cache_namespace`` names it).
Accessor counters are kept in Valkey (``fg:<ns>:stats:<name>`` hashes, added to by
``Runtime.publish_metrics()``, which every runtime calls when it closes), next
to the server's own keyspace figures, memory per spec and per shape sampled
with MEMORY USAGE (a json entry is a string, a hash entry a hash, a zset
entry a sorted set plus its ``:meta``, a bitmap entry a string plus its ``:meta``; locks, stale copies and write marks
are not entries), the slow log, and each write-behind queue with its dead letters (flughafen/worker.py).
On a Valkey Cluster: every node (role, slots, reachable; nodes.py), the keyspace figures and
slow log of every primary, and the queues wherever their streams' slots are served.
"""

from __future__ import annotations

from typing import Any

from flughafen import Runtime
from flughafen.settings import Settings
from flughafen.worker import queue_figures
from generator.commands.nodes import cluster_nodes, print_nodes

SAMPLE = 20
NOT_ENTRIES = (b":lock", b":stale", b":meta", b":w", b":wip")
SHAPES = {b"string": "json", b"hash": "hash", b"zset": "zset"}


def entry_memory(client: Any, key: bytes) -> tuple[str, int]:
    """(shape, bytes) of one entry, its meta included: a zset's, or a bitmap's (a string with a meta beside it)."""
    shape = SHAPES.get(client.type(key), "other")
    size = client.memory_usage(key) or 0
    meta = client.memory_usage(key + b":meta") if shape in ("zset", "json") else None
    if meta:
        size += meta
        shape = "bitmap" if shape == "json" else shape
    return shape, int(size)


def server_figures(rt: Runtime) -> tuple[dict[str, Any], list[Any]]:
    """(INFO stats, the 5 slowest commands): of the server, or summed over every primary of a cluster."""
    client: Any = rt.cache.client
    if not rt.config.cache_url.cluster:
        return client.info("stats"), client.slowlog_get(5)
    info: dict[str, Any] = {}
    slow: list[Any] = []
    for node in client.get_primaries():
        for field, value in client.info("stats", target_nodes=node).items():
            if isinstance(value, int) and not isinstance(value, bool):
                info[field] = info.get(field, 0) + value
        slow += client.slowlog_get(5, target_nodes=node)
    return info, sorted(slow, key=lambda e: -int(e.get("duration", 0)))[:5]


def collect(rt: Runtime) -> dict[str, Any]:
    client: Any = rt.cache.client
    space = rt.keyspace
    accessors: dict[str, dict[str, float]] = {}
    for key in sorted(client.scan_iter(match=space.stats_prefix + "*", count=500)):
        name = key.decode().removeprefix(space.stats_prefix)
        accessors[name] = {k.decode(): float(v) for k, v in client.hgetall(key).items()}
    info, slow = server_figures(rt)
    memory: dict[str, tuple[int, int]] = {}
    by_shape: dict[str, list[int]] = {}
    for name in accessors:
        generations = space.generation_key(name).encode() + b":"  # the query's generation, one per bucket
        keys = [k for k in client.scan_iter(match=space.query_prefix(name) + "*", count=200) if not k.endswith(NOT_ENTRIES) and not k.startswith(generations)][
            :SAMPLE
        ]
        measured = [entry_memory(client, k) for k in keys]
        sizes = [size for _, size in measured]
        memory[name] = (len(sizes), int(sum(sizes) / len(sizes)) if sizes else 0)
        for shape, size in measured:
            by_shape.setdefault(shape, []).append(size)
    shapes = {shape: (len(s), int(sum(s) / len(s))) for shape, s in sorted(by_shape.items())}
    eviction = rt.cache.eviction_risk()
    queues = queue_figures(client, space)
    return {"accessors": accessors, "info": info, "memory": memory, "shapes": shapes, "slowlog": slow, "eviction": eviction, "queues": queues}


def print_stats(database_url: str | None, cache_url: str | None, settings: Settings) -> int:
    with Runtime.from_config(database_url=database_url, cache_url=cache_url, project_dir=settings.root) as rt:
        data = collect(rt)
        print(f"cache {rt.config.cache_url.redacted()}")
        config = rt.config
        origin = "set by cache_namespace" if config.cache_namespace else f"the database {config.database_url.identity}"
        print(f"namespace {rt.keyspace.namespace} ({origin}): keys {rt.keyspace.root}*")
        if config.cache_url.cluster:
            print_nodes(cluster_nodes(config.cache_url))
    print(f"{'accessor':<24} {'hits':>8} {'replica':>8} {'misses':>8} {'hit rate':>9} {'errors':>7} {'bytes/entry':>12}")
    for name, c in data["accessors"].items():
        hits, misses = c.get("hits", 0), c.get("misses", 0)
        rate = hits / (hits + misses) if hits + misses else 0.0
        print(
            f"{name:<24} {hits:>8.0f} {c.get('replica_hits', 0):>8.0f} {misses:>8.0f} {rate:>9.1%} {c.get('cache_errors', 0):>7.0f} {data['memory'][name][1]:>12}"
        )
    print("\nmemory per shape (sampled entries, MEMORY USAGE):")
    for shape, (count, mean) in data["shapes"].items():
        print(f"  {shape:<6} {count:>4} entries sampled, {mean:>8} bytes/entry")
    info = data["info"]
    print(
        f"\nkeyspace hits {info.get('keyspace_hits', 0)}, misses {info.get('keyspace_misses', 0)}, "
        f"expired {info.get('expired_keys', 0)}, evicted {info.get('evicted_keys', 0)}"
    )
    if data["queues"]:
        print(f"\nwrite-behind queues (dead letters: writes set aside with their error, in {rt.keyspace.dead_prefix}<name>):")
        for q in data["queues"]:
            print(f"  {q.name:<22} {q.queued:>6} queued {q.pending:>6} pending {q.dead:>6} dead letters ({q.dead_kept} kept)")
    if data["eviction"]:
        print(f"warning: {data['eviction']}")
    for entry in data["slowlog"]:
        command = entry.get("command", b"")
        shown = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        print(f"slow: {entry.get('duration')} us  {shown[:80]}")
    return 0
