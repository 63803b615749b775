"""``flughafen-gen show NAME --dialect D``: the SQL the build holds for one spec and dialect."""

from __future__ import annotations

import sys
from pathlib import Path

from generator.commands import EXIT_ERRORS, EXIT_OK
from generator.model import Dialect
from generator.pipeline import compile_specs


def show(name: str, dialect: Dialect, specs_dir: Path) -> int:
    for q in compile_specs(specs_dir):
        if q.spec.name == name:
            print(q.sql[dialect])
            return EXIT_OK
    print(f"error: no spec named {name!r} in {specs_dir}", file=sys.stderr)
    return EXIT_ERRORS
