"""The commands in a user's own project: the configured package, never ``generated``; the configuration checked.

Each command runs as a user runs it: ``flughafen-gen`` in a subprocess, in the
project's folder, its exit code and output checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flughafen import embedded
from tests.product.shop import clean_env, pyproject, run, this_venv_bin, write_shop

GEN = this_venv_bin() / "flughafen-gen"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Path]:
    """The shop; its embedded Valkey (which demo, warm, worker and stats start) stopped after the test, passed or failed."""
    folder = write_shop(tmp_path / "shop")
    yield folder
    embedded.stop(folder)


def test_build_writes_the_configured_package_whose_tests_import_it_relatively(shop: Path) -> None:
    done = run([GEN, "build"], shop, clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 accessor module(s) in src/shop/cache/ (written)"
    package = shop / "src" / "shop" / "cache"
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py", "products_in_category.py"]
    test = (package / "tests" / "test_products_in_category.py").read_text()
    assert "from .. import products_in_category" in test
    assert not [p for p in package.rglob("*.py") if re.search(r"^\s*(from|import) generated\b", p.read_text(), re.MULTILINE)]
    assert not (shop / "generated").exists()
    assert run([GEN, "build", "--check"], shop, clean_env()).returncode == 0


def test_demo_makes_and_seeds_a_new_database_then_calls_the_configured_accessors(shop: Path) -> None:
    assert run([GEN, "build"], shop, clean_env()).returncode == 0
    done = run([GEN, "demo"], shop, clean_env())
    assert done.returncode == 0, done.stderr
    assert "seeding them with shop.seed:insert_products (once)" in done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| products_in_category"))
    assert [c.strip() for c in row.strip("|").split("|")][1:3] == ["category=TOOLS", "2"]
    again = run([GEN, "demo"], shop, clean_env())
    assert again.returncode == 0 and "seeding" not in again.stderr, "a database with the tables is left as it is"


def test_explain_warm_worker_and_stats_load_the_configured_package(shop: Path) -> None:
    assert run([GEN, "build"], shop, clean_env()).returncode == 0
    assert run([GEN, "demo"], shop, clean_env()).returncode == 0  # the tables and rows
    explain = run([GEN, "explain", "products_in_category"], shop, clean_env())
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("-- products_in_category on sqlite:///shop.sqlite3 (sqlite)")
    assert "category_idx" in explain.stdout
    (shop / "params.jsonl").write_text('{"category": "GARDEN"}\n{"category": "TOOLS"}\n')
    warm = run([GEN, "warm", "products_in_category", "--params", "params.jsonl"], shop, clean_env())
    assert warm.returncode == 0, warm.stderr
    # the demo's process filled TOOLS in the project's embedded Valkey, which outlived it
    assert "warmed products_in_category: 2 parameter sets, 1 filled, 1 already cached" in warm.stdout
    worker = run([GEN, "worker", "--once"], shop, clean_env())
    assert (worker.returncode, worker.stderr.strip()) == (0, "no write: behind specs in shop.cache; nothing to do")
    stats = run([GEN, "stats"], shop, clean_env())
    assert stats.returncode == 0, stats.stderr


def test_a_command_before_the_build_says_to_build(shop: Path) -> None:
    done = run([GEN, "explain", "products_in_category"], shop, clean_env())
    assert done.returncode == 3
    assert done.stderr == (
        "error: no package 'shop.cache' in src/shop/cache/; run: flughafen-gen build (it writes there, see pyproject.toml [tool.flughafen])\n"
    )


def test_an_unknown_key_is_an_error_naming_it_and_the_nearest_key(shop: Path) -> None:
    (shop / "pyproject.toml").write_text(pyproject(("sqlite://",), extra='pakage = "shop.cache"\n'))
    for command in (["build"], ["demo"], ["explain", "products_in_category"]):
        done = run([GEN, *command], shop, clean_env())
        assert done.returncode == 3
        assert done.stderr.strip() == (
            "error: pyproject.toml [tool.flughafen]: unknown key 'pakage'; did you mean 'package' (the import name of the generated package, e.g. myapp.cache)?"
        )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('out = "src/shop/cash"', "out = 'src/shop/cash' must end in shop/cache, the folders of package = 'shop.cache'"),
        ('test_databases = ["postgresql://postgres@127.0.0.1:5432/shop"]', "names the database 'shop'; give the server only"),
        ('seed = "shop.seed.insert_products"', "seed = 'shop.seed.insert_products' must name a function as module:function"),
        ('package = "shop.class"', "package = 'shop.class' is not a Python import name"),
    ],
)
def test_settings_that_cannot_work_are_refused_saying_why(shop: Path, setting: str, message: str) -> None:
    text = pyproject(("sqlite://",))
    key = setting.split(" =")[0]
    kept = [line for line in text.splitlines() if not line.startswith(key + " =")]
    (shop / "pyproject.toml").write_text("\n".join(kept).replace("[tool.flughafen]", f"[tool.flughafen]\n{setting}") + "\n")
    done = run([GEN, "build"], shop, clean_env())
    assert done.returncode == 3
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_runtime_refuses_an_unknown_key_too(shop: Path) -> None:
    from flughafen import ConfigError, load_config

    (shop / "pyproject.toml").write_text(pyproject(("sqlite://",), extra='cache_ulr = "embedded"\n'))
    with pytest.raises(ConfigError, match="unknown key 'cache_ulr'; did you mean 'cache_url'"):
        load_config(project_dir=shop)
