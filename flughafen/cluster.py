"""The Valkey side of a runtime on a Valkey Cluster (``valkey+cluster://``): each command to the node of its slot.

Every key the runtime builds lives in a bucket, a hash tag (keys.py), so every
command and script touches one slot. A thread keeps one connection per node;
a command goes to the node serving its bucket's slot (the slot map of
valkey-py's ValkeyCluster, which also carries invalidations' scripts loading
and the eviction check). A pipeline (``pipelined``: batch reads, warming,
invalidations) is split per node, sent to every node at once, and returns when
every node answered. MOVED or ASK (a slot moved): the slot map is reloaded and
the command sent once more, to the node that serves it now. A node that fails
fails the read over to the database (fail-open, health.py) and the slot map is
reloaded before the next command, so reads find the replica that took over.

The near cache tracks every primary (near_cluster.py); a topology change the
commands meet (``moved``) drops every local copy and makes it track again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import valkey
from libvalkey import pack_command as _pack
from valkey.cluster import ClusterNode, ValkeyCluster
from valkey.crc import key_slot
from valkey.exceptions import AskError, ClusterDownError, ReadOnlyError, TryAgainError

from flughafen.cache import CacheState
from flughafen.config import CacheUrl
from flughafen.keys import Keyspace
from flughafen.near import NearCache
from flughafen.near_cluster import ClusterNearCache, node_opener
from flughafen.replicas import Replicas
from flughafen.scripts import Script
from flughafen.tls import cluster_kwargs

log = logging.getLogger("flughafen")

REDIRECTS = ("MOVED ", "ASK ")  # a slot served elsewhere now (or in the middle of moving)


def redirected(error: object) -> bool:
    """Whether a reply is a redirection: MOVED or ASK (valkey-py's cluster parser makes them MovedError
    and AskError, their message without the word)."""
    return isinstance(error, AskError) or (isinstance(error, valkey.exceptions.ResponseError) and str(error).startswith(REDIRECTS))


def topology_changing(error: BaseException) -> bool:
    """A node answering that the cluster is changing under it: a failover, a slot half moved (CLUSTERDOWN, MASTERDOWN,
    TRYAGAIN, READONLY; valkey-py's parsers make most of them exceptions of their own, their message without the word)."""
    return isinstance(error, (ClusterDownError, TryAgainError, ReadOnlyError)) or str(error).startswith(("CLUSTERDOWN", "TRYAGAIN", "READONLY", "MASTERDOWN"))


class InOrderCluster(ValkeyCluster):
    """valkey-py's cluster client, which first reads the replies of the calling thread's deferred fills (see cache.InOrder)."""

    def __init__(self, settle: Any, **kwargs: Any):
        self._settle = settle  # first: the constructor already sends commands
        super().__init__(**kwargs)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self._settle()
        return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        self._settle()  # multi-key commands (EXISTS, DELETE, MGET) run as pipelines too
        return super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]


def key_of(command: tuple[Any, ...]) -> str:
    """The first key of a command the runtime sends (a script's first KEYS item)."""
    if command[0] == "EVALSHA":
        return command[2][0] if isinstance(command[1], Script) else command[3]  # type: ignore[no-any-return]
    return command[1]  # type: ignore[no-any-return]


def routed_by(key: str) -> str:
    """What places ``key`` in a slot, braces included: its bucket, or the whole key when it has none (a write-behind stream, say).

    >>> routed_by("fg:shop:a:0a1b:{16.9}:airport:JFK"), routed_by("fg:shop:stream")
    ('{16.9}', '{fg:shop:stream}')
    """
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return key[start : end + 1] if end > start + 1 else "{" + key + "}"


def slot_of(routed: str) -> int:
    """The hash slot of a ``routed_by`` result."""
    return key_slot(routed[1:-1].encode())


