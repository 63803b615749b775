"""The write-behind worker: applies queued writes in batches, exactly once, for as long as it runs.

Each write spec with ``write: behind`` has a Valkey stream (``fg:<ns>:writes:<name>``);
workers share a consumer group. A round takes, per stream, this consumer's own
pending entries first (a previous run died holding them), then entries other
consumers left idle for CLAIM_IDLE_MS, then blocks for new ones on all streams.

A batch:

1. Every entry's parameters are decoded and checked as ``execute()`` checks them.
   One that fails (an entry added by hand, say) goes to the dead letters at once.
2. The rest are applied in one transaction that also records, per entry, its
   stream id and the tags it invalidates (``flughafen_applied_writes``). An entry
   the database refuses for its data (an integrity or data error), or that has
   failed MAX_DELIVERIES times, goes to the dead letters and the others are applied
   without it; any other failure leaves the batch pending, to be taken up again.
3. After the commit: the tags and query generations are invalidated, then the
   entries acknowledged, then the stream trimmed of what every group has acknowledged.

An entry recorded as applied but still pending (its worker died after the commit)
is not applied again: its recorded tags are invalidated again, then it is
acknowledged. So a worker killed at any point loses nothing, applies nothing
twice, and leaves no stale entry behind.

Dead letters: ``fg:<ns>:writes:~dead:<name>``, a stream of the entries set aside, each
with its error (the last DEAD_LETTERS_KEPT are kept), and their total per write in
the ``fg:<ns>:writes:~dead-count`` hash; ``flughafen-gen stats`` shows both.

The applied-writes records are kept KEEP_APPLIED seconds (24 h), never while their
entry is still pending in the stream, then deleted (one sweep every SWEEP_EVERY
seconds). A write left pending longer than that with its record gone would be
applied again: only when no worker runs for a day after one died between its
commit and its acknowledgement (a running worker claims such an entry after 30 s).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import valkey

from flughafen.config import ConfigError
from flughafen.db import DatabaseTimeout, QueryError
from flughafen.keys import NAMESPACE, PREFIX, Keyspace, keyspace
from flughafen.write import (
    APPLIED_TABLE,
    GROUP,
    InvalidationError,
    InvalidWrite,
    WriteQuery,
)

if TYPE_CHECKING:
    from flughafen.runtime import Runtime

log = logging.getLogger("flughafen.worker")

CLAIM_IDLE_MS = 30_000  # an entry another consumer holds this long is taken over
MAX_DELIVERIES = 5  # an entry the database refused this many times goes to the dead letters
KEEP_APPLIED = 24 * 3600.0  # seconds an applied write's record is kept (see above)
SWEEP_EVERY = 600.0  # seconds between sweeps of the applied-writes records
CLOCK_MARGIN = 3600.0  # seconds allowed between the worker's clock and Valkey's
DEAD_LETTERS_KEPT = 10_000
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
ISO = "%Y-%m-%dT%H:%M:%SZ"

# Trims a stream of the entries every consumer group has acknowledged: below the
# oldest entry pending in a group, or past the last one a group was given.
TRIM_ACKNOWLEDGED = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq), ms
end
local low, low_ms, low_seq = nil, nil, nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local bound
  if tonumber(info['pending']) > 0 then
    bound = redis.call('XPENDING', KEYS[1], info['name'])[2]
  else
    local _, seq, ms = parse(info['last-delivered-id'])
    bound = ms .. '-' .. string.format('%d', seq + 1)
  end
  local ms, seq = parse(bound)
  if low == nil or ms < low_ms or (ms == low_ms and seq < low_seq) then
    low, low_ms, low_seq = bound, ms, seq
  end
end
if low == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', low)
"""


@dataclass(slots=True)
class WorkerReport:
    applied: int = 0
    skipped: int = 0  # applied before a crash: invalidated again and acknowledged now
    dead: int = 0  # set aside in the dead letters
    batches: int = 0

    def add(self, other: WorkerReport) -> None:
        self.applied += other.applied
        self.skipped += other.skipped
        self.dead += other.dead
        self.batches += other.batches


