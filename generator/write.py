"""Files -> disk, all or nothing; or the list of stale files for ``--check``.

The build renders and formats everything first (render.py, format.py), then either compares it with
generated/ or writes it to a temporary directory beside generated/ and swaps
the two, so a failed or interrupted build never leaves a half-written tree.

The build replaces only a folder it wrote itself: one holding its marker file
(MARKER), an empty or missing one, or (for output written before the marker
existed) one whose every file is a module flughafen-gen generated. Any other
folder is refused, never emptied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Files a Python toolchain leaves in generated/ that are not ours to compare.
_IGNORED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis"}

# Written into every output folder: the build replaces a folder only when it holds this file.
MARKER = ".flughafen-generated"
MARKER_TEXT = "This folder is written by `flughafen-gen build`, which replaces all of it on every build.\nDo not keep other files here.\n"


class OutputFolderError(Exception):
    """The output folder cannot be used: the build would destroy what it does not own."""


def with_marker(files: dict[str, str]) -> dict[str, str]:
    """The build's files and the marker that lets a later build replace the folder."""
    return {**files, MARKER: MARKER_TEXT}


def check_output_folder(out_dir: Path, keep: list[Path]) -> None:
    """Raise OutputFolderError unless the build may replace ``out_dir`` (see the module's docstring).

    ``keep`` are paths the folder must not be or contain (the specs, the schema, the
    current directory).
    """
    target = out_dir.resolve()
    for path in [Path.cwd(), *keep]:
        inside = path.resolve()
        if inside == target or target in inside.parents:
            raise OutputFolderError(
                f"--out {out_dir.as_posix()} would replace {path.as_posix()} with generated code; choose a folder of its own, such as generated/"
            )
    if not out_dir.exists():
        if not out_dir.parent.is_dir():
            raise OutputFolderError(f"--out {out_dir.as_posix()}: the folder {out_dir.parent.as_posix()} does not exist; create it first")
        return
    if not out_dir.is_dir():
        raise OutputFolderError(f"--out {out_dir.as_posix()} is a file, not a folder")
    if (out_dir / MARKER).is_file():
        return
    foreign = [p for p, data in existing_files(out_dir).items() if not _generated(p, data)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputFolderError(
            f"--out {out_dir.as_posix()} holds files flughafen-gen did not write ({shown}); the build replaces the whole folder, so it writes only to a new or empty folder, or to one it wrote before"
        )


def _generated(path: str, data: bytes) -> bool:
    """A file an earlier build (before the marker file) wrote: a module naming flughafen-gen, or an empty marker."""
    return (path.endswith(".py") and b"flughafen-gen" in data[:400]) or (path.endswith(("py.typed", "__init__.py")) and not data.strip())


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
