"""One application on three Valkey topologies: only the cache URL changes.

The shop's generated accessors, unchanged, and the same application programs (sync
and async) run in subprocesses against one Valkey server, a 3-primary Valkey Cluster
with a replica each, and a primary with a replica behind Sentinel. Each run is told
which by ``FLUGHAFEN_CACHE_URL`` alone, as a user deploying to each would. Each run
reads twice (a miss, then a hit), queues a write-behind write that
``flughafen-gen worker --once`` applies, and reads the new price: the worker's
invalidation reached the cache, wherever the entry lives.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flughafen import embedded
from flughafen.local_cluster import LocalCluster, LocalSentinel
from tests.product.shop import clean_env, run, this_venv_bin, write_shop

GEN = this_venv_bin() / "flughafen-gen"

SYNC_READ = """\
from flughafen import Runtime
from shop.cache import products_in_category

with Runtime.from_config() as rt:
    if sys.argv[1:] == ["fresh"]:
        products_in_category.invalidate(category="TOOLS", runtime=rt)
    first = products_in_category.fetch(category="TOOLS", runtime=rt)
    again = products_in_category.fetch(category="TOOLS", runtime=rt)
    counts = rt.metrics.of("products_in_category")
    print([(p.sku, str(p.price)) for p in first], again == first, counts.hits, counts.misses)
"""

ASYNC_READ = """\
import asyncio
from flughafen.aio import AsyncRuntime
from shop.cache.aio import products_in_category

async def main() -> None:
    rt = AsyncRuntime.from_config()
    try:
        if sys.argv[1:] == ["fresh"]:
            await products_in_category.invalidate(category="TOOLS", runtime=rt)
        first = await products_in_category.fetch(category="TOOLS", runtime=rt)
        again = await products_in_category.fetch(category="TOOLS", runtime=rt)
        counts = rt.metrics.of("products_in_category")
        print([(p.sku, str(p.price)) for p in first], again == first, counts.hits, counts.misses)
    finally:
        await rt.close()

asyncio.run(main())
"""

REPRICE = """\
from decimal import Decimal
from flughafen import Runtime
from shop.cache import reprice_product

with Runtime.from_config() as rt:
    reprice_product.execute(product_id=2, price=Decimal(sys.argv[1]), runtime=rt)
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shop with a write-behind spec, built, its SQLite database made and seeded by the demo."""
    folder = write_shop(tmp_path_factory.mktemp("topologies") / "shop", behind=True)
    try:
        for command in (["build"], ["demo"]):
            done = run([GEN, *command], folder, clean_env())
            assert done.returncode == 0, done.stderr
        yield folder
    finally:
        embedded.stop(folder)


@pytest.fixture(scope="module", params=["one server", "cluster", "sentinel"])
def cache_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A cache URL of each topology, its servers started for this module and always stopped."""
    server: Any
    if request.param == "one server":
        server = embedded.start_server()
        try:
            yield f"valkey://127.0.0.1:{server.port}/0"
        finally:
            server.stop()
    elif request.param == "cluster":
        with LocalCluster(replicas=1) as cluster:
            yield cluster.url
    else:
        with LocalSentinel() as sentinel:
            yield sentinel.url


def program(shop: Path, code: str, cache_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", "import sys\n" + code, *args], shop, clean_env(PYTHONPATH="src", FLUGHAFEN_CACHE_URL=cache_url))


def worker_once(shop: Path, cache_url: str) -> subprocess.CompletedProcess[str]:
    return run([GEN, "worker", "--once"], shop, clean_env(FLUGHAFEN_CACHE_URL=cache_url))


@pytest.mark.parametrize("read", [SYNC_READ, ASYNC_READ], ids=["sync", "async"])
def test_the_same_accessors_read_hit_and_see_a_write_on_every_topology(shop: Path, cache_url: str, read: str) -> None:
    before = program(shop, read, cache_url, "fresh")
    assert before.returncode == 0, before.stderr
    assert before.stdout.split("] ")[1].split() == ["True", "1", "1"]  # equal twice, one hit, one miss
    assert "('SCR-002', '7.25')" in before.stdout

    queued = program(shop, REPRICE, cache_url, "6.75")
    assert queued.returncode == 0, queued.stderr
    applied = worker_once(shop, cache_url)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("applied 1,"), applied.stdout

    try:
        after = program(shop, read, cache_url)
        assert after.returncode == 0, after.stderr
        assert "('SCR-002', '6.75')" in after.stdout  # the worker's invalidation reached this topology's cache
        assert after.stdout.split("] ")[1].split() == ["True", "1", "1"]
    finally:
        assert program(shop, REPRICE, cache_url, "7.25").returncode == 0  # as it was
        assert worker_once(shop, cache_url).stdout.startswith("applied 1,")
    again = program(shop, read, cache_url)
    assert "('SCR-002', '7.25')" in again.stdout, again.stderr