class RetryLater(RuntimeError):
    """The database refused an entry for a reason that may pass (a lock, a timeout): the batch stays pending."""


class _EntryFailed(Exception):
    """The database refused entry ``index`` of a batch (the transaction is rolled back)."""

    def __init__(self, index: int, error: QueryError):
        super().__init__(index, error)
        self.index = index
        self.error = error


def _text_type(rt: Runtime) -> str:
    return "MEDIUMTEXT" if rt.db.dialect == "mysql" else "TEXT"


def _has_columns(rt: Runtime, columns: str) -> bool:
    try:
        rt.db.query(f"SELECT {columns} FROM {APPLIED_TABLE} WHERE 1 = 0")
    except (DatabaseTimeout, OSError):
        raise
    except Exception:  # noqa: BLE001 - no such table or column: that is the answer
        return False
    return True


def ensure_applied_table(rt: Runtime) -> None:
    """The applied-writes table, created, or given the columns an older one lacks."""
    if _has_columns(rt, "stream_id, applied_at, tags"):
        return
    if _has_columns(rt, "stream_id"):
        _attempt(rt, f"ALTER TABLE {APPLIED_TABLE} ADD COLUMN tags {_text_type(rt)}")
    else:
        rt.db.execute(
            f"CREATE TABLE IF NOT EXISTS {APPLIED_TABLE} (stream_id VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(200) NOT NULL, tags {_text_type(rt)})"
        )
    _attempt(rt, f"CREATE INDEX {APPLIED_TABLE}_at ON {APPLIED_TABLE} (applied_at)")
    rt.db.query(f"SELECT stream_id, applied_at, tags FROM {APPLIED_TABLE} WHERE 1 = 0")  # raises if it is still not right


def _attempt(rt: Runtime, statement: str) -> None:
    """A statement another worker may have run first (it fails then); what it was for is checked after."""
    try:
        rt.db.execute(statement)
    except (DatabaseTimeout, OSError):
        raise
    except Exception as e:  # noqa: BLE001 - done already by another worker, most likely; ensure_applied_table checks
        log.debug("%s: %s", statement, e)


def ensure_groups(rt: Runtime, writes: Sequence[WriteQuery]) -> None:
    for w in writes:
        try:
            rt.cache.client.xgroup_create(rt.keyspace.stream_key(w.name), GROUP, id="0", mkstream=True)
        except valkey.ResponseError as e:
            if "BUSYGROUP" not in str(e):  # BUSYGROUP: it exists already
                raise


def _placeholder(rt: Runtime) -> str:
    return "?" if rt.db.dialect == "sqlite" else "%s"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _permanent(error: BaseException) -> bool:
    """An integrity or data error (DB-API classes, any driver): the entry's own data, refused whenever it is tried."""
    seen: BaseException | None = error
    while seen is not None:
        if any(c.__name__ in ("IntegrityError", "DataError") for c in type(seen).__mro__):
            return True
        seen = seen.__cause__
    return False


def dead_letter(rt: Runtime, write: WriteQuery, entry_id: str, fields: dict[Any, Any], error: str) -> None:
    """Set an entry aside with its error and acknowledge it, in one transaction: the queue moves on."""
    letter: dict[Any, Any] = {"id": entry_id, "error": error[:2000], "failed_at": time.strftime(ISO, time.gmtime())}
    for name, value in fields.items():
        letter["entry:" + _text(name)] = value
    client: Any = rt.cache.client
    pipe = client.pipeline(transaction=True)
    pipe.xadd(rt.keyspace.dead_key(write.name), letter, maxlen=DEAD_LETTERS_KEPT, approximate=True)
    pipe.hincrby(rt.keyspace.dead_counts, write.name, 1)
    pipe.xack(rt.keyspace.stream_key(write.name), GROUP, entry_id)
    pipe.execute()
    log.error("%s: write %s set aside in %s: %s", write.name, entry_id, rt.keyspace.dead_key(write.name), error)


