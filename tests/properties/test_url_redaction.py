"""No password shows, whatever the URL's shape: in redact(), in a parsed URL's str and repr, in any ConfigError.

The password is ``ZQ...QZ`` and nothing else in the generated URLs holds a ``Z``,
so a ``Z`` in the output is a piece of the password, whichever piece.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from flughafen.config import ConfigError, parse_cache_url, parse_database_url, redact
from flughafen.db import postgres_params

NO_Z = st.characters(blacklist_characters="ZQ", blacklist_categories=("Cs",))
SPECIAL = st.sampled_from([*list("/@:?#%&= "), "%2F", "%40", "%zz", "é", "\n", "[", "]"])
MIDDLE = st.lists(st.one_of(SPECIAL, st.text(NO_Z, max_size=3)), max_size=6).map("".join)
PASSWORD = MIDDLE.map(lambda m: "ZQ" + m + "QZ")
USER = st.one_of(st.just(""), st.sampled_from(["app", "root", "a.b", "user%40x"]), st.text(st.characters(whitelist_categories=("Ll", "Nd")), max_size=6))
HOST = st.sampled_from(["db.example", "127.0.0.1", "[::1]", "", "localhost", "host_1"])
PORT = st.sampled_from(["", ":5432", ":3306", ":0", ":99999", ":x"])
PATH = st.sampled_from(["", "/", "/flights", "/flights/x", "/x.db", "//abs/x.db"])
OPTIONS = st.lists(
    st.sampled_from(["sslmode=require", "ssl_ca=/a/ca.pem", "ssl_ca=/a@b", "statement_timeout=5", "ca=/x", "host=/run/postgresql", "bogus=1", "x"]), max_size=3
)
SCHEME = st.sampled_from(
    [
        "mysql://",
        "mariadb://",
        "postgresql://",
        "postgres://",
        "sqlite://",
        "sqlite:///",
        "valkey://",
        "valkeys://",
        "redis://",
        "ftp://",
        "",
        "mysql:",
        "valkey+cluster://",
        "valkeys+cluster://",
        "valkey+sentinel://",
        "valkeys+sentinel://",
    ]
)
HOST = st.one_of(HOST, st.sampled_from(["a:7000,b:7001", "10.0.0.1:7000,", ",x:1", "[::1]:7000,h:7001"]))


@st.composite
def urls(draw: st.DrawFn) -> str:
    password = draw(PASSWORD)
    where = draw(st.sampled_from(["raw", "encoded", "option", "bare"]))
    user = draw(USER)
    options = draw(OPTIONS)
    if where == "raw":
        authority = f"{user}:{password}@{draw(HOST)}{draw(PORT)}"
    elif where == "encoded":
        authority = f"{user}:{quote(password, safe='')}@{draw(HOST)}{draw(PORT)}"
    elif where == "bare":  # the '@host' forgotten
        authority = f"{user}:{quote(password, safe='')}"
    else:
        authority = f"{user}@{draw(HOST)}{draw(PORT)}" if user else draw(HOST)
        options = [*options, "password=" + quote(password, safe="")]
    query = "?" + "&".join(options) if options else ""
    scheme = draw(SCHEME)
    if where == "bare" and scheme == "sqlite:///":
        scheme = "sqlite://"  # after sqlite:/// the text is a file's path, not a user and password
    return scheme + authority + draw(PATH) + query


def shown(text: str) -> None:
    assert "Z" not in text, text


def parsed(parse: Callable[[str], Any], url: str) -> Any:
    """``parse(url)``, or None when it refused the URL; nothing it shows holds the password."""
    try:
        result = parse(url)
    except ConfigError as e:
        shown(str(e))
        return None
    shown(str(result))
    shown(repr(result))
    return result


@settings(derandomize=True, max_examples=1500)
@given(urls())
def test_no_password_is_ever_shown(url: str) -> None:
    shown(redact(url))
    database = parsed(parse_database_url, url)
    if database is not None and database.dialect == "postgres":
        parsed(lambda _: postgres_params(database, database.timeouts) and "accepted by libpq", url)  # what libpq says of it
    parsed(parse_cache_url, url)


@settings(derandomize=True, max_examples=300)
@given(
    USER.filter(lambda u: u and "%" not in u),
    MIDDLE.filter(lambda m: m.isprintable() and not set(m) & set("%/@:?#&= []")),
    st.sampled_from(["db.example", "127.0.0.1"]),
)
def test_a_plain_url_keeps_its_user_and_host(user: str, middle: str, host: str) -> None:
    url = f"mysql://{user}:ZQ{middle}QZ@{host}:3306/flights?ssl_mode=REQUIRED"
    assert redact(url) == f"mysql://{user}:***@{host}:3306/flights?ssl_mode=REQUIRED"
    parsed = parse_database_url(url)
    assert (parsed.user, parsed.password, parsed.host) == (user, f"ZQ{middle}QZ", host)


@settings(derandomize=True, max_examples=300)
@given(USER.filter(lambda u: u and "%" not in u), MIDDLE.filter(lambda m: m.isprintable() and not set(m) & set("%/@:?#&= []")))
def test_a_cluster_url_keeps_its_user_and_every_seed(user: str, middle: str) -> None:
    url = f"valkeys+cluster://{user}:ZQ{middle}QZ@10.0.0.5:7000,[::1]:7001,cache-3:7002?ca=/etc/ca.crt"
    assert redact(url) == f"valkeys+cluster://{user}:***@10.0.0.5:7000,[::1]:7001,cache-3:7002?ca=/etc/ca.crt"
    cache = parse_cache_url(url)
    assert (cache.username, cache.password, cache.tls, cache.ca_file) == (user, f"ZQ{middle}QZ", True, "/etc/ca.crt")
    assert cache.nodes == (("10.0.0.5", 7000), ("::1", 7001), ("cache-3", 7002)) and cache.cluster


def test_a_cluster_url_with_a_database_or_a_bad_seed_is_refused_saying_which() -> None:
    for url, says in (
        ("valkey+cluster://h:7000/2", "a Valkey Cluster has database 0 only"),
        ("valkey+cluster://h:7000,,g:7001", "each seed node is host:port"),
        ("valkey+cluster://h:7000,g:99999", "the port is not a number from 1 to 65535"),
        ("valkey+sentinel://h:26379", "name the primary the sentinels watch after the hosts (/mymaster)"),
        ("valkey+replicas://h:26379/main", "valkey+sentinel://host:port,host:port/primary_name behind Sentinel"),
    ):
        try:
            parse_cache_url(url)
        except ConfigError as e:
            assert says in str(e), (url, str(e))
        else:
            raise AssertionError(f"{url} was accepted")


def test_a_sentinel_url_names_its_sentinels_and_the_primary() -> None:
    cache = parse_cache_url("valkeys+sentinel://app:ZQsecretQZ@10.0.0.5:26379,10.0.0.6:26379/orders-cache?ca=/etc/ca.crt")
    assert (cache.nodes, cache.service, cache.username, cache.password, cache.tls) == (
        (("10.0.0.5", 26379), ("10.0.0.6", 26379)),
        "orders-cache",
        "app",
        "ZQsecretQZ",
        True,
    )
    assert cache.sentinel and not cache.cluster
    shown(str(cache))
