"""The default cache namespace is the database's identity: different databases, different
namespaces; the same database reached with other credentials or options, the same one."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from flughafen.config import load_config, parse_database_url
from flughafen.keys import NAMESPACE

HOSTS = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "db.example", "10.0.0.7", "pg-1.internal"]), st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
SERVERS = st.tuples(st.sampled_from(["mysql", "postgresql"]), HOSTS, st.integers(min_value=1, max_value=65535), NAMES)
FILES = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/srv/" + "/".join(parts) + ".sqlite3")
DATABASES = st.one_of(SERVERS, FILES)
USERS = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8)
PASSWORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
OPTIONS = {
    "mysql": st.sampled_from(["", "?connect_timeout=3", "?ssl_mode=REQUIRED&read_timeout=9", "?statement_timeout=1&charset=utf8mb4"]),
    "postgresql": st.sampled_from(["", "?connect_timeout=3", "?sslmode=require", "?statement_timeout=5&application_name=shop"]),
}


def url_of(database: tuple[str, str, int, str] | str, credentials: str = "", options: str = "") -> str:
    if isinstance(database, str):
        return "sqlite:///" + database + ("?statement_timeout=2" if options else "")
    scheme, host, port, name = database
    return f"{scheme}://{credentials}{host}:{port}/{name}{options}"


def namespace(url: str) -> str:
    return load_config(database_url=url, cache_url="off").namespace


@settings(derandomize=True, max_examples=300)
@given(a=DATABASES, b=DATABASES)
def test_different_databases_get_different_namespaces(a: tuple[str, str, int, str] | str, b: tuple[str, str, int, str] | str) -> None:
    ua, ub = parse_database_url(url_of(a)), parse_database_url(url_of(b))
    if ua.identity != ub.identity:
        assert namespace(url_of(a)) != namespace(url_of(b)), (url_of(a), url_of(b))
    assert NAMESPACE.match(namespace(url_of(a)))


@settings(derandomize=True, max_examples=300)
@given(database=DATABASES, user=USERS, password=PASSWORDS, data=st.data())
def test_credentials_and_options_do_not_change_the_namespace(database: tuple[str, str, int, str] | str, user: str, password: str, data: st.DataObject) -> None:
    bare = url_of(database)
    if isinstance(database, str):
        other = url_of(database, options="yes")
    else:
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else f"{quote(user, safe='')}@"
        other = url_of(database, credentials, data.draw(OPTIONS[database[0]]))
    assert namespace(bare) == namespace(other), (bare, other)


def test_spellings_of_one_database_share_a_namespace() -> None:
    assert namespace("mysql://a@DB.example/shop") == namespace("mariadb://b:pw@db.example:3306/shop")
    assert namespace("postgres://x@h/shop") == namespace("postgresql://h:5432/shop?sslmode=disable")
    assert namespace("sqlite:////srv/app/./data/../data/app.sqlite3") == namespace("sqlite:////srv/app/data/app.sqlite3")
    assert namespace("postgresql://h/shop") != namespace("postgresql://h/shop2") != namespace("postgresql://h:5433/shop")
