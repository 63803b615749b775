"""The project's settings: ``[tool.flughafen]`` in pyproject.toml (or flughafen.toml: at its top level, or in the same table).

::

    [tool.flughafen]
    package = "myapp.cache"            # the import name of the generated package
    out = "src/myapp/cache"            # its folder (default: the package's dotted name as folders)
    specs = "specs"                    # the folder of specs (default: specs)
    schema = "specs/schema.sql"        # the schema DDL (default: <specs>/schema.sql)
    database_url = "sqlite:///.flughafen/flughafen.sqlite3"
    cache_url = "embedded"
    cache_namespace = "shop"           # every key under fg:shop: (default: one namespace per database)
    statement_timeout = 30             # seconds; also connect_timeout, read_timeout (URL options win)
    test_databases = ["sqlite://", "mysql://root@127.0.0.1:3306", "postgresql://postgres@127.0.0.1:5432"]
    seed = "myapp.testing:insert_rows"  # fills a database just created from the schema

Paths are relative to the folder of the file. A key not listed here is an
error naming it, with the nearest known key, so a misspelt setting never
falls back to a default unnoticed.

>>> s = settings_from({"package": "myapp.cache", "out": "src/myapp/cache"}, Path("/p"), "pyproject.toml")
>>> s.out.as_posix(), s.import_root.as_posix(), s.schema.as_posix()
('/p/src/myapp/cache', '/p/src', '/p/specs/schema.sql')
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flughafen.config import ConfigError, find_project_dir, read_table, redact

DEFAULT_PACKAGE = "generated"
DEFAULT_TEST_DATABASES = ("sqlite://",)
SQLITE_TEST_DATABASE = "sqlite://"  # a file of its own in pytest's temporary folder
_SEED = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*\Z")
_SERVER_SCHEMES = ("mysql", "mariadb", "mysql+pymysql", "postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class Settings:
    root: Path  # the folder of pyproject.toml / flughafen.toml (or the cwd when there is none)
    source: str  # where the settings come from, for messages: "pyproject.toml [tool.flughafen]"
    package: str
    out: Path
    specs: Path
    schema: Path
    test_databases: tuple[str, ...]
    seed: str | None

    def shown(self, path: Path) -> str:
        """A path as messages show it: relative to the project when inside it."""
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else path.as_posix()

    @property
    def import_root(self) -> Path:
        """The folder that must be on ``sys.path`` for ``package`` to import from ``out``."""
        return self.out.parents[self.package.count(".")]


def load_settings(project_dir: Path | None = None) -> Settings:
    """The settings of the project around ``project_dir`` (default: the cwd's nearest pyproject.toml)."""
    root = project_dir.resolve() if project_dir is not None else find_project_dir()
    where, table = read_table(root)
    return settings_from(table, root, where)


def settings_from(table: dict[str, Any], root: Path, where: str) -> Settings:
    def text(key: str) -> str | None:
        value = table.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise ConfigError(f"{where}: {key} must be a non-empty string, not {value!r}")
        return value

    package = text("package") or DEFAULT_PACKAGE
    parts = package.split(".")
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise ConfigError(f"{where}: package = {package!r} is not a Python import name (write it as myapp.cache)")
    out_text = text("out")
    if out_text is not None and text("package") is None:
        raise ConfigError(f'{where}: out = {out_text!r} needs package = "...", the import name of that folder')
    out = root / (out_text if out_text is not None else Path(*parts))
    if out_text is not None and tuple(Path(out_text).parts[-len(parts) :]) != tuple(parts):
        shown = "/".join(parts)
        raise ConfigError(f"{where}: out = {out_text!r} must end in {shown}, the folders of package = {package!r}")
    specs = root / (text("specs") or "specs")
    schema_text = text("schema")
    schema = root / schema_text if schema_text is not None else specs / "schema.sql"
    seed = text("seed")
    if seed is not None and not _SEED.match(seed):
        raise ConfigError(f"{where}: seed = {seed!r} must name a function as module:function, e.g. myapp.testing:insert_rows")
    return Settings(root, where, package, out, specs, schema, _test_databases(table.get("test_databases"), where), seed)


def _test_databases(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_TEST_DATABASES
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: test_databases must be a list of URLs, e.g. ["sqlite://", "postgresql://postgres@127.0.0.1:5432"]')
    for url in value:
        check_test_server(url, where)
    return tuple(value)


def check_test_server(url: str, where: str) -> None:
    """A test server URL names a server, never a database: the fixtures create and drop their own.

    >>> check_test_server("postgresql://postgres@127.0.0.1:5432", "here")
    >>> check_test_server("postgresql://postgres@127.0.0.1:5432/shop", "here")
    Traceback (most recent call last):
    ...
    flughafen.config.ConfigError: here: test database 'postgresql://postgres@127.0.0.1:5432/shop' names the database 'shop'; give the server only (postgresql://postgres@127.0.0.1:5432): the tests create and drop a database of their own there
    """
    if url == SQLITE_TEST_DATABASE:
        return
    scheme = url.partition("://")[0].lower()
    if "://" not in url or scheme not in _SERVER_SCHEMES:
        raise ConfigError(f"{where}: test database {redact(url)!r}: write sqlite://, mysql://user@host:port or postgresql://user@host:port")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises on a bad one
    except ValueError as e:
        raise ConfigError(f"{where}: test database {redact(url)!r}: {e}") from None
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: test database {redact(url)!r}: a test server URL takes no ?options")
    name = parts.path.strip("/")
    if name:
        server = redact(url.split("/" + name, 1)[0])
        raise ConfigError(
            f"{where}: test database {redact(url)!r} names the database {name!r}; give the server only ({server}): "
            "the tests create and drop a database of their own there"
        )
