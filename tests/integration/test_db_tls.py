"""TLS options of database URLs against real servers that speak TLS: a MariaDB and a PostgreSQL of
the test's own, started on free ports with a certificate signed by a test CA."""

from __future__ import annotations

import os
import shutil
import socket
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flughafen import ConfigError, Database
from tests.integration.conftest import opened

MARIADB = ("mariadb-install-db", "/usr/sbin/mariadbd")


def _missing(what: str) -> None:
    message = f"{what} is needed for the TLS tests (apt-get install mariadb-server postgresql openssl)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 20) -> None:
    """Until the server at ``url`` answers (in plain text)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with opened(url + ("?ssl_mode=DISABLED" if url.startswith("mysql") else "?sslmode=disable")) as db:
                db.query("SELECT 1")
            return
        except Exception:  # not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, all signed by the CA."""
    if shutil.which("openssl") is None:
        _missing("openssl")
    folder = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(args, cwd=folder, check=True, capture_output=True)

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=flughafen-test-ca")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("server", "localhost"), ("client", "fg_x509")):
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        run(
            "openssl",
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        )
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=another-ca")
    return folder


@pytest.fixture(scope="session")
def mariadb_tls(certificates: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL (no options) of a MariaDB of our own that offers TLS."""
    if shutil.which(MARIADB[0]) is None or not Path(MARIADB[1]).exists():
        _missing("MariaDB (mariadb-install-db, mariadbd)")
    data = tmp_path_factory.mktemp("mariadb-tls")
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [MARIADB[0], "--no-defaults", f"--datadir={data / 'db'}", *user, "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            MARIADB[1], "--no-defaults", f"--datadir={data / 'db'}", *user, f"--port={port}", "--bind-address=127.0.0.1",
            f"--socket={data / 'mysqld.sock'}", f"--pid-file={data / 'mysqld.pid'}", f"--log-error={data / 'error.log'}",
            f"--ssl-ca={certificates / 'ca.crt'}", f"--ssl-cert={certificates / 'server.crt'}", f"--ssl-key={certificates / 'server.key'}",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"mysql://root@127.0.0.1:{port}/mysql"
    try:
        _wait(url)
        with opened(url + "?ssl_mode=DISABLED") as db:
            db.execute("CREATE USER fg_x509@'%%' REQUIRE X509")  # '%%': SQL is formatted, as generated SQL is
            db.execute("GRANT SELECT ON mysql.* TO fg_x509@'%%'")
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="session")
def postgres_tls(certificates: Path) -> Iterator[str]:
    """The URL (no options) of a PostgreSQL of our own with ssl = on."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not binaries:
        _missing("PostgreSQL (initdb, postgres)")
    bin_dir = binaries[-1]
    folder = Path(tempfile.mkdtemp(prefix="flughafen-postgres-tls-"))  # not under pytest's folder, which only we may enter
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    for name in ("server.crt", "server.key"):
        shutil.copy(certificates / name, folder / name)
        os.chmod(folder / name, 0o600)
    if as_postgres:
        shutil.chown(folder, "postgres")
        for name in ("server.crt", "server.key"):
            shutil.chown(folder / name, "postgres")
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [
            *as_postgres, str(bin_dir / "postgres"), "-D", str(folder / "data"), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={folder}", "-c", "ssl=on",
            "-c", f"ssl_cert_file={folder / 'server.crt'}", "-c", f"ssl_key_file={folder / 'server.key'}",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait(url)
        yield url
    finally:
        pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)  # the server we started (runuser's child)
        server.wait(30)
        shutil.rmtree(folder)


def _encrypted(db: Database) -> str:
    if db.dialect == "mysql":
        return str(db.query("SHOW SESSION STATUS LIKE 'Ssl_version'")[0][1])
    return "TLS" if db.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [(True,)] else ""


@pytest.mark.parametrize(
    "options",
    [
        "ssl_mode=VERIFY_IDENTITY&ssl_ca={ca}",
        "ssl_mode=VERIFY_CA&ssl_ca={ca}",
        "ssl_ca={ca}",
        "ssl_mode=REQUIRED",
        "ssl_verify_cert=true&ssl_verify_identity=true&ssl_ca={ca}",
    ],
)
def test_mysql_tls_options_encrypt_and_verify(mariadb_tls: str, certificates: Path, options: str) -> None:
    with opened(f"{mariadb_tls}?" + options.format(ca=certificates / "ca.crt")) as db:
        assert _encrypted(db).startswith("TLS")


@pytest.mark.parametrize("options", ["ssl_mode=VERIFY_CA&ssl_ca={other}", "ssl_ca={other}", "ssl_mode=VERIFY_CA"])
def test_mysql_a_certificate_signed_by_another_ca_is_refused(mariadb_tls: str, certificates: Path, options: str) -> None:
    with opened(f"{mariadb_tls}?" + options.format(other=certificates / "other-ca.crt")) as db, pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        db.query("SELECT 1")


def test_mysql_a_client_certificate_logs_in_a_user_that_requires_one(mariadb_tls: str, certificates: Path) -> None:
    url = mariadb_tls.replace("root@", "fg_x509@")
    ca, cert, key = (certificates / n for n in ("ca.crt", "client.crt", "client.key"))
    with opened(f"{url}?ssl_ca={ca}&ssl_cert={cert}&ssl_key={key}") as db:
        assert db.query("SELECT CURRENT_USER()") == [("fg_x509@%",)]
    with opened(f"{url}?ssl_ca={ca}") as without, pytest.raises(Exception, match="Access denied"):
        without.query("SELECT 1")
    with pytest.raises(ConfigError, match="ssl_cert and ssl_key go together"):
        Database(f"{url}?ssl_cert={cert}")


def test_mysql_ssl_mode_disabled_and_preferred(mariadb_tls: str) -> None:
    for options, expected in (("ssl_mode=DISABLED", ""), ("ssl_mode=PREFERRED", "TLS")):
        with opened(f"{mariadb_tls}?{options}") as db:
            assert _encrypted(db)[:3] == expected


def test_postgres_tls_options_reach_libpq(postgres_tls: str, certificates: Path) -> None:
    with opened(f"{postgres_tls}?sslmode=verify-full&sslrootcert={certificates / 'ca.crt'}") as db:
        assert _encrypted(db) == "TLS"
    with (
        opened(f"{postgres_tls}?sslmode=verify-full&sslrootcert={certificates / 'other-ca.crt'}") as wrong,
        pytest.raises(Exception, match="certificate verify failed"),
    ):
        wrong.query("SELECT 1")
