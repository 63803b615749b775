"""The shipped JSON Schema is current, accepts every seed spec and refuses what the build refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from generator.jsonschema import OUT, render

ROOT = Path(__file__).resolve().parents[2]


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(OUT.read_text(encoding="utf-8")))


def as_json(path: Path) -> object:
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def test_the_checked_in_schema_is_what_the_field_tables_produce() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), "run: python -m generator.jsonschema"


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
    ],
)
def test_what_the_build_refuses_the_schema_refuses(change: object, why: str) -> None:
    spec = as_json(ROOT / "specs" / "flight_search.yaml")
    assert isinstance(spec, dict)
    change(spec)  # type: ignore[operator]
    assert list(validator().iter_errors(spec)), why
