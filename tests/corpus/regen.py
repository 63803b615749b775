"""Rewrite the corpus's expected files from the current generator: ``python -m tests.corpus.regen``.

Writes ``builds/<case>/sql.txt`` and ``refused/<case>/stderr.txt``; a case of
the wrong kind (a build refused, a refusal built) is reported and left alone.
A ``workshop/<case>`` gets whichever of the two the build makes of it.
Review the diff before committing it.
"""

from __future__ import annotations

import sys

from generator.diagnostics import SpecError
from tests.corpus.cases import build_stderr, cases, held_sql


def main() -> int:
    wrong = []
    for case in cases("builds"):
        try:
            (case / "sql.txt").write_text(held_sql(case), encoding="utf-8", newline="\n")
        except SpecError as e:
            wrong.append(f"builds/{case.name} is refused:\n{e}")
    for case in cases("workshop"):  # as written: whichever the build makes of it
        status, err, _ = build_stderr(case)
        keep, drop = ("stderr.txt", "sql.txt") if status == 2 else ("sql.txt", "stderr.txt")
        (case / keep).write_text(err if status == 2 else held_sql(case), encoding="utf-8", newline="\n")
        (case / drop).unlink(missing_ok=True)
    for case in cases("refused"):
        status, err, _ = build_stderr(case)
        if status != 2:
            wrong.append(f"refused/{case.name} builds (exit {status})")
            continue
        (case / "stderr.txt").write_text(err, encoding="utf-8", newline="\n")
    print("\n".join(wrong), file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
