"""A Valkey Cluster over TLS (``valkeys+cluster://...?ca=ca.crt``): stunnel terminates TLS in front of each
node, and each node announces its TLS port, so the slot map and MOVED replies name TLS ports. The runtime,
sync and async, reads, fills, hits, invalidates and keeps near copies over TLS; a server whose certificate an unknown CA signed
is refused and the database answers."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from valkey.cluster import ValkeyCluster

from flughafen import Runtime
from flughafen.aio import AsyncRuntime
from flughafen.config import load_config
from flughafen.local_cluster import LocalCluster
from generated import flight_search
from generated.aio import flight_search as aio_flight_search
from tests.integration.forms import Form
from tests.integration.test_cluster_acl import near_copies_follow_every_node
from tests.integration.tls import certificates, free_port, start_stunnel, stop, stunnel

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime.date(2024, 12, 15)
DAYS = [DAY + datetime.timedelta(days=n) for n in range(20)]  # entries over many buckets, so every primary


@dataclass
class TlsCluster:
    cluster: LocalCluster
    tls_ports: dict[int, int]  # TLS port -> the node's own port
    ca: Path

    def url(self, ca: Path | None = None) -> str:
        return "valkeys+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.tls_ports) + f"?ca={ca or self.ca}"

    def admin(self) -> ValkeyCluster:
        """A cluster client over TLS: it follows the slot map the nodes announce."""
        port = next(iter(self.tls_ports))
        return ValkeyCluster(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(self.ca), ssl_cert_reqs="required")


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    """Three primaries, each behind stunnel and announcing its TLS port (its bus port stays the real one)."""
    yield from _tls_cluster(tmp_path_factory.mktemp("tls-cluster"))


@pytest.fixture(scope="module")
def other_name_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    """The same, with certificates the right CA signed for another server (other.example, no 127.0.0.1)."""
    yield from _tls_cluster(tmp_path_factory.mktemp("other-name-cluster"), names="DNS:other.example")


def _tls_cluster(folder: Path, names: str = "IP:127.0.0.1,DNS:localhost") -> Iterator[TlsCluster]:
    stunnel()
    ca = certificates(folder, names)
    with LocalCluster(primaries=3) as cluster:
        routes = {free_port(): port for port in cluster.ports}
        proc = start_stunnel(folder, routes)
        try:
            for tls, plain in routes.items():
                client = cluster.client(plain)
                client.config_set("cluster-announce-port", tls)
                client.config_set("cluster-announce-bus-port", plain + 10000)
                client.close()
            deadline = time.monotonic() + 30
            for plain in routes.values():  # every node's slot map names only TLS ports, once the gossip went round
                client = cluster.client(plain)
                while {int(primary[1]) for _s, _e, primary, *_ in client.execute_command("CLUSTER", "SLOTS")} != set(routes):
                    assert time.monotonic() < deadline, "the nodes did not announce their TLS ports"
                    time.sleep(0.1)
                client.close()
            yield TlsCluster(cluster, routes, ca)
        finally:
            stop(proc)


@pytest.fixture
def runtime(db_url: str, tls_cluster: TlsCluster) -> Iterator[Runtime]:
    """The runtime (and, through ``form``, its async twin) on the cluster over TLS, emptied first."""
    for plain in tls_cluster.tls_ports.values():
        client = tls_cluster.cluster.client(plain)
        client.flushall()
        client.close()
    with Runtime.from_config(database_url=db_url, cache_url=tls_cluster.url(), project_dir=ROOT) as rt:
        yield rt


def test_moved_replies_name_the_tls_ports(tls_cluster: TlsCluster) -> None:
    moved = []
    for plain in tls_cluster.tls_ports.values():
        client = tls_cluster.cluster.client(plain)
        try:
            client.get("probe")  # served by one node: the two others answer MOVED
        except Exception as e:  # noqa: BLE001 - the reply of a node that does not serve the key's slot
            moved.append(str(e))
        finally:
            client.close()
    assert len(moved) == 2 and all(int(m.rsplit(":", 1)[1]) in tls_cluster.tls_ports for m in moved), moved


def test_reads_fill_hit_and_invalidate_over_tls_on_every_node(form: Form, runtime: Runtime, tls_cluster: TlsCluster) -> None:
    fs = form(flight_search)
    expected = [fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS]
    form.settle()
    counters = runtime.metrics.of("flight_search")
    hits = counters.hits
    assert [fs.fetch(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS] == expected
    assert (counters.hits, counters.cache_errors) == (hits + len(DAYS), 0)
    keys = [flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime) for day in DAYS]
    admin = tls_cluster.admin()
    try:
        assert len({admin.nodes_manager.get_node_from_slot(admin.keyslot(k)).port for k in keys}) == 3
        assert sum(admin.exists(key) for key in keys) == len(DAYS)
        assert form.invalidate_tag("route:JFK:LAX", runtime) == len(DAYS)
        assert sum(admin.exists(key) for key in keys) == 0
    finally:
        admin.close()


def test_the_near_cache_hears_every_node_over_tls(form: Form, runtime: Runtime, db_url: str, tls_cluster: TlsCluster) -> None:
    admin = tls_cluster.admin()
    try:
        with Runtime.from_config(database_url=db_url, cache_url=tls_cluster.url(), project_dir=ROOT) as other:
            near_copies_follow_every_node(form, runtime, other, admin)
    finally:
        admin.close()


def test_a_cluster_whose_certificate_an_unknown_ca_signed_is_refused_and_the_database_answers(db_url: str, tls_cluster: TlsCluster, tmp_path: Path) -> None:
    url = tls_cluster.url(ca=certificates(tmp_path))  # a CA of its own, which signed none of the nodes' certificates
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        assert flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=rt)
        c = rt.metrics.of("flight_search")
        assert (c.hits, c.db_queries) == (0, 1) and c.cache_errors >= 1

    async def read() -> tuple[int, int]:
        async with AsyncRuntime(load_config(db_url, url, ROOT)) as art:
            assert await aio_flight_search.fetch(origin="JFK", destination="LAX", day=DAY, runtime=art)
            c = art.metrics.of("flight_search")
            return c.hits, c.cache_errors

    hits, errors = asyncio.run(read())
    assert hits == 0 and errors >= 1


def _read(url: str, db_url: str) -> list[tuple[int, int]]:
    """(hits, cache errors) after reading every day twice, on a sync runtime then on an async one."""
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        for _ in range(2):
            assert all(flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt) is not None for day in DAYS)
        rt.cache.settle()
        c = rt.metrics.of("flight_search")
        counts = [(c.hits, c.cache_errors)]

    async def read() -> tuple[int, int]:
        async with AsyncRuntime(load_config(db_url, url, ROOT)) as art:
            for _ in range(2):
                for day in DAYS:
                    assert await aio_flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=art) is not None
            c = art.metrics.of("flight_search")
            return c.hits, c.cache_errors

    return [*counts, asyncio.run(read())]


def test_a_cluster_whose_certificates_name_another_host_is_refused_and_the_database_answers(
    db_url: str, other_name_cluster: TlsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flughafen")
    for hits, errors in _read(other_name_cluster.url(), db_url):
        assert hits == 0 and errors >= 1
    assert any("does not match the host '127.0.0.1'" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_verify_ca_reads_a_cluster_whose_certificates_name_another_host(db_url: str, other_name_cluster: TlsCluster) -> None:
    _flush(other_name_cluster)
    (sync_hits, sync_errors), (async_hits, async_errors) = _read(other_name_cluster.url() + "&verify=ca", db_url)
    assert (sync_hits, sync_errors) == (len(DAYS), 0)
    assert (async_hits, async_errors) == (2 * len(DAYS), 0)  # the sync runtime's fills


def _flush(tls_cluster: TlsCluster) -> None:
    for plain in tls_cluster.tls_ports.values():
        client = tls_cluster.cluster.client(plain)
        client.flushall()
        client.close()
