"""The key memo never changes a key: what a query remembers per parameter tuple is what it would build anew.

Parameters that compare equal may still reach the database as different values:
``time(0, tzinfo=UTC) == time(5, tzinfo=+05:00)``, yet MariaDB and SQLite compare the
wall time. Such values must get their own keys, memo or no memo. Values that are
equal and reach the database alike (``Decimal("1.0")`` and ``Decimal("1.00")``,
``-0.0`` and ``0.0``) must get one key, so that an invalidation of one drops the other.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flughafen import Param, ReadQuery
from flughafen.keys import entry_key, fill, keyspace, placement

SPACE = keyspace("memo")


def query(kind: str) -> ReadQuery[Any]:
    return ReadQuery(
        name="m", version="v1", sql={}, params=(Param("p", kind, nullable=True),), param_order=(), row=tuple, columns=(), returns="many", key=("k:", 0), ttl=60
    )


def built(q: ReadQuery[Any], args: tuple[Any, ...]) -> str:
    """The key without the memo."""
    return entry_key(q.scope(SPACE).prefix, fill(q.key_template, args), placement(q.key_template)(args, None))


OFFSETS = st.integers(min_value=-5 * 60, max_value=5 * 60).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m)))
INSTANTS = st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2030, 1, 1), timezones=st.just(datetime.UTC))
# Aware times equal as instants with other offsets: (UTC minute of the day, offset) -> time(wall, offset).
UTC_MINUTES = st.integers(min_value=5 * 60, max_value=18 * 60)


def aware_time(utc_minute: int, tz: datetime.timezone) -> datetime.time:
    offset = tz.utcoffset(None)
    assert offset is not None
    wall = utc_minute + int(offset.total_seconds()) // 60
    return datetime.time(wall // 60, wall % 60, tzinfo=tz)


@settings(derandomize=True, max_examples=300)
@given(instant=INSTANTS, offsets=st.lists(OFFSETS, min_size=2, max_size=6))
def test_one_instant_in_other_offsets_keeps_a_key_per_offset(instant: datetime.datetime, offsets: list[datetime.timezone]) -> None:
    q = query("datetime")
    for tz in offsets:
        value = instant.astimezone(tz)
        assert q.key((value,), SPACE) == built(q, (value,)), f"{value!r} got the key of an equal datetime in another offset"


@settings(derandomize=True, max_examples=300)
@given(minute=UTC_MINUTES, offsets=st.lists(OFFSETS, min_size=2, max_size=6))
def test_one_time_of_day_in_other_offsets_keeps_a_key_per_offset(minute: int, offsets: list[datetime.timezone]) -> None:
    q = query("time")
    for tz in offsets:
        value = aware_time(minute, tz)
        assert q.key((value,), SPACE) == built(q, (value,)), f"{value!r} got the key of an equal time in another offset"


def test_the_reported_pair_gets_two_keys() -> None:
    q = query("time")
    utc, plus5 = datetime.time(0, tzinfo=datetime.UTC), datetime.time(5, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    assert utc == plus5 and q.key((utc,), SPACE) != q.key((plus5,), SPACE)


NUMBERS = {
    "float": st.one_of(st.sampled_from([0.0, -0.0, 1.0, 1, 0, -0.5]), st.floats(allow_nan=False), st.integers(-(2**60), 2**60)),
    "decimal": st.one_of(
        st.sampled_from([Decimal("1"), Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("0E+3"), Decimal("1E+2"), Decimal("100"), 1, 0]),
        st.decimals(allow_nan=False, allow_infinity=False),
    ),
    "int": st.one_of(st.sampled_from([0, 1, -1]), st.integers()),
    "bool": st.booleans(),
}


@settings(derandomize=True, max_examples=400)
@given(data=st.data(), kind=st.sampled_from(sorted(NUMBERS)))
def test_numbers_get_the_key_they_would_get_anew(data: st.DataObject, kind: str) -> None:
    q = query(kind)
    for value in data.draw(st.lists(NUMBERS[kind], min_size=2, max_size=8)):
        assert q.key((value,), SPACE) == built(q, (value,)), f"{value!r} got the key of an equal value of another spelling"


@settings(derandomize=True, max_examples=200)
@given(a=NUMBERS["float"], b=NUMBERS["float"])
def test_equal_floats_share_a_key(a: float, b: float) -> None:
    q = query("float")
    if a == b and type(a) is type(b):
        assert q.key((a,), SPACE) == q.key((b,), SPACE)


@settings(derandomize=True, max_examples=200)
@given(a=NUMBERS["decimal"], b=NUMBERS["decimal"])
def test_equal_decimals_share_a_key(a: Decimal, b: Decimal) -> None:
    q = query("decimal")
    if a == b:
        assert q.key((a,), SPACE) == q.key((b,), SPACE)