class ClusterCacheState(CacheState):
    """CacheState on a Valkey Cluster: per-thread connections per node, commands routed by slot."""

    def _client(self, url: CacheUrl, socket_timeout: float, project_dir: Path | None) -> Any:
        self._routes: dict[str, str] = {}  # bucket (hash tag) -> name of the node serving its slot
        self._routes_lock = threading.Lock()
        self._stale_map = False  # a node failed: reload the slot map before the next command
        kwargs: dict[str, Any] = {"username": url.username, "password": url.password, **cluster_kwargs(url)}
        self._cluster: Any = None
        self._making = threading.Lock()
        self._make: Callable[[], Any] = lambda: InOrderCluster(
            self.settle,
            startup_nodes=[ClusterNode(host, port) for host, port in url.nodes],  # type: ignore[no-untyped-call]
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=0,
            **kwargs,
        )
        return None  # made at its first use (the client property)

    @property
    def client(self) -> Any:
        """valkey-py's cluster client, made (the slot map read) when first needed: a runtime starts while the
        cluster is down or refuses its user, and its reads fail open to the database until the cluster answers."""
        cluster = self._cluster
        if cluster is None:
            with self._making:
                if self._cluster is None:
                    self._cluster = self._make()
                cluster = self._cluster
        return cluster

    @client.setter
    def client(self, value: Any) -> None:
        self._cluster = value

    def close(self) -> None:
        if self._cluster is None:
            self._cluster = _Unmade()  # nothing to close, and nothing to connect now
        super().close()

    def _make_replicas(self) -> Replicas:
        return Replicas(self.url, self.socket_timeout, self._replicas_of, readonly=True)

    def _replicas_of(self, key: str) -> tuple[str, None]:
        """The node serving ``key``'s slot; its replicas are those it lists online itself (INFO replication):
        the slot map is loaded once and reloaded after a failure, so it misses a replica that joined later."""
        return self._node_of(key), None

    def _near_cache(self, url: CacheUrl, socket_timeout: float, keyspace: Keyspace) -> NearCache:
        return ClusterNearCache(node_opener(url, socket_timeout), url, keyspace)

    def eviction_risk(self) -> str | None:
        try:
            return super().eviction_risk()
        except Exception as e:  # noqa: BLE001 - a check, never a failure
            log.debug("cache %s: cannot read its eviction policy (%s)", self.url.redacted(), e)
            return None

    # ------------------------------------------------------------ routing

    def _node_of(self, key: str) -> str:
        """The node serving ``key``'s slot: its bucket's (a key without a bucket, a write-behind stream say, is its own)."""
        bucket = routed_by(key)
        name = self._routes.get(bucket)
        if name is None or self._stale_map:
            name = self._route(bucket)
        return name

    def _route(self, bucket: str) -> str:
        with self._routes_lock:
            if self._stale_map:
                self._stale_map = False
                self._routes.clear()
                self.client.nodes_manager.initialize()
            node = self.client.nodes_manager.get_node_from_slot(slot_of(bucket))
            self._routes[bucket] = node.name
            return node.name  # type: ignore[no-any-return]

    def moved(self) -> None:
        """The cluster's topology changed (a redirection, a node failing): reload the slot map before the next command,
        and drop the near cache's copies (it tracks the primaries that serve then)."""
        self._stale_map = True
        self.near.reset("the cluster's topology changed")

    def _conns(self) -> dict[str, Any]:
        conns: dict[str, Any] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
            self._local.markers = {}
        return conns

    def _node_conn(self, name: str) -> Any:
        conns = self._conns()
        conn = conns.get(name)
        if conn is None:
            node = self.client.get_node(node_name=name)
            pool = self.client.get_valkey_connection(node).connection_pool
            conn, marker = self._adopt(pool.make_connection)
            conn.fg_node = name
            conns[name], self._local.markers[name] = conn, marker
        return conn

    def _conn_of(self, args: tuple[Any, ...]) -> Any:
        return self._node_conn(self._node_of(key_of(args)))

    def _conn_for(self, key: str) -> Any:
        return self._node_conn(self._node_of(key))

    def _connection(self) -> Any:
        raise TypeError("a cluster cache has a connection per node: use _conn_for(key)")

    # ------------------------------------------------------------ commands

    def _load(self, script: Script) -> None:
        """Loads a script on every primary (valkey-py's cluster client sends SCRIPT LOAD to each)."""
        self.client.script_load(script.source)
        self._loaded.add(script.sha)

    def call(self, *args: Any) -> Any:
        """One command on this thread's connection to the node of its slot; sent once more after a redirection."""
        try:
            return super().call(*args)
        except valkey.exceptions.ResponseError as e:
            if redirected(e):
                self.moved()
                return super().call(*args)
            if topology_changing(e):
                self.moved()
            raise
        except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError, OSError):
            self.moved()
            raise

    def _send_all(self, commands: Any, wait: bool = False) -> list[Any]:
        """Every command to the node of its slot: one pipeline per node, all sent before any reply is read
        (``wait``: each with a WAIT at its end). Commands a redirection answered are sent once more, the slot map reloaded."""
        replies = self._send_per_node(list(commands), wait)
        again = [i for i, r in enumerate(replies) if redirected(r)]
        if again:
            self.moved()
            for i, reply in zip(again, self._send_per_node([commands[i] for i in again], wait), strict=True):
                replies[i] = reply
        if any(isinstance(r, valkey.exceptions.ResponseError) and topology_changing(r) for r in replies):
            self.moved()
        return replies

    def _send_per_node(self, commands: list[tuple[Any, ...]], wait: bool = False) -> list[Any]:
        groups: dict[str, list[int]] = {}
        for i, command in enumerate(commands):
            groups.setdefault(self._node_of(key_of(command)), []).append(i)
        conns = {name: self._node_conn(name) for name in groups}
        needed = {name: self._replicas_needed(conn) for name, conn in conns.items()} if wait else {}
        replies: list[Any] = [None] * len(commands)
        acks: dict[str, Any] = {}
        reruns: list[Any] = []
        answered = []
        try:
            for name, at in groups.items():
                conn = conns[name]
                if conn._sock is None:
                    conn.connect()
                batch = b"".join(_pack(_packed(commands[i])) for i in at)
                if needed.get(name):
                    batch += _pack(("WAIT", needed[name], self.wait_timeout_ms))  # each node's replicas, all waited for at once
                conn._sock.sendall(batch)
            for name, at in groups.items():
                conn = conns[name]
                if conn.fg_unanswered:
                    reruns += self._answers(conn)
                    answered.append(conn)
                for i in at:
                    replies[i] = conn._parser.read_response()
                if needed.get(name):
                    acks[name] = conn._parser.read_response()
        except BaseException:
            for conn in conns.values():
                self._drop(conn)
            self.moved()
            raise
        for conn in answered:
            self._settled(conn, [])
        if reruns:
            self._refill(reruns)
        for name, acked in acks.items():
            if all(redirected(replies[i]) for i in groups[name]):
                continue  # the node is a replica now: every command is sent again, with its WAIT, where the reply points
            self._confirmed(conns[name], acked, needed[name])
        return replies

    # ------------------------------------------------------------ this thread's connections

    def _own_conns(self) -> Iterable[Any]:
        return list(getattr(self._local, "conns", {}).values())

    def settle(self, conn: Any = None) -> None:
        """Reads the replies of the deferred fills a connection owes (every connection of this thread by default)."""
        if conn is not None:
            super().settle(conn)
            return
        for each in self._own_conns():
            super().settle(each)

    def unanswered(self) -> int:
        return sum(len(c.fg_unanswered) for c in self._own_conns())

    def _drop(self, conn: Any) -> None:
        conn.disconnect()
        conn.fg_unanswered = []
        conns = getattr(self._local, "conns", None)
        name = getattr(conn, "fg_node", None)
        if conns is not None and conns.get(name) is conn:
            del conns[name]
            self._local.markers.pop(name, None)


class _Unmade:
    """The client of a runtime closed before its first command."""

    def close(self) -> None:
        pass


def _packed(command: tuple[Any, ...]) -> tuple[Any, ...]:
    if command[0] == "EVALSHA" and isinstance(command[1], Script):
        return ("EVALSHA", command[1].sha, len(command[2]), *command[2], *command[3])
    return command
