"""The product as a new user gets it: the wheel, installed into a fresh virtual environment, in a project of their own.

Once per session: a wheel of this tree (``pip wheel --no-deps``), one venv
with ``[build,embedded]`` (and the drivers and test tools), one with the
runtime and ``[embedded]`` only. In a temporary folder outside the repository,
the shop project (tests/product/shop.py: a ``product`` table, one spec) is
built with ``flughafen-gen build``, its accessor imported from ``shop.cache``
and called, and its generated tests run with pytest on SQLite, MariaDB and
PostgreSQL. About a minute (pip's cache makes the installs quick); marked
``product``, so ``-m 'not product'`` leaves it out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from flughafen import embedded
from tests.product.shop import SERVERS, clean_env, run, write_shop

pytestmark = pytest.mark.product

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = ("jinja2", "sqlglot", "yaml", "black")

# Run by each venv's python in the built project: the accessor twice, what the runtime counted, and which
# of the build tools were imported. The database is a SQLite file the script fills with sqlite3 itself.
CALL_TWICE = """\
import json, sqlite3, sys
from pathlib import Path

Path("call.sqlite3").unlink(missing_ok=True)
with sqlite3.connect("call.sqlite3") as db:
    db.execute("CREATE TABLE product (product_id INTEGER PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, price NUMERIC NOT NULL)")
    db.execute("INSERT INTO product VALUES (1, 'HAM-001', 'Claw hammer', 'TOOLS', '12.50'), (2, 'SCR-002', 'Screwdriver', 'TOOLS', '7.25')")

from flughafen import Runtime
from shop.cache import products_in_category

with Runtime.from_config(database_url="sqlite:///call.sqlite3", cache_url="embedded") as rt:
    counters = rt.metrics.of("products_in_category")
    first = products_in_category.fetch(category="TOOLS", runtime=rt)
    after_first = (counters.misses, counters.hits)
    second = products_in_category.fetch(category="TOOLS", runtime=rt)
    after_second = (counters.misses, counters.hits)
print(json.dumps({
    "rows": [[p.name, str(p.price)] for p in first],
    "same": first == second,
    "after_first": after_first,
    "after_second": after_second,
    "build_tools": sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:])),
}))
"""


def _copy_sources(to: Path) -> Path:
    """What the wheel is built from: this tree's package sources (not its .venv, build/ or egg-info)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)
    for name in ("flughafen", "generator", "templates"):
        shutil.copytree(ROOT / name, to / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return to


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _copy_sources(tmp_path_factory.mktemp("source"))
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose", source, "-w", dist], dist, clean_env())
    assert done.returncode == 0, done.stderr
    assert "Deprecat" not in done.stdout + done.stderr, "the build warns of something that will stop working"
    (built,) = dist.glob("flughafen_gen-*.whl")
    return built


def _venv(folder: Path, *requirements: str) -> Path:
    """A fresh venv (no system site packages) with ``requirements``; returns its bin folder."""
    done = run([sys.executable, "-m", "venv", folder], folder.parent, clean_env())
    assert done.returncode == 0, done.stderr
    done = run([folder / "bin" / "python", "-m", "pip", "install", "--quiet", *requirements], folder.parent, clean_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    return folder / "bin"


@pytest.fixture(scope="session")
def build_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("venvs") / "build", f"{wheel}[build,embedded,mysql,postgres,test]", "psycopg[binary]>=3.2", "mypy>=1.10")


@pytest.fixture(scope="session")
def runtime_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("venvs") / "runtime", f"{wheel}[embedded]")


@pytest.fixture(scope="session")
def shop(build_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop project, built by the installed flughafen-gen."""
    project = write_shop(tmp_path_factory.mktemp("fresh") / "shop", SERVERS)
    assert not project.resolve().is_relative_to(ROOT)
    done = run([build_venv / "flughafen-gen", "build"], project, clean_env(build_venv))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "1 accessor module(s) in src/shop/cache/ (written)"
    return project


@pytest.fixture(autouse=True)
def stop_the_shop_s_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the shop starts without its embedded Valkey, and stops the one it started at its end, passed or failed
    (a server shared by the tests would turn one test's misses into hits in the next)."""
    shop: Path | None = request.getfixturevalue("shop") if "shop" in request.fixturenames else None
    if shop is not None:
        embedded.stop(shop)
    yield
    if shop is not None:
        embedded.stop(shop)


def _server_up(dialect: str) -> bool:
    try:
        if dialect == "mysql":
            import pymysql

            pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=2).close()
        else:
            import psycopg

            psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=2").close()
    except Exception:  # noqa: BLE001 - not answering, whatever the reason
        return False
    return True


