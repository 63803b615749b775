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
    for name in accessors:
        sizes = [client.memory_usage(k) or 0 for k in list(client.scan_iter(match=f"fg:{name}:*", count=200))[:SAMPLE]]
        memory[name] = (len(sizes), int(sum(sizes) / len(sizes)) if sizes else 0)
    slow = client.slowlog_get(5)
    return {"accessors": accessors, "info": info, "memory": memory, "slowlog": slow}


def print_stats(database_url: str | None, cache_url: str | None) -> int:
    with Runtime.from_config(database_url=database_url, cache_url=cache_url) as rt:
        data = collect(rt)
        print(f"cache {rt.config.cache_url.redacted()}")
    print(f"{'accessor':<24} {'hits':>8} {'misses':>8} {'hit rate':>9} {'errors':>7} {'bytes/entry':>12}")
    for name, c in data["accessors"].items():
        hits, misses = c.get("hits", 0), c.get("misses", 0)
        rate = hits / (hits + misses) if hits + misses else 0.0
        print(f"{name:<24} {hits:>8.0f} {misses:>8.0f} {rate:>9.1%} {c.get('cache_errors', 0):>7.0f} {data['memory'][name][1]:>12}")
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
