"""``flughafen-gen explain NAME``: the plan of one accessor's query on the configured database.

The accessor comes from the configured package. The query runs as the
accessor would send it (that dialect's SQL, the first example's parameters),
under EXPLAIN (EXPLAIN QUERY PLAN on SQLite); no cache is involved.
"""

from __future__ import annotations

import sys

from flughafen import Runtime
from flughafen.settings import Settings
from generator.accessors import module as accessor


def explain(name: str, database_url: str | None, settings: Settings) -> int:
    module = accessor(settings, name)
    query = getattr(module, "QUERY", None)
    if query is None:
        print(f"error: {name} is a write; explain shows the plans of reads", file=sys.stderr)
        return 2
    if not module.EXAMPLES:
        print(f"error: {name} has no examples: to explain it, add examples: to its spec", file=sys.stderr)
        return 2
    example = module.EXAMPLES[0]
    args = tuple(example[p.name] for p in query.params)
    with Runtime.from_config(database_url=database_url, cache_url="off", project_dir=settings.root) as rt:
        dialect = rt.db.dialect
        sql = query.sql[dialect]
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        with rt.db.connection() as conn:
            cur = conn.cursor()
            cur.execute(prefix + sql, [args[i] for i in query.param_order])
            headers = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
            cur.close()
        print(f"-- {name} on {rt.config.database_url.redacted()} ({dialect}), parameters {example}")
        print(sql.replace("%%", "%"))
        print()
        if dialect == "sqlite":
            for row in rows:
                print(f"{'  ' * (1 if row[1] else 0)}{row[-1]}")
        elif dialect == "postgres":
            for row in rows:
                print(row[0])
        else:
            print(table(headers, rows))
    return 0


def table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    """Rows under their column names, each column as wide as its widest cell (MariaDB's EXPLAIN).

    >>> print(table(["id", "table"], [(1, "f"), (2, None)]))
    id  table
    --  -----
    1   f
    2
    """
    cells = [headers, *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
