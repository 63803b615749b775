"""``flughafen-gen build [specs/] [--out DIR] [--schema FILE] [--check] [--offline]``: the generated package, written all or nothing.

Each dialect's SQL is proven on SQLite and on the servers of ``test_databases``
(``--offline``: SQLite only); what was proven where is printed on stderr
(generator/sql/prove.py). With ``CI=true`` a server that does not answer fails
the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flughafen.settings import load_settings
from generator.commands import EXIT_ERRORS, EXIT_OK, EXIT_STALE
from generator.pipeline import Proof, build, display
from generator.write import OutputFolderError, check_output_folder, stale, with_marker, write_tree


def main_build(specs: str | None, out: str | None, schema: str | None, check: bool, offline: bool = False) -> int:
    """Build the configured package (or ``out``) from ``specs``; with ``check``, write nothing and exit 1 when it is stale."""
    settings = load_settings()
    specs_dir = Path(specs) if specs else Path(display(settings.specs))
    out_dir = Path(out) if out else Path(display(settings.out))
    # A specs folder named on the command line brings its own schema.sql; the configured one, the configured schema.
    schema_file = Path(schema) if schema else (settings.schema if not specs else None)
    if not specs_dir.is_dir():
        print(f"error: {display(specs_dir)}: no such directory of specs", file=sys.stderr)
        return EXIT_ERRORS
    if not check:
        try:
            check_output_folder(out_dir, keep=[specs_dir] + ([schema_file] if schema_file else []))
        except OutputFolderError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_ERRORS
    servers = tuple(s for s in settings.test_databases if s != "sqlite://")
    proof = Proof(servers, strict=os.environ.get("CI") == "true", offline=offline)
    try:
        files = with_marker(build(specs_dir, schema_file, proof))
    finally:
        for line in proof.report:
            print(line, file=sys.stderr)
    if check:
        wrong = stale(files, out_dir)
        for path in wrong:
            print(f"stale: {display(out_dir / path)}")
        if wrong:
            again = "flughafen-gen build" + (f" {specs}" if specs else "")
            print(f"{len(wrong)} file(s) out of date; run: {again}", file=sys.stderr)
            return EXIT_STALE
        return EXIT_OK
    changed = write_tree(files, out_dir)
    modules = sum(1 for p in files if p.endswith(".py") and "/" not in p and p != "__init__.py")
    state = "written" if changed else "unchanged"
    print(f"{modules} accessor module(s) in {display(out_dir)}/ ({state})")
    return EXIT_OK