def test_the_wheel_has_the_runtime_the_build_tool_its_templates_and_data_and_no_generated_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("generated/")]
    assert {n.split("/")[0] for n in names if not n.startswith("flughafen_gen-")} == {"flughafen", "generator"}
    for needed in (
        "flughafen/testing.py",
        "generator/templates/accessor_base.py.jinja",
        "generator/templates/accessor_json.py.jinja",
        "generator/stores/json.py",
        "generator/templates/test_accessor.py.jinja",
        "generator/dataset/flughafendb/schema.sql",
        "generator/dataset/flughafendb/airport.tsv.gz",
    ):
        assert needed in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "[pytest11]\nflughafen = flughafen.testing" in entry_points
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()


def test_the_built_package_is_called_twice_a_miss_then_a_hit(shop: Path, build_venv: Path) -> None:
    done = run([build_venv / "python", "-c", CALL_TWICE], shop, clean_env(build_venv, PYTHONPATH="src"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == [["Screwdriver", "7.25"], ["Claw hammer", "12.50"]]
    assert result["same"] and result["after_first"] == [1, 0] and result["after_second"] == [1, 1]


def test_its_generated_tests_pass_on_every_configured_database(shop: Path, build_venv: Path) -> None:
    done = run([build_venv / "python", "-m", "pytest", "src/shop/cache", "-v", "-rs", "-p", "no:cacheprovider"], shop, clean_env(build_venv))
    assert done.returncode == 0, done.stdout + done.stderr
    test = "src/shop/cache/tests/test_products_in_category.py::test_round_trip"
    assert f"{test}[sqlite] PASSED" in done.stdout, done.stdout
    for dialect in ("mysql", "postgres"):
        assert f"{test}[{dialect}] {'PASSED' if _server_up(dialect) else 'SKIPPED'}" in done.stdout, done.stdout


def test_the_generated_package_passes_mypy_strict_against_the_installed_runtime(shop: Path, build_venv: Path) -> None:
    done = run([build_venv / "python", "-m", "mypy", "--strict", "--no-incremental", "src/shop/cache"], shop, clean_env(build_venv))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_commands_of_the_installed_tool_serve_the_project(shop: Path, build_venv: Path) -> None:
    demo = run([build_venv / "flughafen-gen", "demo"], shop, clean_env(build_venv))
    assert demo.returncode == 0, demo.stderr
    assert "| products_in_category | category=TOOLS" in demo.stdout
    explain = run([build_venv / "flughafen-gen", "explain", "products_in_category"], shop, clean_env(build_venv))
    assert explain.returncode == 0, explain.stderr
    assert "category_idx" in explain.stdout


def test_the_runtime_alone_calls_the_accessor_without_the_build_tools(shop: Path, runtime_venv: Path) -> None:
    done = run([runtime_venv / "python", "-c", CALL_TWICE, *BUILD_TOOLS], shop, clean_env(runtime_venv, PYTHONPATH="src"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["after_second"] == [1, 1] and result["build_tools"] == []
    missing = subprocess.run([runtime_venv / "python", "-c", "import jinja2"], capture_output=True, check=False)
    assert missing.returncode == 1, "the runtime venv must not have the build tools at all"


def test_a_build_without_the_build_extra_says_in_one_line_which_extra_to_install(shop: Path, runtime_venv: Path) -> None:
    done = run([runtime_venv / "flughafen-gen", "build", "--check"], shop, clean_env(runtime_venv))
    assert done.returncode == 3
    assert done.stderr == "error: flughafen-gen build needs the 'jinja2' package: pip install 'flughafen-gen[build]'\n"
