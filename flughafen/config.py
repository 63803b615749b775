"""Where the database and the cache are: URLs from arguments, environment or pyproject.toml.

Precedence: explicit argument > FLUGHAFEN_DATABASE_URL / FLUGHAFEN_CACHE_URL >
``[tool.flughafen]`` in the nearest pyproject.toml (or flughafen.toml) > the
embedded default. The dialect follows the database URL, so moving from
MariaDB to PostgreSQL is a configuration change with no rebuild.

>>> parse_database_url("mysql://app:s3cret@db.example:3307/flights").redacted()
'mysql://app:***@db.example:3307/flights'
>>> parse_database_url("postgresql://postgres@127.0.0.1/flughafen").dialect
'postgres'
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Dialect = Literal["mysql", "postgres", "sqlite"]

DEFAULT_DATABASE_URL = "sqlite:///.flughafen/flughafen.sqlite3"
DEFAULT_CACHE_URL = "embedded"

_SCHEMES: dict[str, Dialect] = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+pymysql": "mysql",
    "postgresql": "postgres",
    "postgres": "postgres",
    "sqlite": "sqlite",
}


class ConfigError(ValueError):
    """A URL or configuration file that cannot be used; the message never holds a password."""


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    raw: str = field(repr=False)
    dialect: Dialect
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    path: str = ""  # sqlite file

    def redacted(self) -> str:
        return redact(self.raw)

    def __str__(self) -> str:
        return self.redacted()


@dataclass(frozen=True, slots=True)
class CacheUrl:
    raw: str = field(repr=False)
    embedded: bool = False
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None  # valkeys://...?ca=/path/ca.crt: the CA that signed the server's certificate
    off: bool = False  # cache_url = "off": every read queries the database, nothing is stored

    def redacted(self) -> str:
        return redact(self.raw)

    def __str__(self) -> str:
        return self.redacted()


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``.

    >>> redact("valkey://user:pw@host:6379/0")
    'valkey://user:***@host:6379/0'
    >>> redact("sqlite:///x.db")
    'sqlite:///x.db'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    if not slash and "?" in netloc:
        netloc, _, query = netloc.partition("?")
        tail, slash = "?" + query, ""
    if "@" not in netloc:
        return url
    userinfo, _, hostport = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else ("***" if not user else user)
    return f"{scheme}://{shown}@{hostport}{slash}{tail}"


def parse_database_url(url: str, base_dir: Path | None = None) -> DatabaseUrl:
    scheme = url.partition("://")[0].lower()
    dialect = _SCHEMES.get(scheme)
    if dialect is None or "://" not in url:
        raise ConfigError(f"database URL {redact(url)!r}: unknown scheme; use mysql://, postgresql:// or sqlite:///path")
    if dialect == "sqlite":
        path = url.split("://", 1)[1]
        if not path.startswith("/"):
            raise ConfigError(f"database URL {url!r}: write sqlite:///relative/path or sqlite:////absolute/path")
        path = path[1:]
        if not path:
            raise ConfigError(f"database URL {url!r} names no file")
        p = Path(path)
        if not p.is_absolute() and path != ":memory:":
            p = (base_dir or Path.cwd()) / p
        return DatabaseUrl(url, "sqlite", path=str(p) if path != ":memory:" else path)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ConfigError(f"database URL {redact(url)!r}: {e}") from None
    database = parts.path.lstrip("/")
    if not database:
        raise ConfigError(f"database URL {redact(url)!r} names no database; add /dbname")
    return DatabaseUrl(
        url,
        dialect,
        host=parts.hostname or "127.0.0.1",
        port=port or (3306 if dialect == "mysql" else 5432),
        user=unquote(parts.username or ("root" if dialect == "mysql" else "postgres")),
        password=unquote(parts.password or ""),
        database=database,
    )


def parse_cache_url(url: str) -> CacheUrl:
    if url.strip() == "embedded":
        return CacheUrl(url, embedded=True)
    if url.strip() == "off":
        return CacheUrl(url, off=True)
    scheme = url.partition("://")[0].lower()
    if scheme not in ("valkey", "valkeys", "redis", "rediss") or "://" not in url:
        raise ConfigError(f"cache URL {redact(url)!r}: use valkey://host:port/db, valkeys:// for TLS, embedded, or off")
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
        db = int(parts.path.lstrip("/") or 0)
    except ValueError as e:
        raise ConfigError(f"cache URL {redact(url)!r}: {e}") from None
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - {"ca"})
    if unknown:
        raise ConfigError(f"cache URL {redact(url)!r}: unknown option {unknown[0]!r}; the one option is ?ca=/path/to/ca.crt")
    return CacheUrl(
        url,
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=scheme in ("valkeys", "rediss"),
        ca_file=query.get("ca"),
    )


@dataclass(frozen=True, slots=True)
class Config:
    database_url: DatabaseUrl
    cache_url: CacheUrl
    project_dir: Path


# Every key of [tool.flughafen], and what it holds (shown when one is misspelt).
KEYS: dict[str, str] = {
    "database_url": "the database URL the application uses",
    "cache_url": "the cache URL (valkey://..., valkeys://..., embedded, or off)",
    "package": "the import name of the generated package, e.g. myapp.cache",
    "out": "the folder of the generated package, e.g. src/myapp/cache",
    "specs": "the folder of specs",
    "schema": "the schema DDL",
    "test_databases": "servers the test fixtures create their databases in",
    "seed": "module:function that fills a database just created from the schema",
}


def read_table(project_dir: Path) -> tuple[str, dict[str, Any]]:
    """(where, the [tool.flughafen] table) of ``project_dir``; an unknown key raises ConfigError."""
    for name, section in (("flughafen.toml", ()), ("pyproject.toml", ("tool", "flughafen"))):
        path = project_dir / name
        if not path.is_file():
            continue
        try:
            data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
        for part in section:
            data = data.get(part, {}) if isinstance(data, dict) else {}
        if data:
            where = name + (" [tool.flughafen]" if section else "")
            _check_keys(data, where)
            return where, dict(data)
    return "defaults", {}


def _check_keys(table: dict[str, Any], where: str) -> None:
    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r} ({KEYS[close[0]]})?" if close else f"the keys are {', '.join(KEYS)}"
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}")


def find_project_dir(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() or (d / "flughafen.toml").is_file():
            return d
    return here


def _file_settings(project_dir: Path) -> dict[str, str]:
    return {k: v for k, v in read_table(project_dir)[1].items() if isinstance(v, str)}


def load_config(database_url: str | None = None, cache_url: str | None = None, project_dir: Path | None = None) -> Config:
    root = project_dir or find_project_dir()
    settings = _file_settings(root)
    db = database_url or os.environ.get("FLUGHAFEN_DATABASE_URL") or settings.get("database_url") or DEFAULT_DATABASE_URL
    cache = cache_url or os.environ.get("FLUGHAFEN_CACHE_URL") or settings.get("cache_url") or DEFAULT_CACHE_URL
    return Config(parse_database_url(db, root), parse_cache_url(cache), root)
