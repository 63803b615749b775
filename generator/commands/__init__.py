"""The commands of ``flughafen-gen``: each a small module the command line (cli.py) calls with plain values.

A command returns its exit code; the codes are these (``flughafen-gen --help`` lists them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from generator.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_STALE = 1  # build --check found stale files, check found lint findings, verify found a difference
EXIT_ERRORS = 2  # errors in the specs or on the command line
EXIT_ENVIRONMENT = 3  # a database, Valkey, a file or a package failed


def print_diagnostics(diagnostics: Iterable[Diagnostic], stream: TextIO | None = None) -> None:
    """Each diagnostic with its source line and a caret (when its file can still be read), on ``stream`` (stderr)."""
    stream = stream or sys.stderr
    sources: dict[str, str | None] = {}
    for d in diagnostics:
        if d.span.path not in sources:
            try:
                sources[d.span.path] = Path(d.span.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[d.span.path] = None
        print(d.render(sources[d.span.path]), file=stream)
