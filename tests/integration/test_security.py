"""Valkey ACL users and TLS URLs work; credentials never reach logs, errors or generated code."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flughafen import ConfigError, Runtime, parse_cache_url, redact
from flughafen.aio import AsyncRuntime
from flughafen.config import load_config
from flughafen.embedded import start_server
from generated import airport_by_iata, flight_search
from generated.aio import airport_by_iata as aio_airport_by_iata
from tests.integration.forms import Form
from tests.integration.test_near_cache import local_keys, until
from tests.integration.test_near_cluster import near_hit
from tests.integration.tls import certificates, free_port, start_stunnel, stop, stunnel

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Pa55"


@pytest.fixture
def acl_server() -> Iterator[int]:
    server = start_server(config={"user": f"alice on >{SECRET} ~* &* +@all"})
    client = server.client()
    client.execute_command("ACL", "SETUSER", "default", "off")
    client.close()
    yield int(server.port)
    server.stop()


def test_an_acl_user_reads_and_fills_the_cache(acl_server: int, db_url: str) -> None:
    url = f"valkey://alice:{SECRET}@127.0.0.1:{acl_server}/0"
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        first = airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == first
        c = rt.metrics.of("airport_by_iata")
        assert (c.hits, c.misses, c.cache_errors) == (1, 1, 0)
        assert SECRET not in repr(rt) and "alice:***@" in repr(rt)


def test_a_wrong_password_fails_open_and_never_logs_the_password(acl_server: int, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = f"valkey://alice:wrong-{SECRET}@127.0.0.1:{acl_server}/0"
    caplog.set_level(logging.WARNING, logger="flughafen")
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None  # answered by the database
        assert rt.metrics.of("airport_by_iata").cache_errors >= 1
    assert caplog.records, "the outage is logged once"
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert any("alice:***@" in r.getMessage() for r in caplog.records)


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real TLS endpoint: stunnel terminating TLS in front of an embedded Valkey."""
    stunnel()
    ca = certificates(tmp_path)
    server = start_server()
    port = free_port()
    proc = start_stunnel(tmp_path, {port: int(server.port)})
    yield port, ca
    stop(proc)
    server.stop()


def test_a_tls_url_reads_and_fills_the_cache_over_tls(tls_endpoint: tuple[int, Path], db_url: str) -> None:
    port, ca = tls_endpoint
    with Runtime.from_config(database_url=db_url, cache_url=f"valkeys://127.0.0.1:{port}/0?ca={ca}", project_dir=ROOT) as rt:
        first = airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == first
        c = rt.metrics.of("airport_by_iata")
        assert (c.hits, c.misses, c.cache_errors) == (1, 1, 0)


def test_a_tls_server_with_an_unknown_certificate_is_refused_and_the_database_answers(tls_endpoint: tuple[int, Path], db_url: str) -> None:
    port, _ca = tls_endpoint
    with Runtime.from_config(database_url=db_url, cache_url=f"valkeys://127.0.0.1:{port}/0", project_dir=ROOT) as rt:
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) is not None
        assert rt.metrics.of("airport_by_iata").cache_errors >= 1


def test_cache_urls_parse_users_tls_and_redact() -> None:
    u = parse_cache_url(f"valkeys://alice:{SECRET}@cache.internal:6380/2?ca=/etc/ca.pem")
    assert (u.username, u.password, u.host, u.port, u.db, u.tls, u.ca_file) == ("alice", SECRET, "cache.internal", 6380, 2, True, "/etc/ca.pem")
    assert SECRET not in repr(u) and SECRET not in str(u) and SECRET not in redact(u.raw)


def test_generated_code_holds_no_credentials_or_urls() -> None:
    for path in (ROOT / "generated").rglob("*.py"):
        text = path.read_text()
        for needle in ("://", "password", "127.0.0.1"):
            assert needle not in text, f"{path}: {needle}"


@pytest.fixture
def other_name_endpoint(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS endpoint whose certificate the right CA signed, for another server (other.example, no 127.0.0.1)."""
    stunnel()
    folder = tmp_path / "other-name"
    folder.mkdir()
    ca = certificates(folder, names="DNS:other.example")
    server = start_server()
    port = free_port()
    proc = start_stunnel(folder, {port: int(server.port)})
    yield port, ca
    stop(proc)
    server.stop()


def _read_twice(url: str, db_url: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(hits, misses, cache errors) of two reads of one airport on a sync runtime, then of two more on an async one
    (which hits the sync one's fill when the cache works): the answers must agree."""
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        first = airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert first is not None and airport_by_iata.fetch(iata="JFK", runtime=rt) == first
        c = rt.metrics.of("airport_by_iata")
        sync = (c.hits, c.misses, c.cache_errors)

    async def read() -> tuple[int, int, int]:
        async with AsyncRuntime(load_config(db_url, url, ROOT)) as art:
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=art) == first
            assert await aio_airport_by_iata.fetch(iata="JFK", runtime=art) == first
            c = art.metrics.of("airport_by_iata")
            return c.hits, c.misses, c.cache_errors

    return sync, asyncio.run(read())


