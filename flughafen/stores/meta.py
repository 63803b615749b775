"""The bookkeeping hash and zset entries keep beside their value: ``"<generation> <stamp> <kind>"``.

Kind ``1`` is a value, ``0`` an empty result (negative caching: empty is told apart
from missing), ``2`` a hash row refreshed in place by a write (the stamp is then
the write's ticket).
"""

from __future__ import annotations

from typing import Any


def meta(gen: int, stamp: int, kind: str) -> str:
    """An entry's bookkeeping.

    >>> meta(3, 17, "1")
    '3 17 1'
    """
    return f"{gen} {stamp} {kind}"


def meta_generation(raw: Any) -> tuple[int, bytes] | None:
    """(generation, kind) of a stored meta value; None when absent or unreadable."""
    if not raw:
        return None
    parts = bytes(raw).split(b" ")
    try:
        return int(parts[0]), parts[-1]
    except ValueError:
        return None


def kind_under(raw: Any, gen: int | None) -> bytes | None:
    """The kind of a meta value stored under generation ``gen`` (None: any); None when absent or of another generation."""
    found = meta_generation(raw)
    return found[1] if found is not None and (gen is None or found[0] == gen) else None
