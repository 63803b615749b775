"""The protocol is written once: both shells (io_sync.py, io_async.py) do every effect it yields, and decide nothing.

A shell may only do effects: it imports nothing the protocol decides with (the
scripts, the key layout, the lock's lifetime), and every effect class protocol.py
defines is done by both. Every step function of the protocol (read, batch, warm,
and the writes' and invalidations' steps) is run by the sync path and the async
path alike.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from flughafen import protocol

ROOT = Path(__file__).resolve().parents[1]
SHELLS = [ROOT / "flughafen" / "io_sync.py", ROOT / "flughafen" / "io_async.py"]
EFFECTS = [name for name, value in vars(protocol).items() if inspect.isclass(value) and value.__module__ == protocol.__name__ and "__slots__" in vars(value)]
DECISIONS = {"flughafen.scripts", "flughafen.keys", "flughafen.stores"}  # what only the protocol may use
PROTOCOL_NAMES = {"LOCK_MS", "MISS_SCORE_STEP", "FIRST_PAUSE", "MAX_PAUSE", "miss_score", "new_token", "STALE"}


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_both_shells_do_every_effect() -> None:
    assert {"Call", "Eval", "Pipe", "Query", "Fill", "Release", "Sleep", "Warn", "Begin", "Statement", "Commit", "Rollback"} <= set(EFFECTS)
    for shell in SHELLS:
        missing = [e for e in EFFECTS if e not in _names(shell)]
        assert not missing, f"{shell.name} does not do {missing}"


def test_the_shells_make_no_protocol_decision() -> None:
    for shell in SHELLS:
        tree = ast.parse(shell.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert not imported & DECISIONS, f"{shell.name} imports {imported & DECISIONS}"
        assert not _names(shell) & PROTOCOL_NAMES, f"{shell.name} uses {_names(shell) & PROTOCOL_NAMES}"


def test_every_step_function_is_run_by_the_sync_and_the_async_path() -> None:
    runtime = {p.name: p.read_text() for p in (ROOT / "flughafen").rglob("*.py")}
    for step in ("protocol.read(", "protocol.batch(", "protocol.warm("):
        users = sorted(name for name, text in runtime.items() if step in text)
        assert any("io_sync" in runtime[u] or u == "io_sync.py" for u in users), step
        sync_calls = sum(text.count(step) for name, text in runtime.items() if name != "io_async.py")
        async_calls = sum(text.count(step) for name, text in runtime.items() if name != "io_sync.py")
        assert sync_calls and async_calls, step
    for steps, sync_runner, async_runner in [
        ("self.steps(", "io_sync.run_write(", "io_async.run_write("),
        ("invalidation.delete(", "_invalidating(", "await self._invalidating("),
    ]:
        text = runtime["write.py"] if steps == "self.steps(" else runtime["cache.py"] + runtime["cache_async.py"]
        assert steps in text and sync_runner in text and async_runner in text, steps