def _deliveries(rt: Runtime, write: WriteQuery, entry_id: str) -> int:
    client: Any = rt.cache.client
    rows = client.xpending_range(rt.keyspace.stream_key(write.name), GROUP, min=entry_id, max=entry_id, count=1)
    return int(rows[0]["times_delivered"]) if rows else 0


def _apply(rt: Runtime, write: WriteQuery, entries: list[tuple[str, tuple[Any, ...]]]) -> tuple[set[str], int, int]:
    """Apply ``entries`` in one transaction; (tags to invalidate, applied, already applied). _EntryFailed names a refused entry."""
    ph = _placeholder(rt)
    tags: set[str] = set()
    applied = skipped = 0
    with rt.db.transaction() as cur:
        for index, (entry_id, args) in enumerate(entries):
            record = f"{write.name}:{entry_id}"
            cur.execute(f"SELECT tags FROM {APPLIED_TABLE} WHERE stream_id = {ph}", (record,))
            rows = cur.fetchall()
            if rows:  # applied before, its invalidation maybe not made (a worker killed after the commit)
                tags.update(json.loads(rows[0][0] or "[]"))
                skipped += 1
                continue
            try:
                _, entry_tags = write.apply(cur, rt, args)
            except QueryError as e:
                raise _EntryFailed(index, e) from e
            tags.update(entry_tags)
            cur.execute(
                f"INSERT INTO {APPLIED_TABLE} (stream_id, applied_at, tags) VALUES ({ph}, {ph}, {ph})",
                (record, time.strftime(ISO, time.gmtime()), json.dumps(sorted(entry_tags))),
            )
            applied += 1
    return tags, applied, skipped


def process_batch(
    rt: Runtime,
    write: WriteQuery,
    entries: list[tuple[Any, dict[Any, Any]]],
    after_commit: Callable[[], None] | None = None,
    max_deliveries: int = MAX_DELIVERIES,
) -> WorkerReport:
    """Apply ``entries`` (stream id, fields) in one transaction, invalidate, acknowledge, trim (see the module's doc)."""
    report = WorkerReport(batches=1)
    fields_of: dict[str, dict[Any, Any]] = {}
    good: list[tuple[str, tuple[Any, ...]]] = []
    for raw_id, fields in entries:
        entry_id = _text(raw_id)
        fields_of[entry_id] = fields
        raw = fields.get(b"args", fields.get("args"))
        try:
            if raw is None:
                raise InvalidWrite(f"{write.name}: a queued write has no 'args' field")
            args = write.decode_args(raw)
        except InvalidWrite as e:
            dead_letter(rt, write, entry_id, fields, str(e))
            report.dead += 1
            continue
        good.append((entry_id, args))
    tags: set[str] = set()
    while good:
        try:
            tags, report.applied, report.skipped = _apply(rt, write, good)
            break
        except _EntryFailed as failed:
            entry_id = good[failed.index][0]
            deliveries = _deliveries(rt, write, entry_id)
            if not _permanent(failed.error) and deliveries < max_deliveries:
                raise RetryLater(f"{failed.error} (write {entry_id}, delivery {deliveries} of {max_deliveries})") from failed.error
            dead_letter(rt, write, entry_id, fields_of[entry_id], f"{type(failed.error.__cause__ or failed.error).__name__}: {failed.error}")
            report.dead += 1
            del good[failed.index]
    if good:
        if after_commit is not None:
            after_commit()
        write.invalidate(rt, sorted(tags))
        rt.cache.client.xack(rt.keyspace.stream_key(write.name), GROUP, *[entry_id for entry_id, _ in good])
    trim(rt, rt.keyspace.stream_key(write.name))
    return report


def trim(rt: Runtime, stream: str) -> int:
    """Drop the stream's entries that every consumer group has acknowledged; returns how many."""
    client: Any = rt.cache.client
    return int(client.eval(TRIM_ACKNOWLEDGED, 1, stream))


