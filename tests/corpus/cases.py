"""The portability corpus: one folder per case, of two kinds (see README.md).

- ``builds/<case>/``: ``spec.yaml`` builds, and ``sql.txt`` is the SQL held
  for each dialect; its examples must return equal, non-empty typed results
  on MariaDB, PostgreSQL and SQLite loaded with the ``tiny`` data set.
- ``refused/<case>/``: the build refuses ``spec.yaml``; ``stderr.txt`` is
  what ``flughafen-gen build`` prints, positions and portable rewrite included.
- ``workshop/<case>/``: the workshop's statements as written
  (/work/shared/workshop-queries.sql: literals, no parameters); each either
  builds (``sql.txt``, and its rows are equal on the three databases, though
  the ``tiny`` data may hold none) or is refused (``stderr.txt``).

``python -m tests.corpus.regen`` rewrites ``sql.txt`` and ``stderr.txt``
from the current generator; review the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from generator.cli import main
from generator.model import DIALECTS
from generator.pipeline import load_project

CORPUS = Path(__file__).resolve().parent
SCHEMA = CORPUS / "schema.sql"
KINDS = ("builds", "refused", "workshop")


def cases(kind: str) -> list[Path]:
    """The case folders of one kind, sorted by name."""
    return sorted(p for p in (CORPUS / kind).iterdir() if (p / "spec.yaml").is_file())


def held_sql(case: Path) -> str:
    """The SQL the build holds for each dialect, as ``sql.txt`` records it."""
    [query] = load_project(case, SCHEMA)[1]
    return "".join(f"-- {d}\n{query.sql[d]}\n" for d in DIALECTS)


def build_stderr(case: Path) -> tuple[int, str, list[Path]]:
    """``flughafen-gen build`` on the case, run from the corpus folder:
    (exit status, stderr, files written)."""
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as out, contextlib.chdir(CORPUS), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["build", case.relative_to(CORPUS).as_posix(), "--schema", "schema.sql", "--out", os.path.join(out, "generated")])
        written = [p for p in Path(out).rglob("*") if p.is_file()]
    return status, err.getvalue(), written
