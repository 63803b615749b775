"""Python sources -> black's output: the format stage. Pure, but for a cache on disk.

black is most of a build's time, so its output is kept by input hash under
``.flughafen/cache/black`` (``FLUGHAFEN_CACHE_DIR``), and sources not seen
before are formatted on every core. The result does not depend on either:
black is a pure function.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import black

BLACK_VERSION = importlib.metadata.version("black")
BLACK_MODE = black.Mode(target_versions={black.mode.TargetVersion.PY311})


def format_cache() -> Path:
    """Where black's output is kept by input hash."""
    return Path(os.environ.get("FLUGHAFEN_CACHE_DIR", ".flughafen/cache")) / "black"


def format_files(files: Mapping[str, str]) -> dict[str, str]:
    """Every ``.py`` file with content run through black; the others as they are."""
    paths = [p for p, text in files.items() if p.endswith(".py") and text]
    formatted = dict(zip(paths, format_all([files[p] for p in paths]), strict=True))
    return {p: formatted.get(p, text) for p, text in files.items()}


def _cache_path(source: str) -> Path:
    digest = hashlib.sha256(f"{BLACK_VERSION}\n{source}".encode()).hexdigest()
    return format_cache() / digest[:2] / digest


def _cached(source: str) -> str | None:
    try:
        return _cache_path(source).read_text(encoding="utf-8")
    except OSError:
        return None


def format_python(source: str) -> str:
    """black's output for ``source``; remembered on disk by content, so unchanged specs format instantly.

    >>> format_python("x = {'a':1}\\n")
    'x = {"a": 1}\\n'
    """
    known = _cached(source)
    if known is not None:
        return known
    cached = _cache_path(source)
    text = black.format_str(source, mode=BLACK_MODE)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only tree only loses the speed-up
    return text


def format_all(sources: list[str]) -> list[str]:
    """format_python over many sources; the ones not cached yet are formatted on every core.

    Forked workers inherit the imported black, so they start at once. The
    result does not depend on how the work was split: black is a pure function.
    """
    cached = [_cached(s) for s in sources]
    todo = [i for i, c in enumerate(cached) if c is None]
    workers = min(len(todo), os.cpu_count() or 1)
    if workers > 1 and len(todo) >= 4 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = list(pool.map(format_python, [sources[i] for i in todo], chunksize=max(1, len(todo) // (workers * 4))))
    else:
        done = [format_python(sources[i]) for i in todo]
    for i, text in zip(todo, done, strict=True):
        cached[i] = text
    return [c if c is not None else "" for c in cached]