def sweep_applied(rt: Runtime, writes: Sequence[WriteQuery], keep: float = KEEP_APPLIED) -> int:
    """Delete the applied-writes records older than ``keep`` seconds, but none of a write still pending."""
    client: Any = rt.cache.client
    ph = _placeholder(rt)
    deleted = 0
    for w in writes:
        cutoff = time.time() - keep
        summary = client.xpending(rt.keyspace.stream_key(w.name), GROUP)
        if summary and summary.get("pending"):
            oldest = float(_text(summary["min"]).partition("-")[0]) / 1000
            cutoff = min(cutoff, oldest - CLOCK_MARGIN)
        deleted += rt.db.execute(
            f"DELETE FROM {APPLIED_TABLE} WHERE stream_id LIKE {ph} ESCAPE '!' AND applied_at < {ph}",
            (record_pattern(w.name), time.strftime(ISO, time.gmtime(cutoff))),
        )
    return deleted


def record_pattern(name: str) -> str:
    """The LIKE pattern (escape ``!``) of the applied-writes records of write ``name``."""
    return name.replace("!", "!!").replace("%", "!%").replace("_", "!_") + ":%"


def transient(error: BaseException) -> bool:
    """An error of Valkey or of the database that may pass: retried, with the entries in hand left pending."""
    if isinstance(error, (RetryLater, InvalidationError, DatabaseTimeout, OSError, valkey.ConnectionError, valkey.TimeoutError)):
        return True
    if isinstance(error, valkey.ResponseError):
        return any(word in str(error) for word in ("NOGROUP", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN"))
    seen: BaseException | None = error
    while seen is not None:
        if any(c.__name__ in ("OperationalError", "InterfaceError") for c in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _blocking_reader(rt: Runtime, block_ms: int) -> Any:
    """A client of its own for the blocking read, whose socket waits longer than the block."""
    if rt.config.cache_url.cluster:
        raise ConfigError(
            f"cache {rt.config.cache_url.redacted()}: the write-behind worker does not run on a Valkey Cluster yet"
            " (its blocking read spans every write's stream); use write: through, or a single Valkey server"
        )
    pool = rt.cache.client.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_timeout": block_ms / 1000 + 5.0}
    return valkey.Valkey(connection_pool=valkey.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def _own_or_claimed(rt: Runtime, write: WriteQuery, consumer: str, batch_size: int) -> list[Any]:
    client: Any = rt.cache.client
    pending = client.xreadgroup(GROUP, consumer, {rt.keyspace.stream_key(write.name): "0"}, count=batch_size)
    entries = pending[0][1] if pending and pending[0][1] else []
    if not entries:
        claimed = client.xautoclaim(rt.keyspace.stream_key(write.name), GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=batch_size)
        entries = claimed[1] if claimed and len(claimed) > 1 else []
    return list(entries)


def run_worker(
    rt: Runtime,
    writes: Sequence[WriteQuery],
    consumer: str = "worker-1",
    batch_size: int = 100,
    block_ms: int = 1000,
    max_idle_rounds: int | None = None,
    after_commit: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
    max_deliveries: int = MAX_DELIVERIES,
    keep_applied: float = KEEP_APPLIED,
) -> WorkerReport:
    """Apply queued writes until ``stop`` is set, or ``max_idle_rounds`` rounds in a row found nothing.

    A batch in hand is finished before stopping. An error of Valkey or of the database is
    logged and the round retried after a pause (0.5 s, doubling to 30 s): the entries in
    hand stay pending and are taken up again. Any other error is raised.
    """
    stopping = stop or threading.Event()
    total = WorkerReport()
    reader = _blocking_reader(rt, block_ms)
    ready = False
    idle = 0
    pause = BACKOFF_START
    swept_at = -SWEEP_EVERY
    failing = False
    try:
        while not stopping.is_set() and (max_idle_rounds is None or idle < max_idle_rounds):
            try:
                if not ready:
                    ensure_applied_table(rt)
                    ensure_groups(rt, writes)
                    ready = True
                if time.monotonic() - swept_at >= SWEEP_EVERY:
                    swept = sweep_applied(rt, writes, keep_applied)
                    swept_at = time.monotonic()
                    if swept:
                        log.info("deleted %d applied-write record(s) older than %g s", swept, keep_applied)
                worked = _round(rt, reader, writes, consumer, batch_size, block_ms, after_commit, max_deliveries, stopping, total)
            except Exception as e:
                if not transient(e):
                    raise
                log.warning("worker %s: %s: %s; retrying in %.1f s", consumer, type(e).__name__, " ".join(str(e).split()), pause)
                failing, ready = True, False
                stopping.wait(pause)
                pause = min(pause * 2, BACKOFF_MAX)
                continue
            if failing:
                log.warning("worker %s: working again", consumer)
                failing, pause = False, BACKOFF_START
            idle = 0 if worked else idle + 1
    finally:
        reader.close()
        reader.connection_pool.disconnect()
    return total


def _round(
    rt: Runtime,
    reader: Any,
    writes: Sequence[WriteQuery],
    consumer: str,
    batch_size: int,
    block_ms: int,
    after_commit: Callable[[], None] | None,
    max_deliveries: int,
    stopping: threading.Event,
    total: WorkerReport,
) -> bool:
    """One round: held and idle entries first, else a blocking read of new ones. True if it applied anything."""
    by_stream = {rt.keyspace.stream_key(w.name): w for w in writes}
    batches = [(w, entries) for w in writes if (entries := _own_or_claimed(rt, w, consumer, batch_size))]
    if not batches and not stopping.is_set():
        fresh: Any = reader.xreadgroup(GROUP, consumer, {rt.keyspace.stream_key(w.name): ">" for w in writes}, count=batch_size, block=block_ms)
        batches = [(by_stream[_text(stream)], entries) for stream, entries in fresh or [] if entries]
    for w, entries in batches:
        report = process_batch(rt, w, entries, after_commit, max_deliveries)
        total.add(report)
        log.debug("%s: applied %d, already applied %d, set aside %d", w.name, report.applied, report.skipped, report.dead)
    return bool(batches)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    name: str
    queued: int  # entries in the stream (acknowledged ones are trimmed)
    pending: int  # given to a worker, not yet acknowledged
    dead: int  # set aside in the dead letters, ever
    dead_kept: int  # of which still in the dead-letter stream


def queue_figures(client: Any, space: Keyspace | None = None) -> list[QueueFigures]:
    """Every write-behind queue a valkey-py ``client``'s server holds in namespace ``space``, with its
    dead letters (for ``flughafen-gen stats``); without one, those of every namespace (``cache status``:
    stopping the server loses them all), each named ``<namespace>/<write>``."""
    if space is None:
        spaces = sorted({_text(k).split(":")[1] for k in client.scan_iter(match=f"{PREFIX}:*:writes:*", count=500)})
        return [
            QueueFigures(f"{ns}/{q.name}", q.queued, q.pending, q.dead, q.dead_kept)
            for ns in spaces
            if NAMESPACE.match(ns)
            for q in queue_figures(client, keyspace(ns))
        ]
    counts = {_text(k): int(v) for k, v in client.hgetall(space.dead_counts).items()}
    names: set[str] = set(counts)
    for key in client.scan_iter(match=space.stream_prefix + "*", count=500, _type="stream"):
        name = _text(key).removeprefix(space.stream_prefix)
        names.add(name.removeprefix("~dead:"))
    figures = []
    for name in sorted(names):
        stream = space.stream_key(name)
        try:
            pending = int(client.xpending(stream, GROUP)["pending"])
        except valkey.ResponseError:  # no such stream or group
            pending = 0
        figures.append(QueueFigures(name, int(client.xlen(stream)), pending, counts.get(name, 0), int(client.xlen(space.dead_key(name)))))
    return figures
