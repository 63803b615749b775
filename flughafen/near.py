"""The near cache: an opt-in in-process copy of hot entries, dropped by Valkey's own invalidation messages.

Valkey's client-side caching support (CLIENT TRACKING, broadcasting mode;
https://valkey.io/topics/client-side-caching) sends a message for every
change to a key under a registered prefix. A runtime with near-cached
queries keeps two connections of its own, both owned by one daemon thread:

- the listener: ``SUBSCRIBE __redis__:invalidate``;
- the tracking connection: ``CLIENT TRACKING ON REDIRECT <listener> BCAST
  PREFIX fg:<ns>:<name>:`` per near-cached query, which covers its entries (every
  version), locks, stale copies and its generation key.

On a Valkey Cluster the thread keeps such a pair on every primary, and a
topology change drops every local copy (near_cluster.py).

The thread drops local copies as messages arrive. A null message (FLUSHALL),
an error or a closed socket on either connection, or a heartbeat left
unanswered flushes the whole near cache and turns it off until both
connections are back and every prefix is registered again: a local copy is
served only while Valkey is telling us about changes to it. Behind Sentinel,
so does a new primary: the runtime's own connections reaching another server
(``moved``), or the sentinels naming another one at a heartbeat (``primary``).

The race of a reader that read from Valkey just before a change, and stores
after the change's message was processed, is closed by an epoch: every
message and every in-process invalidation bumps it under the lock, and a
reader stores only if the epoch is the one it saw before its Valkey read
(check-and-store under the same lock). In-process invalidations (invalidate,
invalidate_all, tags, write-through) drop local copies before they return.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from weakref import WeakSet

from flughafen.keys import Keyspace

try:
    from valkey._parsers.libvalkey import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - libvalkey is a dependency
    _NOT_ENOUGH_DATA = object()

log = logging.getLogger("flughafen")

CHANNEL = "__redis__:invalidate"
HEARTBEAT = 1.0  # seconds between PINGs on both connections
RETRY_START = 0.1
RETRY_MAX = 2.0


class NearStore:
    """One query's local copies: key -> (value, monotonic deadline), least recently used first."""

    __slots__ = ("copy", "entries", "generation_key", "name", "size", "ttl")

    def __init__(self, name: str, generation_key: str, ttl: float, size: int, copy: bool):
        self.name = name
        self.generation_key = generation_key
        self.ttl = ttl
        self.size = size
        self.copy = copy  # list results are copied on the way out: callers may mutate them
        self.entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()


class TopologyChanged(Exception):
    """The nodes to track are no longer the ones tracked (a cluster's failover, a new primary)."""


class Link:
    """One node's two connections: the listener (subscribed to the invalidations) and the tracking connection."""

    __slots__ = ("listener", "listener_id", "node", "tracker")

    def __init__(self, node: str):
        self.node = node
        self.listener: Any = None
        self.tracker: Any = None
        self.listener_id = 0

    def close(self) -> None:
        for conn in (self.listener, self.tracker):
            if conn is not None:
                conn.disconnect()


