"""The project's embedded Valkey, shared by its processes (``cache_url = "embedded"``).

As a user runs them: ``flughafen-gen`` commands and an application process in
subprocesses, in a shop project in a temporary folder, their exit codes and
output checked. Every test stops the project's server when it ends, passed or
failed (the ``project`` fixture).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from flughafen import embedded
from tests.product.shop import clean_env, run, this_venv_bin, write_shop

GEN = this_venv_bin() / "flughafen-gen"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A shop with a write-behind spec, built, its database made and seeded by the demo."""
    shop = write_shop(tmp_path_factory.mktemp("embedded") / "shop", behind=True)
    try:
        for command in (["build"], ["demo"]):
            done = run([GEN, *command], shop, clean_env())
            assert done.returncode == 0, done.stderr
        yield shop
    finally:
        embedded.stop(shop)


@pytest.fixture
def project(built: Path) -> Iterator[Path]:
    """The built shop, its embedded Valkey not running; stopped again after the test, passed or failed."""
    embedded.stop(built)
    yield built
    embedded.stop(built)


def app(shop: Path, code: str) -> subprocess.CompletedProcess[str]:
    """An application process of the shop: ``code`` run with ``rt``, a runtime from the project's configuration."""
    program = "from decimal import Decimal\nfrom flughafen import Runtime\nfrom shop.cache import products_in_category, reprice_product\nwith Runtime.from_config() as rt:\n"
    program += "".join(f"    {line}\n" for line in code.splitlines())
    return run([sys.executable, "-c", program], shop, clean_env(PYTHONPATH="src"))


def gen(shop: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([GEN, *args], shop, clean_env())


def server_pid(shop: Path) -> int:
    pid = embedded.Paths.of(shop).pid.read_text().strip()
    return int(pid)


def servers_on(shop: Path) -> list[int]:
    """The pids of every Valkey process serving the shop's socket."""
    sock = os.fsencode(embedded.Paths.of(shop).socket)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"valkey-server" in title and sock in title:
                found.append(int(entry.name))
    return found


def test_the_server_outlives_the_process_that_started_it_and_the_next_one_uses_it(project: Path) -> None:
    first = app(project, "print(products_in_category.fetch(category='TOOLS', runtime=rt)[0].sku)")
    assert (first.returncode, first.stdout) == (0, "SCR-002\n"), first.stderr
    pid = server_pid(project)
    assert servers_on(project) == [pid]
    second = app(project, "products_in_category.fetch(category='TOOLS', runtime=rt)\nprint(rt.metrics.of('products_in_category').hits)")
    assert (second.returncode, second.stdout) == (0, "1\n"), "the second process hits what the first stored"
    assert server_pid(project) == pid


def test_warm_twice_the_second_run_finds_the_entries_already_there(project: Path) -> None:
    (project / "params.jsonl").write_text('{"category": "GARDEN"}\n{"category": "TOOLS"}\n')
    first = gen(project, "warm", "products_in_category", "--params", "params.jsonl")
    assert first.returncode == 0, first.stderr
    assert "warmed products_in_category: 2 parameter sets, 2 filled, 0 already cached" in first.stdout
    second = gen(project, "warm", "products_in_category", "--params", "params.jsonl")
    assert second.returncode == 0, second.stderr
    assert "warmed products_in_category: 2 parameter sets, 0 filled, 2 already cached" in second.stdout


def test_stats_shows_the_hits_of_an_earlier_process(project: Path) -> None:
    done = app(project, "for _ in range(3):\n    products_in_category.fetch(category='GARDEN', runtime=rt)")
    assert done.returncode == 0, done.stderr
    stats = gen(project, "stats")
    assert stats.returncode == 0, stats.stderr
    assert "cache embedded" in stats.stdout
    line = next(line for line in stats.stdout.splitlines() if line.startswith("products_in_category"))
    assert line.split()[1:5] == ["2", "0", "1", "66.7%"]  # hits, replica hits, misses, hit rate


def test_a_write_behind_queued_by_an_exited_app_is_applied_by_worker_once(project: Path) -> None:
    done = app(project, "reprice_product.execute(product_id=3, price=Decimal('4.20'), runtime=rt)")
    assert done.returncode == 0, done.stderr
    status = gen(project, "cache", "status")
    assert status.returncode == 0, status.stderr
    assert "queued writes  1 " in status.stdout
    refused = gen(project, "cache", "stop")
    assert refused.returncode == 1
    assert "holds 1 queued write(s) not applied yet" in refused.stderr and len(refused.stderr.splitlines()) == 1
    worker = gen(project, "worker", "--once")
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.startswith("applied 1, skipped 0 already applied, set aside 0")
    with sqlite3.connect(project / "shop.sqlite3") as db:
        assert Decimal(str(db.execute("SELECT price FROM product WHERE product_id = 3").fetchone()[0])) == Decimal("4.2")
    assert "queued writes  0 " in gen(project, "cache", "status").stdout
    assert app(project, "reprice_product.execute(product_id=3, price=Decimal('3.10'), runtime=rt)").returncode == 0  # as it was
    assert gen(project, "worker", "--once").stdout.startswith("applied 1,")


def test_cache_status_and_stop(project: Path) -> None:
    status = gen(project, "cache", "status")
    assert (status.returncode, status.stdout) == (1, f"the embedded Valkey of {project} is not running (the first process that uses the cache starts it)\n")
    assert app(project, "products_in_category.fetch(category='TOOLS', runtime=rt)").returncode == 0
    pid = server_pid(project)
    status = gen(project, "cache", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == f"the embedded Valkey of {project} is running"
    fields = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:]}
    assert fields["socket"] == str(project / ".flughafen" / "valkey" / "valkey.sock")
    assert fields["pid"] == str(pid)
    assert fields["uptime"].endswith(" s") and fields["memory"].endswith(("K", "M"))
    assert int(fields["keys"]) >= 2  # the entry and its query's generation
    stop = gen(project, "cache", "stop")
    assert (stop.returncode, stop.stdout) == (0, f"stopped the embedded Valkey of {project} (pid {pid})\n")
    assert servers_on(project) == []
    assert not embedded.Paths.of(project).socket.exists() and not embedded.Paths.of(project).pid.exists()
    again = gen(project, "cache", "stop")
    assert (again.returncode, again.stdout) == (0, f"the embedded Valkey of {project} is not running; nothing to stop\n")
    assert gen(project, "cache", "status").returncode == 1


