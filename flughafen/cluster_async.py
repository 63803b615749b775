"""The Valkey side of an AsyncRuntime on a Valkey Cluster (``valkey+cluster://``): a pipelined connection per node.

As cluster.py for the sync runtime: every key lives in a bucket (a hash tag,
keys.py), so every command and script touches one slot, and goes to the node
serving it, on that node's one pipelined connection (cache_async.Connection,
shared by every task). The slot map comes from CLUSTER SLOTS at the first
command and again after a MOVED reply or a node failing (the commands that
follow wait for it). A MOVED command is sent once more, to the node the reply
names; an ASK one to the node it names, behind ASKING. A pipeline (batch reads,
warming, an invalidation over every bucket) is split per node, every node's
part sent at once; it returns when every node answered, or raises. A node that
fails fails reads over to the database (fail-open, health.py); the reload finds
the replica that took over.

The near cache tracks every primary (near_cluster.py, on a thread and sync
connections of its own); a topology change the commands meet (``moved``) drops
every local copy and makes it track again.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from libvalkey import pack_command as _pack
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import NoScriptError, ResponseError

from flughafen.cache_async import MAX_IN_FLIGHT, AsyncCacheState, Connection, forget, open_connection
from flughafen.cluster import REDIRECTS, key_of, redirected, routed_by, slot_of
from flughafen.config import CacheUrl
from flughafen.keys import Keyspace
from flughafen.metrics import Counters
from flughafen.near import NearCache
from flughafen.near_cluster import ClusterNearCache, node_opener
from flughafen.replicas_async import AsyncReplicas
from flughafen.scripts import Script

log = logging.getLogger("flughafen")

SLOTS = 16384


class AsyncClusterCacheState(AsyncCacheState):
    """AsyncCacheState on a Valkey Cluster (see the module's docstring)."""

    def __init__(
        self,
        url: CacheUrl,
        socket_timeout: float = 0.25,
        near_cache: bool = True,
        defer_fills: bool = True,
        max_in_flight: int = MAX_IN_FLIGHT,
        project_dir: Path | None = None,
        *,
        keyspace: Keyspace,
    ):
        super().__init__(url, socket_timeout, near_cache, defer_fills, max_in_flight, project_dir, keyspace=keyspace)
        self._seeds = [f"{host}:{port}" for host, port in url.nodes]
        self._owners: list[str] = []  # slot -> "host:port" of the primary serving it (empty: not read yet)
        self._slots: dict[str, int] = {}  # routed_by(key) -> its slot (buckets are few)
        self._nodes: dict[str, Connection] = {}  # "host:port" -> its open connection
        self._opening: dict[str, asyncio.Future[Connection]] = {}
        self._reloading: asyncio.Future[None] | None = None
        self._stale_map = True

    def _near_cache(self, url: CacheUrl, socket_timeout: float, keyspace: Keyspace) -> NearCache:
        return ClusterNearCache(node_opener(url, socket_timeout), url, keyspace)

    # ------------------------------------------------------------ the slot map

    def moved(self) -> None:
        """The cluster's topology changed (a redirection, a node failing): the slot map is read again before the next command,
        and the near cache's copies dropped (it tracks the primaries that serve then)."""
        self._stale_map = True
        self.near.reset("the cluster's topology changed")

    def failed(self, error: BaseException, counters: Counters | None = None) -> None:
        self.moved()
        super().failed(error, counters)

    def _refused(self, key: str, error: Exception) -> None:
        if str(error).startswith(REDIRECTS):
            self.moved()  # a fill sent to a node that no longer serves its slot: a later miss fills it
        super()._refused(key, error)

    async def _slot_map(self) -> None:
        """Reads the slot map (callers that come meanwhile share the reading)."""
        if self._reloading is None or self._reloading.get_loop() is not asyncio.get_running_loop():
            self._reloading = asyncio.ensure_future(self._read_slot_map())
        reloading = self._reloading
        try:
            await asyncio.shield(reloading)
        finally:
            if reloading.done() and self._reloading is reloading:
                self._reloading = None

    async def _read_slot_map(self) -> None:
        """CLUSTER SLOTS from the first node that answers: the nodes known, then the URL's."""
        error: BaseException = ValkeyConnectionError("no node to ask")
        for name in dict.fromkeys([*self._nodes, *self._seeds]):
            try:
                conn = await self._node(name)
                reply = await asyncio.wait_for(conn.request(_pack(("CLUSTER", "SLOTS"))), self.socket_timeout)
            except (ValkeyConnectionError, OSError, TimeoutError) as e:
                error = e
                continue
            if isinstance(reply, ResponseError):
                error = reply
                continue
            self._owners, self._stale_map = owners(reply, name.rsplit(":", 1)[0]), False
            if not self._eviction_checked:
                self._eviction_checked = True
                risk = await self.eviction_risk()
                if risk:
                    log.warning(risk)
            return
        raise error

    # ------------------------------------------------------------ connections

    async def _node(self, name: str) -> Connection:
        """The open connection to node ``name``, made if need be (callers that come meanwhile share the attempt)."""
        conn = self._nodes.get(name)
        if conn is not None and conn.lost is None and conn.loop is asyncio.get_running_loop():
            return conn
        opening = self._opening.get(name)
        if opening is None or opening.get_loop() is not asyncio.get_running_loop():
            opening = self._opening[name] = asyncio.ensure_future(self._open_node(name))
        try:
            return await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening.get(name) is opening:
                del self._opening[name]

    async def _open_node(self, name: str) -> Connection:
        host, port = name.rsplit(":", 1)
        conn = await open_connection(self._kwargs, host, int(port), self.socket_timeout, self.max_in_flight)
        old, self._nodes[name] = self._nodes.get(name), conn
        if old is not None and old.lost is None:
            old.close(ValkeyConnectionError("replaced"))
        return conn

    def _owner(self, key: str) -> str:
        routed = routed_by(key)
        slot = self._slots.get(routed)
        if slot is None:
            slot = self._slots[routed] = slot_of(routed)
        name = self._owners[slot]
        if not name:
            raise ValkeyConnectionError(f"no node of the cluster serves slot {slot}")
        return name

    def _open(self, key: str) -> Connection | None:
        if self._stale_map:
            return None
        conn = self._nodes.get(self._owner(key))
        return conn if conn is not None and conn.lost is None else None

    async def _conn_with_room(self, key: str | None = None) -> Connection:
        """The connection to the node serving ``key``'s slot (any node without a key), once it has room for one more."""
        if self._stale_map:
            await self._slot_map()
        try:
            return await self._room_on(self._owner(key) if key is not None else self._owners[0])
        except (ValkeyConnectionError, OSError, TimeoutError):
            self.moved()
            raise

    # ------------------------------------------------------------ commands

    async def call(self, *args: Any) -> Any:
        """One command, to the node of its first key's slot; its reply (an error reply raised)."""
        packed = _pack(args)
        conn = None if len(args) < 2 else self._open(args[1])
        if conn is None or len(conn.waiting) >= self.max_in_flight or conn.loop is not asyncio.get_running_loop():
            conn = await self._conn_with_room(args[1] if len(args) > 1 else None)
        try:
            reply = await conn.request(packed)
        except (ValkeyConnectionError, OSError, TimeoutError):
            self.moved()
            raise
        if isinstance(reply, ResponseError) and str(reply).startswith(REDIRECTS):
            reply = await self._redirected(reply, args)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def script(self, script: Script | str, keys: list[str], args: list[Any]) -> Any:
        """A script, to the node of its first key's slot (AsyncCacheState.script), sent once more after a redirection."""
        try:
            return await super().script(script, keys, args)
        except (ValkeyConnectionError, OSError, TimeoutError):
            self.moved()
            raise
        except ResponseError as e:
            if not str(e).startswith(REDIRECTS):
                raise
            reply = await self._redirected(e, ("EVALSHA", self._script_of(script), keys, args))
            if isinstance(reply, ResponseError):
                raise reply from None
            return reply

    async def _redirected(self, error: ResponseError, command: tuple[Any, ...]) -> Any:
        """A command answered MOVED or ASK, sent once more to the node the reply names: after MOVED the slot map is
        read again; ASK is for this one command (its slot is moving), sent right behind ASKING."""
        kind, _slot, address = str(error).split()
        if kind == "MOVED":
            self.moved()
            await self._slot_map()
        conn = await self._node(address)
        script = command[1] if command[0] == "EVALSHA" else None
        if isinstance(script, Script) and script.sha not in conn.loaded:
            conn.send(_pack(("SCRIPT", "LOAD", script.source)), _ignore)
            conn.loaded.add(script.sha)
        if kind == "ASK":
            conn.send(_pack(("ASKING",)), _ignore)
        (reply,) = await self._exchange(conn, [command])
        return reply

    async def pipelined(self, *commands: tuple[Any, ...], wait: bool = False) -> list[Any]:
        """Every command to the node of its slot: one pipeline per node, all sent at once (AsyncCacheState.pipelined);
        a redirected command sent once more. ``wait``: each node's part ends with a WAIT, and its replicas must
        confirm it (cache_wait_replicas). Returns when every node answered; raises the first error."""
        wait = wait and self.waits
        if self._stale_map:
            await self._slot_map()
        groups: dict[str, list[int]] = {}
        for i, command in enumerate(commands):
            groups.setdefault(self._owner(key_of(command)), []).append(i)
        parts = []
        try:
            for name, at in groups.items():
                part = [commands[i] for i in at]
                conn = self._nodes.get(name)
                if conn is None or conn.lost is not None or len(conn.waiting) >= self.max_in_flight or conn.loop is not asyncio.get_running_loop():
                    conn = await self._room_on(name)
                needed = await self._replicas_needed(conn) if wait else 0
                if needed:
                    part.append(("WAIT", needed, self.wait_timeout_ms))  # each node's replicas, all waited for at once
                parts.append((at, conn, part, needed, self._sent(conn, part)))
        except BaseException:
            for *_, futures in parts:
                forget(futures)
            self.moved()
            raise
        replies: list[Any] = [None] * len(commands)
        failure: BaseException | None = None
        for at, conn, part, needed, futures in parts:
            if failure is not None:
                forget(futures)
                continue
            try:
                answers = await self._replies(conn, part, futures)
                if needed:
                    acked = answers.pop()
                    if any(f.done() and not f.cancelled() and isinstance(f.result(), NoScriptError) for f in futures):
                        acked = await conn.request(_pack(part[-1]))  # scripts run again after the first WAIT
                    if not all(redirected(a) for a in answers):
                        self._confirmed(conn, acked, needed)  # (every command redirected: the node is a replica now; confirmed where they go)
                for i, reply in zip(at, answers, strict=True):
                    replies[i] = reply
            except BaseException as e:  # noqa: BLE001 - raised below, once every node's part is dealt with
                failure = e
        if failure is not None:
            self.moved()
            raise failure
        for i, reply in enumerate(replies):
            if isinstance(reply, ResponseError) and str(reply).startswith(REDIRECTS):
                replies[i] = await self._redirected(reply, commands[i])
                if wait:
                    await self._confirm_on(await self._node(str(reply).split()[2]))
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    async def _confirm_on(self, conn: Connection) -> None:
        """A WAIT on ``conn`` alone (a command sent there after its pipeline's WAIT: a redirected one)."""
        needed = await self._replicas_needed(conn)
        if needed:
            self._confirmed(conn, await conn.request(_pack(("WAIT", needed, self.wait_timeout_ms))), needed)

    async def _room_on(self, name: str) -> Connection:
        """The connection to node ``name``, once it has room for one more command."""
        conn = await self._node(name)
        await conn.room(self.max_in_flight)
        return conn

    # ------------------------------------------------------------ every node

    def _open_nodes(self) -> list[Connection]:
        return [c for c in self._nodes.values() if c.lost is None]

    def in_flight(self) -> int:
        """Commands sent and not answered yet, on every node's connection."""
        return sum(len(c.waiting) for c in self._nodes.values())

    async def settle(self) -> None:
        """Waits for the replies of every command sent so far, on every node (a PING behind them)."""
        pings = [c.request(_pack(("PING",))) for c in self._open_nodes() if c.waiting and c.loop is asyncio.get_running_loop()]
        for reply in await asyncio.gather(*pings, return_exceptions=True):
            if isinstance(reply, Exception):
                self.failed(reply)  # the fills' fate is unknown; their locks expire

    _replicas: AsyncReplicas | None = None

    async def replica_read(self, read: Any, key: str, bound_ms: int) -> Any:
        """A hit's read (cache: replica_reads) from a replica of its slot's primary, or None: the primary answers (replicas_async.py)."""
        replicas = self._replicas
        if replicas is None:
            replicas = self._replicas = AsyncReplicas(self.url, self._kwargs, self.socket_timeout, self.max_in_flight, self._primary_of)
        return await replicas.read(read, key, bound_ms)

    def _primary_of(self, key: str) -> str | None:
        return None if self._stale_map else self._owner(key)

    async def close(self) -> None:
        """Waits for the replies still owed, then closes every node's connection."""
        self.near.close()
        await self.settle()
        if self._replicas is not None:
            self._replicas.close()
        for conn in self._open_nodes():
            conn.close(ValkeyConnectionError("the runtime closed"))
        self._nodes.clear()


def owners(reply: list[Any], default_host: str) -> list[str]:
    """Slot -> ``host:port`` of its primary, from a CLUSTER SLOTS reply (a node that names no host is ``default_host``).

    >>> owners([[0, 1, [b"10.0.0.1", 7000, b"id"]], [2, 3, [b"", 7001, b"id"]]], "h")[:4]
    ['10.0.0.1:7000', '10.0.0.1:7000', 'h:7001', 'h:7001']
    """
    table = [""] * SLOTS
    for start, end, primary, *_replicas in reply:
        host = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        name = f"{host or default_host}:{primary[1]}"
        table[start : end + 1] = [name] * (end + 1 - start)
    return table


def _ignore(reply: Any) -> None:
    """ASKING's reply: the command behind it says whether it worked."""
