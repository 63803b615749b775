"""A user's project that is not FlughafenDB: a shop with a ``product`` table and one spec over it.

Its generated code goes to the package ``shop.cache`` in ``src/shop/cache``;
its seed function puts three products in every test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCHEMA = """\
CREATE TABLE product (
  product_id INT NOT NULL,
  sku CHAR(7) NOT NULL,
  name VARCHAR(100) NOT NULL,
  category VARCHAR(20) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (product_id),
  UNIQUE KEY sku_unq (sku),
  KEY category_idx (category)
);
"""

SPEC = """\
name: products_in_category
summary: The products of one category, cheapest first
params:
  category: {type: str, pattern: "^[A-Z]{1,20}$"}
sql: |
  SELECT p.product_id, p.sku, p.name, p.price
  FROM product p
  WHERE p.category = :category
  ORDER BY p.price, p.product_id
returns: many
cache:
  key: "products:{category}"
  ttl: 10m
  tags: ["category:{category}"]
invalidate:
  - {table: product, tags: ["category:{category}"]}
examples:
  - {category: TOOLS}
"""

# A write through the write-behind queue (flughafen-gen worker applies it).
BEHIND_SPEC = """\
name: reprice_product
summary: Change a product's price later, through the write-behind queue
kind: write
params:
  product_id: int
  price: decimal
sql: |
  UPDATE product SET price = :price WHERE product_id = :product_id
lookup: true
write: behind
"""

SEED = '''\
"""Rows for a database just made from specs/schema.sql: the tests' and the demo's."""


def insert_products(runtime):
    runtime.db.execute(
        "INSERT INTO product (product_id, sku, name, category, price) VALUES "
        "(1, 'HAM-001', 'Claw hammer', 'TOOLS', 12.50), "
        "(2, 'SCR-002', 'Screwdriver', 'TOOLS', 7.25), "
        "(3, 'SEE-003', 'Tomato seeds', 'GARDEN', 3.10)"
    )
'''

SERVERS = ("sqlite://", "mysql://root@127.0.0.1:3306", "postgresql://postgres@127.0.0.1:5432")


def pyproject(test_databases: tuple[str, ...], extra: str = "") -> str:
    listed = ", ".join(f'"{url}"' for url in test_databases)
    return f"""\
[project]
name = "shop"
version = "0.1.0"

[tool.flughafen]
package = "shop.cache"
out = "src/shop/cache"
database_url = "sqlite:///shop.sqlite3"
cache_url = "embedded"
test_databases = [{listed}]
seed = "shop.seed:insert_products"
{extra}
[tool.pytest.ini_options]
filterwarnings = ["error"]
"""


def write_shop(folder: Path, test_databases: tuple[str, ...] = ("sqlite://",), behind: bool = False) -> Path:
    """The project's files in ``folder`` (nothing generated yet); returns ``folder``. ``behind``: with a write-behind spec too."""
    (folder / "specs").mkdir(parents=True)
    (folder / "specs" / "schema.sql").write_text(SCHEMA)
    (folder / "specs" / "products_in_category.yaml").write_text(SPEC)
    if behind:
        (folder / "specs" / "reprice_product.yaml").write_text(BEHIND_SPEC)
    (folder / "src" / "shop").mkdir(parents=True)
    (folder / "src" / "shop" / "__init__.py").write_text('"""The shop."""\n')
    (folder / "src" / "shop" / "seed.py").write_text(SEED)
    (folder / "pyproject.toml").write_text(pyproject(test_databases))
    return folder


def clean_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no settings of ours, ``bin_dir`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUGHAFEN_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def this_venv_bin() -> Path:
    """The folder of this test run's python and flughafen-gen (the repository's .venv)."""
    return Path(sys.executable).parent
