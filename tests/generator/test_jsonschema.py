"""The shipped JSON Schema is current, accepts every seed spec and refuses what the build refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from generator.spec.jsonschema import OUT, render

ROOT = Path(__file__).resolve().parents[2]


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(OUT.read_text(encoding="utf-8")))


def as_json(path: Path) -> object:
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def test_the_checked_in_schema_is_what_the_field_tables_produce() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), "run: python -m generator.spec.jsonschema"


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_seed_spec_is_valid(path: Path) -> None:
    assert list(validator().iter_errors(as_json(path))) == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: s.update(retruns="one"), "a misspelt field"),
        (lambda s: s["cache"].update(store="xml"), "an unknown store"),
        (lambda s: s["cache"].update(near="soon"), "a near cache bound that is not a duration"),
        (lambda s: s["cache"].update(near_size=0), "a near cache of no entries"),
        (lambda s: s["params"].update(day="timestamp"), "an unknown param type"),
        (lambda s: s.pop("cache"), "a read spec without cache"),
        (lambda s: s["cache"].pop("ttl"), "a cache without ttl"),
        (lambda s: s.update(name="Flight-Search"), "a name that is no identifier"),
        (lambda s: s["invalidate"][0].update(moves={"by": 1}), "moves without a column"),
        (lambda s: s["cache"].update(member=["flight_id"]), "a zset member that is not a column name"),
    ],
)
def test_what_the_build_refuses_the_schema_refuses(change: object, why: str) -> None:
    _refused("flight_search.yaml", change, why)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: s["cache"]["bitmap"].pop("member"), "a bitmap without its member"),
        (lambda s: s["cache"]["bitmap"].update(seats="abc"), "seats in lower case"),
        (lambda s: s["cache"]["bitmap"].update(member_column="seat"), "a maintain field one level up"),
        (lambda s: s["cache"]["bitmap"]["maintain"].pop("table"), "maintain without its table"),
        (lambda s: s["cache"]["bitmap"]["maintain"]["counters"]["seat_availability"].update(booked=0), "a counter change of 0"),
    ],
)
def test_what_the_build_refuses_of_a_bitmap_the_schema_refuses(change: object, why: str) -> None:
    _refused("seat_map.yaml", change, why)


def _refused(name: str, change: object, why: str) -> None:
    spec = as_json(ROOT / "specs" / name)
    assert isinstance(spec, dict)
    change(spec)  # type: ignore[operator]
    assert list(validator().iter_errors(spec)), why
