"""Files -> disk, all or nothing; or the list of stale files for ``--check``.

The build renders everything first (emit.py), then either compares it with
generated/ or writes it to a temporary directory beside generated/ and swaps
the two, so a failed or interrupted build never leaves a half-written tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Files a Python toolchain leaves in generated/ that are not ours to compare.
_IGNORED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis"}


def existing_files(out_dir: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if not out_dir.is_dir():
        return found
    for root, dirs, names in os.walk(out_dir):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        for name in names:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(root) / name
            found[path.relative_to(out_dir).as_posix()] = path.read_bytes()
    return found


def stale(files: dict[str, str], out_dir: Path) -> list[str]:
    """Paths (relative to out_dir) that are missing, differ, or should not be there."""
    have = existing_files(out_dir)
    wrong = [p for p, text in files.items() if have.get(p) != text.encode()]
    extra = [p for p in have if p not in files]
    return sorted(wrong + extra)


def write_tree(files: dict[str, str], out_dir: Path) -> bool:
    """Replace out_dir with exactly ``files``. Returns False when nothing changed."""
    if not stale(files, out_dir):
        return False
    parent = out_dir.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    try:
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            os.rename(out_dir, old / out_dir.name)
        os.rename(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return True
