"""The pytest plugin in a user's project: their schema, their seed, every configured database, cache on and off.

A user's test suite runs in a subprocess (``python -m pytest`` in the
project's folder), as they run it; the plugin comes from the installed
flughafen-gen's ``pytest11`` entry point, nothing in the project names it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import require_server
from tests.product.shop import SERVERS, clean_env, run, this_venv_bin, write_shop

USER_TESTS = """\
import os
from pathlib import Path

from shop.cache import products_in_category


def test_a_read_is_a_miss_then_a_hit_on_the_users_rows(flughafen_runtime):
    (Path(__file__).parent / "pid").write_text(str(os.getpid()))
    counters = flughafen_runtime.metrics.of("products_in_category")
    first = products_in_category.fetch(category="TOOLS", runtime=flughafen_runtime)
    second = products_in_category.fetch(category="TOOLS", runtime=flughafen_runtime)
    assert [p.name for p in first] == ["Screwdriver", "Claw hammer"] and second == first
    assert (counters.misses, counters.hits) == (1, 1)
    assert flughafen_runtime.cache.client.exists(products_in_category.key(category="TOOLS", runtime=flughafen_runtime))


def test_each_test_starts_with_an_empty_cache(flughafen_runtime):
    assert flughafen_runtime.cache.client.dbsize() == 0


def test_with_the_cache_off_every_read_queries_the_database(flughafen_runtime_nocache, flughafen_database):
    counters = flughafen_runtime_nocache.metrics.of("products_in_category")
    for _ in range(2):
        assert len(products_in_category.fetch(category="TOOLS", runtime=flughafen_runtime_nocache)) == 2
    assert (counters.misses, counters.hits, counters.db_queries, counters.cache_errors) == (2, 0, 2, 0)
    assert flughafen_runtime_nocache.config.database_url.raw == flughafen_database
"""


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rs", *args], project, clean_env(this_venv_bin(), **env))


def _shop(tmp_path: Path, servers: tuple[str, ...]) -> Path:
    shop = write_shop(tmp_path / "shop", servers)
    # --offline: a test here names a server that does not answer, which a build's proof of the
    # SQL refuses under CI=true; these tests are about the plugin, not the build.
    built = run([this_venv_bin() / "flughafen-gen", "build", "--offline"], shop, clean_env())
    assert built.returncode == 0, built.stderr
    (shop / "tests").mkdir()
    (shop / "tests" / "test_shop.py").write_text(USER_TESTS)
    text = (shop / "pyproject.toml").read_text()
    (shop / "pyproject.toml").write_text(text.replace("[tool.pytest.ini_options]", '[tool.pytest.ini_options]\npythonpath = ["src"]'))
    return shop


def _databases(dialect: str) -> set[str]:
    """The databases on a server whose names start with flughafen_test_."""
    if dialect == "mysql":
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'flughafen\\_test\\_%'")
            names = {str(r[0]) for r in cur.fetchall()}
        conn.close()
        return names
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as pg:
        return {str(r[0]) for r in pg.execute("SELECT datname FROM pg_database WHERE datname LIKE 'flughafen\\_test\\_%'")}


def test_the_users_tests_run_on_each_configured_database_then_the_databases_are_dropped(tmp_path: Path) -> None:
    for dialect in ("mysql", "postgres"):
        require_server(dialect)
    shop = _shop(tmp_path, SERVERS)
    done = _pytest(shop, "tests", CI="")
    assert done.returncode == 0, done.stdout + done.stderr
    for dialect in ("sqlite", "mysql", "postgres"):
        for test in ("test_a_read_is_a_miss_then_a_hit_on_the_users_rows", "test_with_the_cache_off_every_read_queries_the_database"):
            assert f"tests/test_shop.py::{test}[{dialect}] PASSED" in done.stdout, done.stdout
    assert "9 passed" in done.stdout
    pid = (shop / "tests" / "pid").read_text()
    for dialect in ("mysql", "postgres"):
        assert f"flughafen_test_{pid}" not in _databases(dialect)


def test_the_generated_tests_run_on_the_users_schema_and_rows(tmp_path: Path) -> None:
    shop = _shop(tmp_path, ("sqlite://",))
    done = _pytest(shop, "src/shop/cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "src/shop/cache/tests/test_products_in_category.py::test_round_trip[sqlite] PASSED" in done.stdout


def test_a_server_that_does_not_answer_skips_its_tests_saying_which_and_fails_them_under_ci(tmp_path: Path) -> None:
    shop = _shop(tmp_path, ("sqlite://", "mysql://root@127.0.0.1:1"))
    done = _pytest(shop, "tests", CI="")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"SKIPPED \[\d+\] .*test database server mysql://root@127\.0\.0\.1:1/flughafen_test_\d+ is unavailable", done.stdout), done.stdout
    assert "3 passed, 3 skipped" in done.stdout
    under_ci = _pytest(shop, "tests", CI="true")
    assert under_ci.returncode == 1
    assert "CI=true: test database server mysql://root@127.0.0.1:1/" in under_ci.stdout
    assert "3 passed, 3 errors" in under_ci.stdout


def test_a_wrong_setting_stops_the_run_naming_the_key(tmp_path: Path) -> None:
    shop = _shop(tmp_path, ("sqlite://",))
    text = (shop / "pyproject.toml").read_text()
    (shop / "pyproject.toml").write_text(text.replace("test_databases =", "test_database ="))
    done = _pytest(shop, "tests")
    assert done.returncode == 4  # pytest's usage error
    assert "unknown key 'test_database'; did you mean 'test_databases'" in done.stderr


def test_the_plugin_imports_no_build_tool_when_pytest_loads_it() -> None:
    code = "import sys, flughafen.testing; print(sorted({m.split('.')[0] for m in sys.modules} & {'generator', 'jinja2', 'sqlglot', 'yaml', 'black'}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, cwd="/", check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_this_repository_runs_its_generated_tests_on_all_three_databases() -> None:
    """pyproject.toml's test_databases: the round trips of generated/ run on SQLite, MariaDB and PostgreSQL."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "generated/tests/test_flight_search.py"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    ids = [line for line in done.stdout.splitlines() if "test_round_trip" in line]
    assert ids == [f"generated/tests/test_flight_search.py::test_round_trip[{d}]" for d in ("sqlite", "mysql", "postgres")]
