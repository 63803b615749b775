"""``flughafen-gen db load --scale tiny|small [--database URL]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from generator.dataset.generate import SCALES


def main_db_load(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="flughafen-gen db", description="Create the FlughafenDB schema and load a data set.")
    sub = p.add_subparsers(dest="action", required=True)
    load_cmd = sub.add_parser("load", help="drop, create and bulk-load the schema and data")
    load_cmd.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    load_cmd.add_argument("--database", default=None, help="database URL (default: configuration)")
    load_cmd.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(list(argv))
    from flughafen.config import ConfigError, load_config
    from generator.dataset.load import load

    try:
        url = load_config(database_url=args.database).database_url
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = load(url.raw if url.dialect != "sqlite" else f"sqlite:///{url.path}", args.scale, progress=not args.quiet)
    width = max(len(t) for t in report.rows)
    for table, n in sorted(report.rows.items()):
        print(f"{table:<{width}}  {n:>10,}")
    print(f"{'total':<{width}}  {sum(report.rows.values()):>10,}  ({report.seconds:.1f} s, {report.database})")
    return 0