class NearCache:
    """Per runtime: the stores of near-cached queries, the epoch, and the invalidation thread."""

    def __init__(self, make_connection: Any, url_text: str, keyspace: Keyspace):
        self._make_connection = make_connection
        self._url_text = url_text
        self.keyspace = keyspace  # the runtime's namespace: which keys it tracks
        self.lock = threading.Lock()
        self.epoch = 0
        self.stores: dict[str, NearStore] = {}  # replaced, never mutated in place, when the cache goes off
        self.wanted: dict[str, tuple[str, float, int, bool]] = {}  # name -> (generation key, ttl, size, copy)
        self._pending: set[str] = set()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._logged_down = False
        self.messages = 0  # invalidation messages received
        self.flushes = 0  # whole-cache flushes (null message, connection lost)
        self.pongs_owed = 0  # the listeners' answers to the last heartbeat's PINGs still to come
        self._reset = ""  # why the thread must connect again (reset), or empty
        # Behind Sentinel: the (host, port) of the primary now, asked at every heartbeat (on this thread).
        self.primary: Callable[[], tuple[str, int]] | None = None
        _INSTANCES.add(self)

    # ------------------------------------------------------------ readers

    def want(self, name: str, generation_key: str, ttl: float, size: int, copy: bool) -> None:
        """Ask for a store for ``name``; it appears in ``stores`` once its prefix is tracked."""
        with self.lock:
            if name in self.wanted or self._closed.is_set():
                return
            self.wanted[name] = (generation_key, ttl, size, copy)
            self._pending.add(name)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"flughafen-near {self._url_text}", daemon=True)
                self._thread.start()
                return
        self._wake()

    def put(self, store: NearStore, key: str, value: Any, expires_ms: int, epoch: int) -> None:
        """Keep ``value`` locally, unless anything was invalidated since the reader saw ``epoch``."""
        now = time.monotonic()
        deadline = now + min(store.ttl, expires_ms / 1000 - time.time())
        if deadline <= now:
            return
        with self.lock:
            if self.epoch != epoch or self.stores.get(store.name) is not store:
                return
            entries = store.entries
            entries[key] = (list(value) if store.copy else value, deadline)
            entries.move_to_end(key)
            if len(entries) > store.size:
                entries.popitem(last=False)

    # ------------------------------------------------------ invalidations

    def drop_keys(self, keys: list[str]) -> None:
        with self.lock:
            self.epoch += 1
            for key in keys:
                store = self.stores.get(self.keyspace.query_of(key))
                if store is not None:
                    store.entries.pop(key, None)

    def drop_queries(self, names: list[str]) -> None:
        with self.lock:
            self.epoch += 1
            for name in names:
                store = self.stores.get(name)
                if store is not None:
                    store.entries.clear()

    def _apply(self, keys: list[bytes] | None) -> None:
        """One invalidation message: the keys changed, or None for all (FLUSHALL)."""
        with self.lock:
            self.epoch += 1
            self.messages += 1
            if keys is None:
                self.flushes += 1
                for each in self.stores.values():
                    each.entries.clear()
                return
            for raw in keys:
                key = raw.decode("utf-8", "surrogateescape")
                store = self.stores.get(self.keyspace.query_of(key))
                if store is None:
                    continue
                if key.startswith(store.generation_key + ":"):  # its generation, in any bucket
                    store.entries.clear()
                else:
                    store.entries.pop(key, None)

    def _off(self) -> None:
        """Connection lost: nothing local may be served until tracking is back."""
        with self.lock:
            self.epoch += 1
            self.flushes += 1
            for store in self.stores.values():
                store.entries.clear()
            self.stores = {}
            self._pending = set(self.wanted)

    def reset(self, reason: str) -> None:
        """The servers changed under us (a cluster's topology): every local copy goes at once, and the
        thread connects again, to the nodes that serve now; reads go to Valkey meanwhile."""
        self._off()
        if self._thread is not None:
            self._reset = reason
            self._wake()

    def moved(self) -> None:
        """The primary changed (behind Sentinel, a failover): every local copy goes now, and tracking starts again on the new one."""
        self.reset("the primary changed")

    # ------------------------------------------------------------- thread

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        pause = RETRY_START
        while not self._closed.is_set():
            links: list[Link] = []
            try:
                self._reset = ""
                self._connect(links)
                if self._logged_down:
                    log.warning("near cache: tracking %s again", self._url_text)
                    self._logged_down = False
                pause = RETRY_START
                self._serve(links)
            except TopologyChanged as e:
                log.info("near cache: %s: local copies dropped, tracking again", e)
                pause = RETRY_START
            except Exception as e:  # noqa: BLE001 - any failure: flush, stay off, retry
                if not self._closed.is_set() and not self._logged_down:
                    log.warning(
                        "near cache: invalidations from %s lost (%s: %s); serving from Valkey until tracking is back", self._url_text, type(e).__name__, e
                    )
                    self._logged_down = True
            finally:
                self._off()
                for link in links:
                    link.close()
            self._closed.wait(pause)
            pause = min(pause * 2, RETRY_MAX)

    def _targets(self) -> list[str]:
        """The nodes to track: one server here (a cluster's primaries in near_cluster.py)."""
        return [self._url_text]

    def _open(self, node: str) -> Any:
        """A new connection to ``node`` (one of ``_targets``)."""
        return self._make_connection()

    def _connect(self, links: list[Link]) -> None:
        """A listener and a tracking connection per node, appended to ``links`` as they open (closed by the caller)."""
        for node in self._targets():
            link = Link(node)
            links.append(link)
            link.listener = self._open(node)
            link.listener.send_command("CLIENT", "ID")
            link.listener_id = int(link.listener.read_response())
            link.listener.send_command("SUBSCRIBE", CHANNEL)
            link.listener.read_response()
            link.tracker = self._open(node)
            link.tracker.connect()
            if _address(link.listener) != _address(link.tracker):  # behind Sentinel, a failover between the two connects
                raise ConnectionError(f"the listener reached {_address(link.listener)}, the tracking connection {_address(link.tracker)}")

    def _register(self, links: list[Link]) -> None:
        with self.lock:
            names = sorted(self._pending)
            self._pending = set()
        if not names:
            return
        for link in links:  # every node tracks every prefix before a store appears
            args: list[Any] = ["CLIENT", "TRACKING", "ON", "REDIRECT", link.listener_id, "BCAST"]
            for name in names:
                args += ["PREFIX", self.keyspace.query_prefix(name)]
            link.tracker.send_command(*args)
        for link in links:
            link.tracker.read_response()
        with self.lock:
            if self._reset:
                raise TopologyChanged(self._reset)
            self.epoch += 1  # reads that began before the prefix was tracked may not store
            stores = dict(self.stores)
            for name in names:
                generation_key, ttl, size, copy = self.wanted[name]
                stores[name] = NearStore(name, generation_key, ttl, size, copy)
            self.stores = stores

    def _check(self, links: list[Link]) -> None:
        """At each heartbeat, after the PINGs: that the nodes tracked are still the ones to track (behind Sentinel, the
        primary the sentinels name; a cluster's primaries in near_cluster.py)."""
        if self.primary is not None:
            primary = self.primary()
            for link in links:
                if _address(link.tracker) != primary:
                    raise TopologyChanged(f"the sentinels name another primary than {_address(link.tracker)}")

    def _serve(self, links: list[Link]) -> None:
        self.pongs_owed = 0
        next_beat = time.monotonic() + HEARTBEAT
        self._register(links)
        listeners = {link.listener._sock: link.listener for link in links}
        trackers = {link.tracker._sock: link.tracker for link in links}
        watched = [*listeners, *trackers, self._wake_r]
        while not self._closed.is_set():
            timeout = max(0.0, next_beat - time.monotonic())
            ready, _, _ = select.select(watched, [], [], timeout)
            for sock in ready:
                listener = listeners.get(sock)
                if listener is not None:
                    self._drain(listener)
            if self._wake_r in ready:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                if self._reset:
                    raise TopologyChanged(self._reset)
                self._register(links)
            for sock in ready:
                tracker = trackers.get(sock)
                if tracker is not None and tracker.can_read(timeout=0):
                    raise ConnectionError("unexpected data on the tracking connection")
            if time.monotonic() >= next_beat:
                if self.pongs_owed > 0:
                    raise TimeoutError(f"no answer to a PING within {HEARTBEAT} s")
                self.pongs_owed = len(links)
                for link in links:
                    link.listener.send_command("PING")
                for link in links:
                    link.tracker.send_command("PING")
                for link in links:
                    link.tracker.read_response()
                self._check(links)
                next_beat = time.monotonic() + HEARTBEAT

    def _drain(self, listener: Any) -> None:
        """Every message the listener has: as little work per wake-up as may be, since the
        reader threads wait for the GIL meanwhile (libvalkey's reader, no per-call layers)."""
        parser = listener._parser
        reader = getattr(parser, "_reader", None)
        message = parser.read_response()
        while True:
            if isinstance(message, list) and message:
                if message[0] == b"message":
                    self._apply(message[2])
                elif message[0] == b"pong":
                    self.pongs_owed -= 1
            elif isinstance(message, Exception):
                raise message
            if reader is None:  # no libvalkey: the portable, slower way
                if not listener.can_read(timeout=0):
                    return
                message = parser.read_response()
                continue
            message = reader.gets()
            if message is _NOT_ENOUGH_DATA:
                sock = listener._sock
                if not (hasattr(sock, "pending") and sock.pending()):  # TLS may hold decrypted bytes
                    return
                message = parser.read_response()

    def close(self) -> None:
        self._closed.set()
        self._wake()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=2)
        self._off()
        self._wake_r.close()
        self._wake_w.close()


def _address(conn: Any) -> tuple[str, int] | str:
    """Where a connection goes: (host, port), or its unix socket's path."""
    path = getattr(conn, "path", None)
    return path if isinstance(path, str) and path else (conn.host, int(conn.port))


_INSTANCES: WeakSet[NearCache] = WeakSet()


def _after_fork_in_child() -> None:
    """A forked child has no invalidation thread: its copies are dropped, and tracking restarts on first use."""
    for near in list(_INSTANCES):
        near.lock = threading.Lock()
        near.epoch += 1
        near.stores = {}
        near.wanted = {}
        near._pending = set()
        near._thread = None
        near._wake_r, near._wake_w = socket.socketpair()
        near._wake_r.setblocking(False)


os.register_at_fork(after_in_child=_after_fork_in_child)
