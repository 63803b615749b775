"""``flughafen-gen warm NAME --params FILE | --from-query SQL``: fill the cache ahead of traffic.

Parameter sets come from a JSON lines file or from a query's rows, 100 at a
time. A json entry's batch is one MGET, a query per missing entry, and one
pipeline of fill scripts (with the leases of a read: an entry that raced an
invalidation is not stored); the other stores fill each missing entry as a read.
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from flughafen import Runtime
from flughafen.settings import Settings
from generator.accessors import module as accessor

CHUNK = 100
_PARSE: dict[str, Any] = {
    "date": datetime.date.fromisoformat,
    "datetime": datetime.datetime.fromisoformat,
    "time": datetime.time.fromisoformat,
    "decimal": lambda v: Decimal(str(v)),
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


def _typed(query: Any, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(None if values.get(p.name) is None else _PARSE[p.type](values[p.name]) for p in query.params)


def warm(
    name: str, params_file: Path | None, from_query: str | None, database_url: str | None, cache_url: str | None, settings: Settings
) -> int:
    query = getattr(accessor(settings, name), "QUERY", None)
    if query is None:
        print(f"error: {name} is a write; warm fills the cache of reads", file=sys.stderr)
        return 2
    with Runtime.from_config(database_url=database_url, cache_url=cache_url, project_dir=settings.root) as rt:
        if params_file is not None:
            lines = params_file.read_text(encoding="utf-8").splitlines()
            sets = [_typed(query, json.loads(line)) for line in lines if line.strip()]
        else:
            assert from_query is not None
            with rt.db.connection() as conn:
                cur = conn.cursor()
                cur.execute(from_query)
                names = [d[0] for d in cur.description]
                sets = [_typed(query, dict(zip(names, row))) for row in cur.fetchall()]
                cur.close()
        counters = rt.metrics.of(name)
        filled = 0
        for start in range(0, len(sets), CHUNK):
            filled += query.warm_batch(sets[start : start + CHUNK], rt)
            done = min(start + CHUNK, len(sets))
            sys.stderr.write(f"\r  {name}: {done:,}/{len(sets):,} parameter sets, {filled:,} filled")
            sys.stderr.flush()
        sys.stderr.write("\n")
        print(f"warmed {name}: {len(sets)} parameter sets, {filled} filled, {counters.hits} already cached")
    return 0
