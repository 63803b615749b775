"""``flughafen-gen explain NAME``: the plan of one accessor's query on the configured database.

The query runs as the accessor would send it (that dialect's SQL, the first
example's parameters), under EXPLAIN (EXPLAIN QUERY PLAN on SQLite).
"""

from __future__ import annotations

import importlib
import sys

from flughafen import Runtime


def explain(name: str, database_url: str | None) -> int:
    try:
        module = importlib.import_module(f"generated.{name}")
        query = module.QUERY
    except (ImportError, AttributeError):
        print(f"error: no generated read accessor named {name!r}; run flughafen-gen build first", file=sys.stderr)
        return 2
    if not module.EXAMPLES:
        print(f"error: {name} has no examples: to explain it, add examples: to its spec", file=sys.stderr)
        return 2
    example = module.EXAMPLES[0]
    args = tuple(example[p.name] for p in query.params)
    with Runtime.from_config(database_url=database_url, cache_url="embedded") as rt:
        dialect = rt.db.dialect
        sql = query.sql[dialect]
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        rows = rt.db.query(prefix + sql, [args[i] for i in query.param_order])
        print(f"-- {name} on {rt.config.database_url.redacted()} ({dialect}), parameters {example}")
        print(sql.replace("%%", "%"))
        print()
        for row in rows:
            if dialect == "sqlite":
                print(f"{'  ' * (1 if row[1] else 0)}{row[-1]}")
            elif dialect == "postgres":
                print(row[0])
            else:
                print("  ".join("" if v is None else str(v) for v in row))
    return 0
