"""The write-behind worker: applies queued writes in batches, exactly once.

Each write spec with ``write: behind`` has a Valkey stream; workers share a
consumer group. A batch is applied in one database transaction that also
records each entry's stream id in ``flughafen_applied_writes``; entries are
acknowledged only after the commit. A worker killed mid-batch loses nothing
(unacknowledged entries stay pending and are taken up again) and applies
nothing twice (a recorded id is skipped, then acknowledged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flughafen.write import APPLIED_TABLE, GROUP, WriteQuery

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen")

CLAIM_IDLE_MS = 30_000


@dataclass(slots=True)
class WorkerReport:
    applied: int = 0
    skipped: int = 0  # already applied before a crash; acknowledged now
    batches: int = 0


def ensure_applied_table(rt: Runtime) -> None:
    text_type = "VARCHAR(200)"
    rt.db.execute(
        f"CREATE TABLE IF NOT EXISTS {APPLIED_TABLE} (stream_id {text_type} PRIMARY KEY, applied_at {text_type} NOT NULL)"
    )


def ensure_groups(rt: Runtime, writes: Sequence[WriteQuery]) -> None:
    for w in writes:
        try:
            rt.cache.client.xgroup_create(w.stream, GROUP, id="0", mkstream=True)
        except Exception as e:  # noqa: BLE001 - BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(e):
                raise


def _placeholder(rt: Runtime) -> str:
    return "?" if rt.db.dialect == "sqlite" else "%s"


def process_batch(
    rt: Runtime,
    write: WriteQuery,
    entries: list[tuple[Any, dict[Any, Any]]],
    after_commit: Callable[[], None] | None = None,
) -> WorkerReport:
    """Apply ``entries`` (stream id, fields) in one transaction, invalidate, then acknowledge."""
    report = WorkerReport(batches=1)
    ph = _placeholder(rt)
    tags: set[str] = set()
    ids = [eid.decode() if isinstance(eid, bytes) else str(eid) for eid, _ in entries]
    with rt.db.transaction() as cur:
        for sid, (_, fields) in zip(ids, entries):
            stream_id = f"{write.name}:{sid}"
            cur.execute(f"SELECT 1 FROM {APPLIED_TABLE} WHERE stream_id = {ph}", (stream_id,))
            if cur.fetchall():
                report.skipped += 1
                continue
            args = write.decode_args(fields[b"args"] if b"args" in fields else fields["args"])
            _, entry_tags = write.apply(cur, rt, args)
            tags.update(entry_tags)
            cur.execute(
                f"INSERT INTO {APPLIED_TABLE} (stream_id, applied_at) VALUES ({ph}, {ph})",
                (stream_id, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
            report.applied += 1
    if after_commit is not None:
        after_commit()
    write.invalidate(rt, sorted(tags))
    if ids:
        rt.cache.client.xack(write.stream, GROUP, *ids)
    return report


def run_worker(
    rt: Runtime,
    writes: Sequence[WriteQuery],
    consumer: str = "worker-1",
    batch_size: int = 100,
    block_ms: int = 500,
    max_idle_rounds: int | None = None,
    after_commit: Callable[[], None] | None = None,
) -> WorkerReport:
    """Apply queued writes until stopped (or ``max_idle_rounds`` rounds found nothing)."""
    ensure_applied_table(rt)
    ensure_groups(rt, writes)
    total = WorkerReport()
    idle = 0
    client: Any = rt.cache.client
    while max_idle_rounds is None or idle < max_idle_rounds:
        worked = False
        for w in writes:
            # Our own pending entries first (a previous run of this consumer died), then
            # entries other consumers left idle too long, then new ones.
            pending = client.xreadgroup(GROUP, consumer, {w.stream: "0"}, count=batch_size)
            entries = pending[0][1] if pending and pending[0][1] else []
            if not entries:
                claimed = client.xautoclaim(w.stream, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=batch_size)
                entries = claimed[1] if claimed and len(claimed) > 1 else []
            if not entries:
                fresh = client.xreadgroup(GROUP, consumer, {w.stream: ">"}, count=batch_size, block=block_ms)
                entries = fresh[0][1] if fresh else []
            if entries:
                r = process_batch(rt, w, entries, after_commit)
                total.applied += r.applied
                total.skipped += r.skipped
                total.batches += 1
                worked = True
        idle = 0 if worked else idle + 1
    return total