def test_cache_stop_discards_queued_writes_only_when_told(project: Path) -> None:
    assert app(project, "reprice_product.execute(product_id=2, price=Decimal('1.00'), runtime=rt)").returncode == 0
    assert gen(project, "cache", "stop").returncode == 1
    stop = gen(project, "cache", "stop", "--discard-queued")
    assert (stop.returncode, stop.stdout) == (0, f"stopped the embedded Valkey of {project} (pid {stop.stdout.rsplit(' ', 1)[1][:-2]})\n")
    assert servers_on(project) == []
    with sqlite3.connect(project / "shop.sqlite3") as db:
        assert Decimal(str(db.execute("SELECT price FROM product WHERE product_id = 2").fetchone()[0])) == Decimal("7.25"), "the write was dropped"


def test_every_option_of_cache_has_its_help(project: Path) -> None:
    helped = gen(project, "cache", "--help")
    assert helped.returncode == 0
    for text in ("status: socket, pid, uptime", "--project PROJECT", "the project's folder", "--discard-queued", "(they are lost)"):
        assert text in " ".join(helped.stdout.split()), text


def test_two_processes_starting_at_once_get_one_server(project: Path) -> None:
    go = project / "go"
    waiting = (
        "import os, time\n"
        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.001)\n"
        "from flughafen import Runtime, embedded\n"
        "with Runtime.from_config() as rt:\n"
        "    rt.cache.client.ping()\n"
        "    print(rt.cache.client.info('server')['process_id'])\n"
    )
    env = clean_env(PYTHONPATH="src")
    processes = [
        subprocess.Popen([sys.executable, "-c", waiting], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    try:
        time.sleep(1.0)  # all four import and wait
        go.touch()
        outputs = [p.communicate(timeout=60) for p in processes]
    finally:
        for p in processes:
            p.kill() if p.poll() is None else None
        go.unlink(missing_ok=True)
    assert [p.returncode for p in processes] == [0] * 4, outputs
    pids = {out.strip() for out, _ in outputs}
    assert pids == {str(server_pid(project))}
    assert len(servers_on(project)) == 1


def test_a_killed_server_is_replaced_on_next_use(project: Path) -> None:
    assert app(project, "products_in_category.fetch(category='TOOLS', runtime=rt)").returncode == 0
    killed = server_pid(project)
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while servers_on(project) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert embedded.Paths.of(project).socket.exists(), "a killed server leaves its socket and pid file behind"
    assert gen(project, "cache", "status").returncode == 1
    done = app(project, "rows = products_in_category.fetch(category='TOOLS', runtime=rt)\nprint(len(rows), rt.metrics.of('products_in_category').cache_errors)")
    assert (done.returncode, done.stdout) == (0, "2 0\n"), done.stderr
    replacement = server_pid(project)
    assert replacement != killed and servers_on(project) == [replacement]


def test_the_worker_still_refuses_the_cache_off(project: Path) -> None:
    done = run([GEN, "worker", "--once"], project, clean_env(FLUGHAFEN_CACHE_URL="off"))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert 'cache_url is "off": there is no queue' in done.stderr
