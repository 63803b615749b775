"""Leases, whatever the stampede mode and however long the query: no read is stored after an
invalidation that began after the read's query began.

The invalidation lands while the query runs (query_database wrapped): invalidate()
of the entry's parameters, a tag invalidation after the tag's marker would have
expired, warming, an early refresh. The fill is sent all the same; it must not store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from flughafen import Col, Param, ReadQuery, Runtime, invalidate_tag, invalidation, protocol, scripts
from flughafen.stores.bitmap import BitmapQuery
from flughafen.stores.hash import HashQuery
from tests.integration.forms import Form

ON_CLUSTER = True  # the runtime fixture runs these tests on one Valkey server and on the local cluster

SQL = "SELECT a.iata, a.name FROM airport a WHERE a.iata = {}"
Mode = Literal["lock", "early", "none"]


@dataclass(frozen=True, slots=True)
class Airport:
    iata: str
    name: str


def _spec(name: str, stampede: str) -> dict[str, Any]:
    return dict(
        name=name,
        version="lease0000001",
        sql={"mysql": SQL.format("%s"), "postgres": SQL.format("%s"), "sqlite": SQL.format("?")},
        params=(Param("iata", "str"),),
        param_order=(0,),
        row=Airport,
        columns=(Col("iata", "str"), Col("name", "str")),
        key=("airport:", 0),
        tags=(("airport:", 0),),
        ttl=60,
        stampede=stampede,
    )


def json_query(stampede: Mode) -> ReadQuery[Airport]:
    return ReadQuery(**_spec(f"lease_json_{stampede}", stampede), returns="one")


def hash_query(stampede: Mode) -> HashQuery[Airport]:
    return HashQuery(**_spec(f"lease_hash_{stampede}", stampede), returns="one")


def bitmap_query(stampede: Mode) -> BitmapQuery[Any, int]:
    text = "SELECT b.booking_id FROM booking b WHERE b.flight_id = {}"
    spec = _spec(f"lease_bitmap_{stampede}", stampede) | dict(
        sql={"mysql": text.format("%s"), "postgres": text.format("%s"), "sqlite": text.format("?")},
        params=(Param("flight_id", "int"),),
        columns=(Col("booking_id", "int"),),
        row=Booking,
        key=("ids:", 0),
        tags=(("ids:", 0),),
    )
    return BitmapQuery[Any, int](**spec, member="booking_id")


@dataclass(frozen=True, slots=True)
class Booking:
    booking_id: int


def _read(form: Form, q: Any, args: tuple[Any, ...], rt: Runtime) -> Any:
    return form.query(q).members(args, rt) if isinstance(q, BitmapQuery) else form.query(q).one(args, rt)


def _racing(form: Form, monkeypatch: pytest.MonkeyPatch, q: Any, invalidation: Any, then_sleep: float = 0.0) -> None:
    """q's database read runs ``invalidation`` once it has read (a write landing mid-query), then takes ``then_sleep`` more."""

    def hook(result: Any) -> None:
        invalidation(form.runtime)  # sync: another process's write
        time.sleep(then_sleep)  # the query goes on (in the async form the loop waits too: one read runs)

    form.after_query(monkeypatch, q, hook, "rows_from_database" if isinstance(q, BitmapQuery) else "query_database")


CASES = {
    "json, stampede: none": lambda: (json_query("none"), ("JFK",)),
    "json, stampede: early": lambda: (json_query("early"), ("JFK",)),
    "json, stampede: lock": lambda: (json_query("lock"), ("JFK",)),
    "hash, stampede: none": lambda: (hash_query("none"), ("JFK",)),
    "bitmap, stampede: none": lambda: (bitmap_query("none"), (1001,)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fill_that_raced_an_invalidate_of_its_parameters_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    q, args = CASES[case]()
    _racing(form, monkeypatch, q, lambda rt: q.invalidate(args, rt))
    _read(form, q, args, runtime)
    form.settle()
    assert not runtime.cache.client.exists(q.key(args, runtime)), "the fill stored what it read before the invalidation"
    assert runtime.metrics.of(q.name).stale_fills_dropped == 1
    monkeypatch.undo()
    _read(form, q, args, runtime)  # the next read stores
    form.settle()
    assert runtime.cache.client.exists(q.key(args, runtime))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fill_whose_query_outlived_the_tag_marker_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A tag invalidation mid-query, and the query runs on past the tag's marker: its lease expired first."""
    for module in (scripts, protocol, invalidation):  # short lifetimes, so the test does not wait 10 s
        monkeypatch.setattr(module, "LOCK_MS", 200, raising=False)
        monkeypatch.setattr(module, "MARKER_MS", 400, raising=False)
    q, args = CASES[case]()
    tag = f"{q.tags[0][0]}{args[0]}"
    _racing(form, monkeypatch, q, lambda rt: invalidate_tag(tag, rt), then_sleep=0.6)
    _read(form, q, args, runtime)
    form.settle()
    assert not runtime.cache.client.exists(q.key(args, runtime)), "the fill stored what it read before the tag invalidation"


def test_a_warm_fill_that_raced_an_invalidate_of_its_parameters_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    q = json_query("lock")
    _racing(form, monkeypatch, q, lambda rt: q.invalidate(("LAX",), rt))
    assert form.query(q).warm_batch([("JFK",), ("LAX",)], runtime) == 1
    assert runtime.cache.client.exists(q.key(("JFK",), runtime)) and not runtime.cache.client.exists(q.key(("LAX",), runtime))


def test_an_early_refresh_that_raced_an_invalidate_of_its_parameters_is_not_stored(form: Form, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    q = json_query("early")
    first = q.one(("JFK",), runtime)
    form.settle()
    key = q.key(("JFK",), runtime)
    client = runtime.cache.client
    gen, delta, _, row = client.get(key).decode().removeprefix("[").split(",", 3)  # type: ignore[union-attr]
    client.set(key, f"[{gen},{delta},0,{row}", px=60_000)  # expired by its own estimate: XFetch refreshes it
    _racing(form, monkeypatch, q, lambda rt: q.invalidate(("JFK",), rt))
    assert form.query(q).one(("JFK",), runtime) == first
    form.settle()
    assert runtime.metrics.of(q.name).early_refreshes == 1
    assert not client.exists(key), "the refresh stored what it read before the invalidation"