def test_a_certificate_for_another_host_is_refused_and_the_database_answers(
    other_name_endpoint: tuple[int, Path], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port, ca = other_name_endpoint
    caplog.set_level(logging.WARNING, logger="flughafen")
    for hits, _misses, errors in _read_twice(f"valkeys://127.0.0.1:{port}/0?ca={ca}", db_url):
        assert hits == 0 and errors >= 1
    refusals = [r.getMessage() for r in caplog.records if "does not match the host '127.0.0.1'" in r.getMessage()]
    assert len(refusals) >= 2, [r.getMessage() for r in caplog.records]  # the sync runtime's, the async one's


def test_verify_ca_accepts_a_certificate_for_another_host(other_name_endpoint: tuple[int, Path], db_url: str) -> None:
    port, ca = other_name_endpoint
    assert _read_twice(f"valkeys://127.0.0.1:{port}/0?ca={ca}&verify=ca", db_url) == ((1, 1, 0), (2, 0, 0))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_host_check_passes_a_certificate_naming_the_host_by_address_or_name(
    tls_endpoint: tuple[int, Path], other_name_endpoint: tuple[int, Path], db_url: str, host: str
) -> None:
    port, ca = tls_endpoint  # IP:127.0.0.1, DNS:localhost
    assert _read_twice(f"valkeys://{host}:{port}/0?ca={ca}", db_url) == ((1, 1, 0), (2, 0, 0))
    port, ca = other_name_endpoint  # by the same address or name, a certificate for other.example
    for hits, _misses, errors in _read_twice(f"valkeys://{host}:{port}/0?ca={ca}", db_url):
        assert hits == 0 and errors >= 1


def test_verify_takes_full_or_ca_on_tls_urls_only() -> None:
    assert parse_cache_url("valkeys://cache:6380/0").verify_hostname
    assert parse_cache_url("valkeys://cache:6380/0?verify=full").verify_hostname
    assert not parse_cache_url("valkeys+cluster://a:1,b:2?verify=ca").verify_hostname
    assert not parse_cache_url("valkeys+sentinel://a:1/mymaster?verify=ca").verify_hostname
    with pytest.raises(ConfigError) as refused:
        parse_cache_url(f"valkeys://alice:{SECRET}@cache:6380/0?verify=none")
    assert "alice:***@cache:6380" in str(refused.value) and SECRET not in str(refused.value)
    assert "verify must be one of full, ca, not 'none'" in str(refused.value)
    with pytest.raises(ConfigError, match="verify applies to TLS connections"):
        parse_cache_url("valkey://cache:6379/0?verify=ca")


@pytest.fixture(params=["names the host", "names another host, verify=ca"])
def runtime(request: pytest.FixtureRequest, db_url: str) -> Iterator[Runtime]:
    """A runtime over TLS (and, through ``form``, its async twin): to a server whose certificate lists 127.0.0.1,
    or to one whose certificate names another host, with ?verify=ca."""
    if request.param == "names the host":
        port, ca = request.getfixturevalue("tls_endpoint")
        url = f"valkeys://127.0.0.1:{port}/0?ca={ca}"
    else:
        port, ca = request.getfixturevalue("other_name_endpoint")
        url = f"valkeys://127.0.0.1:{port}/0?ca={ca}&verify=ca"
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        yield rt


def test_the_near_cache_keeps_and_drops_copies_over_tls(form: Form, runtime: Runtime, db_url: str) -> None:
    """The near cache's own connections (its listener and tracking connection) go over the URL's TLS, checked as the runtime's."""
    args = {"origin": "JFK", "destination": "LAX", "day": datetime.date(2024, 12, 15)}
    assert near_hit(form, form.of(runtime), args), "no local hit over TLS"
    key = flight_search.key(**args, runtime=runtime)  # type: ignore[arg-type]
    with Runtime.from_config(database_url=db_url, cache_url=runtime.config.cache_url.raw, project_dir=ROOT) as other:
        flight_search.invalidate(**args, runtime=other)  # type: ignore[arg-type]
    assert until(lambda: key not in local_keys(runtime, form=form)), "an invalidation over TLS left the local copy"
