"""Where the database and the cache are: URLs from arguments, environment or pyproject.toml.

Precedence: explicit argument > FLUGHAFEN_DATABASE_URL / FLUGHAFEN_CACHE_URL >
``[tool.flughafen]`` in the nearest pyproject.toml (or flughafen.toml) > the
embedded default. The dialect follows the database URL, so moving from
MariaDB to PostgreSQL is a configuration change with no rebuild. The cache
namespace (keys.py) is the database's own unless ``cache_namespace`` is given
(argument > FLUGHAFEN_CACHE_NAMESPACE > the file), to share a cache on purpose.

A URL is untrusted text: every option is checked (an unknown one is an error
naming it), and no message, log line or repr shows a password.

>>> parse_database_url("mysql://app:s3cret@db.example:3307/flights").redacted()
'mysql://app:***@db.example:3307/flights'
>>> parse_database_url("postgresql://postgres@127.0.0.1/flughafen").dialect
'postgres'
>>> parse_database_url("postgresql://app@db/flights?sslmode=require&statement_timeout=5").timeouts
Timeouts(connect=10.0, statement=5.0, read=10.0)
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from flughafen import keys
from flughafen.keys import DEFAULT_BUCKETS, NAMESPACE, NAMESPACE_RULE, database_namespace

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

# Options of a database URL that flughafen reads itself, on every dialect (seconds; 0: none).
TIMEOUT_OPTIONS = ("connect_timeout", "statement_timeout", "read_timeout")
# The options of a mysql:// URL besides the timeouts (a postgresql:// URL's options are libpq's).
MYSQL_OPTIONS = ("ssl_mode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity", "unix_socket", "charset")
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
READ_TIMEOUT_MARGIN = 5.0  # the read timeout's default: the statement timeout plus this
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def use_buckets(config: Config) -> None:
    """Sets the process's bucket count from a runtime's configuration (keys.use_buckets); a conflict is a ConfigError."""
    try:
        keys.use_buckets(config.cache_buckets)
    except keys.BucketCountError as e:
        raise ConfigError(str(e)) from None


class ConfigError(ValueError):
    """A URL or configuration file that cannot be used; the message never holds a password."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Bounds on every database call, in seconds; 0 turns one off.

    - ``connect``: opening a connection (PostgreSQL counts whole seconds, at least 2).
    - ``statement``: the server cancels a statement running longer: PostgreSQL's
      statement_timeout, MariaDB's max_statement_time, MySQL's max_execution_time (SELECTs
      only); on SQLite the client interrupts it. The connection stays usable.
    - ``read``: the client stops waiting for a reply that does not come (a stalled server
      or network link) and drops the connection. By default the statement timeout plus
      5 s, so that a slow statement is cancelled by the server first.
    """

    connect: float = 10.0
    statement: float = 30.0
    read: float = 35.0


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
    # The driver's own options, checked: a mysql:// URL's MYSQL_OPTIONS; a postgresql:// URL's
    # are libpq's, passed to it as written (see conninfo).
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold a password=
    timeouts: Timeouts = Timeouts()
    conninfo: str = field(default="", repr=False)  # postgresql://: the URL libpq is given (ours taken out)

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    @property
    def identity(self) -> str:
        """Which database this is, whoever connects and however: the dialect, host, port and
        database name (a SQLite file's resolved path); no user, password, timeout or TLS option.

        >>> parse_database_url("mariadb://app:pw@DB.example/flights?connect_timeout=3").identity
        'mysql://db.example:3306/flights'
        """
        if self.dialect == "sqlite":
            return "sqlite://" + (self.path if self.path == ":memory:" else os.path.realpath(self.path))
        return f"{self.dialect}://{self.host.lower()}:{self.port}/{self.database}"

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
    # valkeys://: the server's certificate must name the host connected to (verify=full, the default), or only be signed by the CA (verify=ca)
    verify_hostname: bool = True
    off: bool = False  # cache_url = "off": every read queries the database, nothing is stored
    nodes: tuple[tuple[str, int], ...] = ()  # valkey+cluster://: the seed nodes; valkey+sentinel://: the sentinels
    service: str | None = None  # valkey+sentinel://: the name of the primary the sentinels watch

    @property
    def cluster(self) -> bool:
        return bool(self.nodes) and self.service is None

    @property
    def sentinel(self) -> bool:
        return self.service is not None

    def redacted(self) -> str:
        return redact(self.raw)

    def __str__(self) -> str:
        return self.redacted()


def redact(url: str) -> str:
    """The URL with its password, and the value of any option named like ``password``, as ``***``.

    Everything from the first ``:`` to the last ``@`` counts as the password, so one holding
    ``/``, ``?``, ``#`` or ``@`` is hidden too; anything else is shown as written.

    >>> redact("valkey://user:pw@host:6379/0")
    'valkey://user:***@host:6379/0'
    >>> redact("mysql://app:pa/ss@db/flights")
    'mysql://app:***@db/flights'
    >>> redact("postgresql://db/flights?user=app&password=pw&sslmode=require")
    'postgresql://db/flights?user=app&password=***&sslmode=require'
    >>> redact("sqlite:///x.db")
    'sqlite:///x.db'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:  # not a URL: show no more than what cannot be a password
        if "password" in url.lower():
            return "***"  # a libpq "host=... password=..." string, say
        at = url.rfind("@")
        if at >= 0:
            return "***" + url[at:]
        head, colon, _ = url.partition(":")
        return head + (":***" if colon else "")
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = (f"{user}:***" if colon else user) + rest[at:]
    else:
        authority = _authority(rest)
        host, colon, port = authority.rpartition(":")
        if colon and not port.isdigit() and "]" not in port:  # a password written without its '@'?
            rest = f"{host}:***" + rest[len(authority) :]
    return f"{scheme}://{_redact_options(rest)}"


def _redact_options(text: str) -> str:
    """Every ``name=value`` between ``?`` and ``&`` whose name holds "password", with the value hidden."""
    pieces = re.split(r"([?&])", text)
    for i, piece in enumerate(pieces):
        key, eq, _ = piece.partition("=")
        if i and eq and "password" in unquote(key).lower():
            pieces[i] = f"{key}=***"
    return "".join(pieces)


def _authority(rest: str) -> str:
    """The URL's part between ``//`` and the path, options or fragment."""
    for i, c in enumerate(rest):
        if c in "/?#":
            return rest[:i]
    return rest


def _split_server_url(url: str, kind: str) -> tuple[str, str]:
    """(authority, the rest) of a server URL, refusing the shapes whose password cannot be told apart.

    A URL has at most one ``@``, the one that ends the user name and password: a ``/``, ``?``,
    ``#`` or ``@`` in a password, or an ``@`` in an option, must be percent-encoded.
    """
    rest = url.partition("://")[2]
    authority = _authority(rest)
    if any(c < " " or c == "\x7f" for c in rest):
        raise ConfigError(f"{kind} URL {redact(url)!r}: holds a control character (a tab or newline?); percent-encode it")
    if _BAD_PERCENT.search(rest):
        raise ConfigError(f"{kind} URL {redact(url)!r}: a '%' that starts no %XX escape; write a '%' as %25")
    if rest.count("@") > 1 or ("@" in rest and "@" not in authority):
        raise ConfigError(
            f"{kind} URL {redact(url)!r}: cannot tell where the password ends; percent-encode "
            "'@' as %40, '/' as %2F, '?' as %3F and '#' as %23 in the user name, password and options"
        )
    return authority, rest[len(authority) :]


def _urlsplit(url: str, kind: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:
        raise ConfigError(f"{kind} URL {redact(url)!r}: '[' and ']' enclose an IPv6 address; percent-encode them elsewhere (%5B, %5D)") from None


def _port(url: str, kind: str, authority: str, default: int) -> int:
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        text = host.partition("]")[2].removeprefix(":")
    else:
        text = host.rpartition(":")[2] if ":" in host else ""
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"{kind} URL {redact(url)!r}: the port is not a number from 1 to 65535")
    return int(text)


def _query(url: str, kind: str, query: str) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError(f"{kind} URL {redact(url)!r}: options must be written ?name=value&name=value") from None
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ConfigError(f"{kind} URL {redact(url)!r}: option {name!r} is given twice")
        seen.add(name)
    return pairs


def _seconds(where: str, name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{where}: {name} must be a number of seconds (0: none), not {value!r}")
    return seconds


def _timeouts(where: str, given: dict[str, str], defaults: Timeouts) -> Timeouts:
    """``defaults`` overridden by the timeouts in ``given``; a read timeout not given follows the statement timeout."""
    connect = _seconds(where, "connect_timeout", given["connect_timeout"]) if "connect_timeout" in given else defaults.connect
    statement = _seconds(where, "statement_timeout", given["statement_timeout"]) if "statement_timeout" in given else defaults.statement
    if "read_timeout" in given:
        read = _seconds(where, "read_timeout", given["read_timeout"])
    elif "statement_timeout" in given:
        read = statement + READ_TIMEOUT_MARGIN if statement else 0.0
    else:
        read = defaults.read
    return Timeouts(connect, statement, read)


def _mysql_options(url: str, pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    options = dict(pairs)
    for name, value in pairs:
        if name not in MYSQL_OPTIONS:
            raise ConfigError(f"database URL {redact(url)!r}: unknown option {name!r}; a mysql:// URL takes {', '.join(MYSQL_OPTIONS + TIMEOUT_OPTIONS)}")
        if name in ("ssl_verify_cert", "ssl_verify_identity") and value.lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ConfigError(f"database URL {redact(url)!r}: {name} must be true or false, not {value!r}")
        if name in ("ssl_ca", "ssl_cert", "ssl_key", "unix_socket", "charset") and not value:
            raise ConfigError(f"database URL {redact(url)!r}: {name} is empty")
    mode = options.get("ssl_mode")
    if mode is not None:
        if mode.upper() not in SSL_MODES:
            raise ConfigError(f"database URL {redact(url)!r}: ssl_mode must be one of {', '.join(SSL_MODES)}, not {mode!r}")
        tls_options = sorted(set(options) & {"ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity"})
        if mode.upper() == "DISABLED" and tls_options:
            raise ConfigError(f"database URL {redact(url)!r}: ssl_mode=DISABLED contradicts {tls_options[0]}")
    if ("ssl_cert" in options) != ("ssl_key" in options):
        raise ConfigError(f"database URL {redact(url)!r}: ssl_cert and ssl_key go together (a client certificate and its key)")
    return tuple(pairs)


def _without(query: str, names: tuple[str, ...]) -> str:
    """``query`` less the options ``names``, every other one kept exactly as written."""
    kept = [piece for piece in query.split("&") if piece and unquote(piece.partition("=")[0]) not in names]
    return "&".join(kept)


def parse_database_url(url: str, base_dir: Path | None = None, timeouts: Timeouts | None = None) -> DatabaseUrl:
    """A checked database URL; ``timeouts`` are the defaults its options override."""
    defaults = timeouts or Timeouts()
    url = url.strip()
    scheme = url.partition("://")[0].lower()
    dialect = _SCHEMES.get(scheme)
    if dialect is None or "://" not in url:
        raise ConfigError(f"database URL {redact(url)!r}: unknown scheme; use mysql:// (or mariadb://), postgresql:// or sqlite:///path")
    if dialect == "sqlite":
        return _sqlite_url(url, base_dir, defaults)
    authority, after = _split_server_url(url, "database")
    path, _, query = after.partition("?")
    path = path.partition("#")[0]
    pairs = _query(url, "database", query.partition("#")[0])
    given = {k: v for k, v in pairs if k in TIMEOUT_OPTIONS}
    parts = _urlsplit(url, "database")
    port = _port(url, "database", authority, 3306 if dialect == "mysql" else 5432)
    database = unquote(path.lstrip("/"))
    host = parts.hostname or ""
    conninfo = ""
    options: tuple[tuple[str, str], ...] = ()
    if dialect == "mysql":
        options = _mysql_options(url, [(k, v) for k, v in pairs if k not in TIMEOUT_OPTIONS])
        host = host or "127.0.0.1"
    else:
        libpq = {k: v for k, v in pairs if k not in TIMEOUT_OPTIONS}
        options = tuple(libpq.items())
        database = database or libpq.get("dbname", "")
        host = host or libpq.get("host", "")
        stripped = _without(query.partition("#")[0], TIMEOUT_OPTIONS)
        conninfo = url[: len(url) - len(after)] + path + ("?" + stripped if stripped else "")
    if not database:
        raise ConfigError(f"database URL {redact(url)!r} names no database; add /dbname")
    return DatabaseUrl(
        url,
        dialect,
        host=host,
        port=port,
        user=unquote(parts.username or ("root" if dialect == "mysql" else "postgres")),
        password=unquote(parts.password or ""),
        database=database,
        options=options,
        timeouts=_timeouts(f"database URL {redact(url)!r}", given, defaults),
        conninfo=conninfo,
    )


def _sqlite_url(url: str, base_dir: Path | None, defaults: Timeouts) -> DatabaseUrl:
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or redact(url) != url:  # a user, password or host: not a file
        raise ConfigError(f"database URL {redact(url)!r}: write sqlite:///relative/path or sqlite:////absolute/path (no user, password or host)")
    path, _, query = rest[1:].partition("?")
    if not path:
        raise ConfigError(f"database URL {redact(url)!r} names no file")
    pairs = _query(url, "database", query)
    for name, _ in pairs:
        if name != "statement_timeout":
            raise ConfigError(f"database URL {redact(url)!r}: unknown option {name!r}; a sqlite:/// URL takes statement_timeout")
    p = Path(path)
    if not p.is_absolute() and path != ":memory:":
        p = (base_dir or Path.cwd()) / p
    timeouts = Timeouts(0.0, _timeouts(f"database URL {redact(url)!r}", dict(pairs), defaults).statement, 0.0)
    return DatabaseUrl(url, "sqlite", path=str(p) if path != ":memory:" else path, timeouts=timeouts)


CACHE_SCHEMES = ("valkey", "valkeys", "redis", "rediss")
VERIFY_MODES = ("full", "ca")  # valkeys://...?verify=: check the certificate's host name too (full), or only its CA (ca)


def parse_cache_url(url: str) -> CacheUrl:
    if url.strip() == "embedded":
        return CacheUrl(url, embedded=True)
    if url.strip() == "off":
        return CacheUrl(url, off=True)
    scheme = url.partition("://")[0].lower()
    base, plus, mode = scheme.partition("+")
    if base not in CACHE_SCHEMES or "://" not in url or (plus and mode not in ("cluster", "sentinel")):
        raise ConfigError(
            f"cache URL {redact(url)!r}: use valkey://host:port/db, valkeys:// for TLS, "
            "valkey+cluster://host:port,host:port for a Valkey Cluster, "
            "valkey+sentinel://host:port,host:port/primary_name behind Sentinel, embedded, or off"
        )
    authority, after = _split_server_url(url, "cache")
    path, _, query = after.partition("?")
    options = dict(_query(url, "cache", query))
    unknown = sorted(set(options) - {"ca", "verify"})
    if unknown:
        raise ConfigError(f"cache URL {redact(url)!r}: unknown option {unknown[0]!r}; the options are ?ca=/path/to/ca.crt and ?verify=full|ca")
    tls = base in ("valkeys", "rediss")
    verify = options.get("verify", "full")
    if verify not in VERIFY_MODES:
        raise ConfigError(
            f"cache URL {redact(url)!r}: verify must be one of {', '.join(VERIFY_MODES)}, not {verify!r} "
            "(full: the certificate names the host connected to; ca: the CA signed it, whatever host it names)"
        )
    if "verify" in options and not tls:
        raise ConfigError(f"cache URL {redact(url)!r}: verify applies to TLS connections; use valkeys:// (or drop ?verify=)")
    ca_file, verify_hostname = options.get("ca"), verify == "full"
    if mode == "sentinel":
        service = unquote(path.partition("#")[0].strip("/"))
        if not service or "/" in service:
            raise ConfigError(f"cache URL {redact(url)!r}: name the primary the sentinels watch after the hosts (/mymaster)")
        return replace(_cluster_url(url, authority, 0, tls=tls, ca_file=ca_file, verify_hostname=verify_hostname), service=service)
    db_text = path.partition("#")[0].lstrip("/") or "0"
    if not db_text.isdigit():
        raise ConfigError(f"cache URL {redact(url)!r}: the database after the host is a number (/0)")
    if plus:
        return _cluster_url(url, authority, int(db_text), tls=tls, ca_file=ca_file, verify_hostname=verify_hostname)
    port = _port(url, "cache", authority, 6379)
    parts = _urlsplit(url, "cache")
    return CacheUrl(
        url,
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(db_text),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        ca_file=ca_file,
        verify_hostname=verify_hostname,
    )


def _cluster_url(url: str, authority: str, db: int, *, tls: bool, ca_file: str | None, verify_hostname: bool) -> CacheUrl:
    """valkey+cluster://[user:password@]host:port[,host:port...]: seed nodes of a Valkey Cluster (database 0 only);
    the same list names the sentinels of a valkey+sentinel:// URL."""
    if db != 0:
        raise ConfigError(f"cache URL {redact(url)!r}: a Valkey Cluster has database 0 only; leave the path out")
    credentials, at, hosts = authority.rpartition("@")
    user, colon, password = credentials.partition(":")
    nodes = []
    for seed in hosts.split(","):
        host = seed.rpartition(":")[0] if not seed.endswith("]") else seed
        if not seed or not host.strip("[]"):
            raise ConfigError(f"cache URL {redact(url)!r}: each seed node is host:port, separated by commas")
        nodes.append((unquote(host.strip("[]")), _port(url, "cache", seed, 6379)))
    return CacheUrl(
        url,
        host=nodes[0][0],
        port=nodes[0][1],
        username=unquote(user) if at and user else None,
        password=unquote(password) if colon else None,
        tls=tls,
        ca_file=ca_file,
        verify_hostname=verify_hostname,
        nodes=tuple(nodes),
    )


@dataclass(frozen=True, slots=True)
class Config:
    database_url: DatabaseUrl
    cache_url: CacheUrl
    project_dir: Path
    cache_namespace: str | None = None  # set by the user: shared on purpose; None: the database's own
    source: str = "defaults"  # the file the settings came from
    cache_buckets: int = DEFAULT_BUCKETS
    # Replicas that must confirm each invalidation (WAIT; replication.py): a number, or WAIT_ALL (every connected one).
    cache_wait_replicas: int = 0

    @property
    def namespace(self) -> str:
        """The cache namespace every key of this configuration is in (keys.Keyspace)."""
        return self.cache_namespace or database_namespace(self.database_url.identity)

    def describe(self) -> str:
        """One line: what the configuration is, without a password."""
        how = "set" if self.cache_namespace else f"from {self.database_url.identity}"
        return f"configuration: {self.source}; database {self.database_url.redacted()}; cache {self.cache_url.redacted()}; namespace {self.namespace} ({how})"


def check_namespace(value: str, where: str) -> str:
    """A cache_namespace as given, or ConfigError naming where it came from."""
    if not NAMESPACE.match(value):
        raise ConfigError(f"{where}: cache_namespace {value!r}: use {NAMESPACE_RULE}")
    return value


# Every key of [tool.flughafen], and what it holds (shown when one is misspelt).
KEYS: dict[str, str] = {
    "database_url": "the database URL the application uses",
    "cache_url": "the cache URL (valkey://..., valkeys://..., valkey+cluster://..., valkey+sentinel://..., embedded, or off)",
    "cache_namespace": "the namespace of every cache key (default: one per database); the same on two databases shares their entries",
    "cache_buckets": "how many buckets (hash slots of a Valkey Cluster) the cache's keys are spread over; part of every key",
    "cache_wait_replicas": (
        'how many replicas of a primary must confirm each invalidation (WAIT): "all" (the default behind Sentinel and on a cluster), '
        "a number, or 0 (the default on one server)"
    ),
    "package": "the import name of the generated package, e.g. myapp.cache",
    "out": "the folder of the generated package, e.g. src/myapp/cache",
    "specs": "the folder of specs",
    "schema": "the schema DDL",
    "test_databases": "servers the test fixtures create their databases in",
    "seed": "module:function that fills a database just created from the schema",
    "collation": 'how the build compares text: "mariadb" compares it case-insensitively on every database, as MariaDB does',
    "connect_timeout": "seconds to open a database connection (0: no bound; the database URL's option wins)",
    "statement_timeout": "seconds a database statement may run before the server cancels it (0: no bound)",
    "read_timeout": "seconds to wait for a database reply before dropping the connection (0: no bound)",
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
        if not section and isinstance(data, dict) and isinstance(data.get("tool"), dict) and "flughafen" in data["tool"]:
            section = ("tool", "flughafen")  # a flughafen.toml written like pyproject.toml: the same table
            others = sorted(set(data) - {"tool"})
            if others:
                raise ConfigError(f"{path}: {others[0]!r} is outside [tool.flughafen]; put every setting in that table, or none of them")
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


def _file_settings(project_dir: Path) -> tuple[str, dict[str, str]]:
    """(where they were read, the settings: strings, and numbers as text)."""
    where, table = read_table(project_dir)
    return where, {k: str(v) for k, v in table.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


WAIT_ALL = -1  # cache_wait_replicas = "all"


def wait_replicas(value: str | None, url: CacheUrl, where: str) -> int:
    """``cache_wait_replicas`` as a count (WAIT_ALL for "all"); not given: "all" behind Sentinel and on a cluster, 0 on one server.

    >>> wait_replicas(None, parse_cache_url("valkey+sentinel://h:26379/main"), "x"), wait_replicas("2", parse_cache_url("valkey://h"), "x")
    (-1, 2)
    """
    if value is None or value == "":
        return WAIT_ALL if url.sentinel or url.cluster else 0
    text = value.strip().lower()
    if text == "all":
        return WAIT_ALL
    if not text.isdigit():
        raise ConfigError(f'{where}: cache_wait_replicas is {value!r}; it must be "all" or a whole number of replicas (0: do not wait)')
    return int(text)


def load_config(
    database_url: str | None = None,
    cache_url: str | None = None,
    project_dir: Path | None = None,
    cache_namespace: str | None = None,
    cache_wait_replicas: int | str | None = None,
) -> Config:
    root = project_dir or find_project_dir()
    where, settings = _file_settings(root)
    db = database_url or os.environ.get("FLUGHAFEN_DATABASE_URL") or settings.get("database_url") or DEFAULT_DATABASE_URL
    cache = cache_url or os.environ.get("FLUGHAFEN_CACHE_URL") or settings.get("cache_url") or DEFAULT_CACHE_URL
    # connect_timeout, statement_timeout, read_timeout in the file: defaults the URL's options override
    timeouts = _timeouts(where, {k: v for k, v in settings.items() if k in TIMEOUT_OPTIONS}, Timeouts())
    namespace = None
    for given, origin in (
        (cache_namespace, "the cache_namespace argument"),
        (os.environ.get("FLUGHAFEN_CACHE_NAMESPACE"), "FLUGHAFEN_CACHE_NAMESPACE"),
        (settings.get("cache_namespace"), where),
    ):
        if given:
            namespace = check_namespace(given, origin)
            break
    file, _, table = where.partition(" ")
    source = "defaults" if where == "defaults" else f"{root / file} {table}".rstrip()
    buckets = os.environ.get("FLUGHAFEN_CACHE_BUCKETS") or settings.get("cache_buckets") or str(DEFAULT_BUCKETS)
    if not buckets.isdigit() or not 1 <= int(buckets) <= 16384:
        raise ConfigError(f"{where}: cache_buckets is {buckets!r}; it must be a whole number from 1 to 16384")
    cache_url_ = parse_cache_url(cache)
    if cache_wait_replicas is not None:
        wait = wait_replicas(str(cache_wait_replicas), cache_url_, "the cache_wait_replicas argument")
    elif os.environ.get("FLUGHAFEN_CACHE_WAIT_REPLICAS"):
        wait = wait_replicas(os.environ["FLUGHAFEN_CACHE_WAIT_REPLICAS"], cache_url_, "FLUGHAFEN_CACHE_WAIT_REPLICAS")
    else:
        wait = wait_replicas(settings.get("cache_wait_replicas"), cache_url_, where)
    return Config(parse_database_url(db, root, timeouts), cache_url_, root, namespace, source, int(buckets), wait)
