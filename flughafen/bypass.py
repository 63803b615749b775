"""Per-call control of the cache: what a read may do with it (``refresh=``, ``cache=``, ``runtime.bypass()``).

``with runtime.bypass():`` makes every read of that runtime in the block query the
database, with no cache read and nothing stored. It is a contextvar, so it holds for
the thread (or asyncio task) that entered the block and no other: another thread
keeps its hits. For the async runtime it is a plain ``with`` too: entering and
leaving do no I/O, and the contextvar already keeps it to the task (a task started
inside the block copies the context, so it bypasses as well).

>>> class Rt: pass
>>> rt = Rt()
>>> with Bypass(rt):
...     bypassed(rt)
True
>>> bypassed(rt)
False
"""

from __future__ import annotations

import contextvars
from types import TracebackType
from typing import Any

# The runtimes whose reads bypass the cache in this context; empty nearly always (one check per read).
BYPASSED: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("flughafen_bypassed", default=())


def bypassed(runtime: Any) -> bool:
    """Whether ``runtime``'s reads bypass the cache in the calling thread or task."""
    within = BYPASSED.get()
    return bool(within) and any(r is runtime for r in within)


def how(runtime: Any, refresh: bool, cache: bool) -> tuple[bool, bool]:
    """(whether the read may use the cache, whether it refreshes), from a read's arguments and the context."""
    if refresh and not cache:
        raise ValueError("refresh=True stores the database's value and cache=False stores nothing: choose one")
    if not cache or bypassed(runtime):
        return False, False
    return True, refresh


class Bypass:
    """``with runtime.bypass():``, for one runtime; may be entered again (nested, or later)."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self._tokens: list[contextvars.Token[tuple[Any, ...]]] = []

    def __enter__(self) -> Bypass:
        self._tokens.append(BYPASSED.set((*BYPASSED.get(), self.runtime)))
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        BYPASSED.reset(self._tokens.pop())
