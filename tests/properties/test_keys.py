"""Key templates, for all inputs: injective, stable, bounded, and never a template's syntax.

Hostile values on purpose: SQL injection text, '*', ':', '{}', '%', newlines, NUL,
unicode (surrogates too), 10 kB strings, huge and negative numbers.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from valkey.crc import key_slot

from flughafen import MAX_KEY_LENGTH, Param, ReadQuery
from flughafen.keys import bucket_of, buckets, encode_value, generation_in, keyspace, lock_key, stale_key

SPACE = keyspace("k")

HOSTILE = st.sampled_from(
    [
        "",
        "*",
        ":",
        "::",
        "{}",
        "{origin}",
        "%",
        "%3A",
        "a:b",
        "a%3Ab",
        "\n",
        "\x00",
        "~",
        "#",
        "' OR '1'='1",
        "; DROP TABLE booking; --",
        "é",
        "😀",
        "\ud800",
        "x" * 10_000,
    ]
)
TEXT = st.one_of(HOSTILE, st.text(), st.text(alphabet=":%{}*~#\n\x00 ab", max_size=12), st.builds(lambda a, b: a + b, HOSTILE, HOSTILE))
VALUES = st.one_of(
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.booleans(),
    st.none(),
)


def query(types: tuple[str, ...]) -> ReadQuery[Any]:
    params = tuple(Param(f"p{i}", t, nullable=True) for i, t in enumerate(types))
    key: tuple[Any, ...] = ("t:",)
    for i in range(len(types)):
        key += (i, ":") if i < len(types) - 1 else (i,)
    return ReadQuery(name="t", version="v1", sql={}, params=params, param_order=(), row=tuple, columns=(), returns="many", key=key, ttl=60)


Q2 = query(("str", "str"))
Q_MIXED = query(("str", "int", "decimal", "date"))


@settings(derandomize=True, max_examples=500)
@given(a=st.tuples(TEXT, TEXT), b=st.tuples(TEXT, TEXT))
def test_two_different_string_pairs_never_share_a_key(a: tuple[str, str], b: tuple[str, str]) -> None:
    if a != b:
        assert Q2.key(a, SPACE) != Q2.key(b, SPACE)


@settings(derandomize=True, max_examples=300)
@given(a=st.tuples(TEXT, st.integers(min_value=-(2**70), max_value=2**70), st.decimals(allow_nan=False, allow_infinity=False), st.dates()))
def test_keys_are_stable_bounded_and_free_of_raw_separators(a: tuple[str, int, Decimal, datetime.date]) -> None:
    key = Q_MIXED.key(a, SPACE)
    assert key == Q_MIXED.key(a, SPACE)
    assert len(key.encode()) <= MAX_KEY_LENGTH
    bucket = bucket_of(key)
    assert key.startswith(f"fg:k:t:v1:{bucket}:") and bucket in buckets()
    body = key.removeprefix(f"fg:k:t:v1:{bucket}:").removeprefix("t:")  # the namespace, name, version, bucket, then the template
    assert body.startswith("#") or body.count(":") == 3  # only the template's own separators
    assert all(c not in body for c in "\n\x00 {}*")


@settings(derandomize=True, max_examples=300)
@given(a=st.tuples(TEXT, TEXT))
def test_every_key_of_an_entry_hashes_to_the_slot_of_its_bucket(a: tuple[str, str]) -> None:
    """An entry, its lock, stale copy, meta, and its bucket's generation, sequence and tag keys: one cluster slot."""
    key = Q2.key(a, SPACE)
    bucket = bucket_of(key)
    slot = key_slot(bucket[1:-1].encode())
    same = [key, lock_key(key), stale_key(key), key + ":meta", generation_in(SPACE.generation_key("t"), bucket)]
    same += [SPACE.sequence_in(bucket), *SPACE.tag_keys(a[0], bucket), SPACE.tag_marker_key(a[1], bucket)]
    assert {key_slot(k.encode("utf-8", "surrogatepass")) for k in same} == {slot}


def test_entries_spread_over_every_bucket() -> None:
    seen = {bucket_of(Q2.key((str(i), "x"), SPACE)) for i in range(2000)}
    assert seen == set(buckets())


@settings(derandomize=True, max_examples=500)
@given(a=VALUES, b=VALUES)
def test_encoded_values_differ_when_the_values_differ(a: Any, b: Any) -> None:
    same_type = type(a) is type(b)
    if same_type and a != b and not (isinstance(a, Decimal) and a.compare_total(b) != 0 and a == b):
        assert encode_value(a) != encode_value(b)


@settings(derandomize=True, max_examples=200)
@given(v=VALUES)
def test_an_encoded_value_uses_only_the_safe_alphabet(v: Any) -> None:
    assert all(c.isascii() and (c.isalnum() or c in "._-%~") for c in encode_value(v))
