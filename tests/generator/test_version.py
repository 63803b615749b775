"""The key version changes with everything that changes what an entry holds or how it is found, and with nothing else.

Each case edits one field of a seed spec (as a user would, in its YAML) and
compiles it again: an edit that changes entries (what they hold, the tags they
are registered under, the triggers that drop, move or keep them, the store
and its options) gives another version, so entries written by the old build
are never read by the new one; an edit that does not (summary, examples, TTL,
layout) keeps the version, so a deploy does not empty the cache for nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from generator.model import StoreOptions
from generator.schema import Catalog, load_catalog
from generator.spec.load import parse_spec_text
from generator.spec.validate import validate
from generator.spec.version import NEUTRAL
from generator.sql.compile import compile_query
from generator.stores import STORES

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SPECS / "schema.sql", "specs/schema.sql")


def version(catalog: Catalog, name: str, old: str = "", new: str = "") -> str:
    text = (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in specs/{name}.yaml"
    return compile_query(validate(parse_spec_text(text.replace(old, new, 1), f"specs/{name}.yaml")), catalog).version


# (what, spec, text, replacement): each changes what entries hold or how they are found.
CHANGES = [
    ("bitmap seat letters: 12J is another bit", "seat_map", "seats: ABCDEFGHIJK", "seats: ABCDEFGHJK"),
    ("bitmap counters left out", "seat_map", "      counters:\n        seat_availability: {booked: 1, available: -1}\n", ""),
    ("bitmap counter fields", "seat_map", "seat_availability: {booked: 1, available: -1}", "seat_availability: {booked: 1}"),
    (
        "bitmap no longer maintained",
        "seat_map",
        "    maintain:\n      table: booking             # INSERT sets the booked seat's bit, DELETE clears it\n      counters:\n        seat_availability: {booked: 1, available: -1}\n",
        "",
    ),
    ("registered under another tag", "seat_map", 'tags: ["seats:{flight_id}"]\n  store', 'tags: ["seatmap:{flight_id}"]\n  store'),
    ("a trigger drops all instead of a tag", "seat_map", '    tags: ["seats:{flight_id}"]\nexamples', "    all: true\nexamples"),
    ("a tag more", "flight_search", '"flight:{row.flight_id}"]', '"flight:{row.flight_id}", "day:{day}"]'),
    ("a trigger fewer", "flight_search", "  - table: flight\n    all: true\n", ""),
    ("a trigger on another table", "flight_search", "  - table: airline\n", "  - table: airplane\n"),
    ("a trigger's tag", "flight_search", 'tags: ["flight:{flight_id}"]', 'tags: ["flights:{flight_id}"]'),
    ("key fields in another order", "flight_search", 'key: "flight:search:{origin}:{destination}:{day}"', 'key: "flight:search:{destination}:{origin}:{day}"'),
    ("a parameter may be None", "flight_search", "day: date", "day: {type: date, nullable: true}"),
    ("returns", "flight_search", "returns: many", "returns: one"),
    ("zset moves by another step", "popular_flights", "moves: {column: flight_id, by: 1}", "moves: {column: flight_id, by: 2}"),
    ("zset moves on another table", "popular_flights", "  - table: booking  ", "  - table: flight  "),
    ("another store", "airport_by_iata", "store: hash", "store: json"),
]

# Edits that leave every entry as it is.
KEEPS = [
    ("summary", "seat_map", "summary: The booked seats of one flight", "summary: Seats"),
    ("examples", "seat_map", "  - {flight_id: 1001}", "  - {flight_id: 1002}"),
    ("ttl", "seat_map", "ttl: 10m", "ttl: 1h"),
    ("jitter", "seat_map", "jitter: 10%", "jitter: 20%"),
    ("SQL layout and comments", "seat_map", "  SELECT b.seat\n  FROM booking b\n", "  SELECT   b.seat   -- the seat\n  FROM booking AS b\n"),
    ("negative_ttl", "flight_search", "negative_ttl: 1m", "negative_ttl: 2m"),
    ("near", "flight_search", "near: 30s", "near: 10s"),
    ("stampede", "flight_search", "  near: 30s\n", "  near: 30s\n  stampede: early\n"),
    ("replica_reads", "flight_status", "  replica_reads: 2s", "  replica_reads: 5s"),
    ("replica_reads left out", "flight_status", "  replica_reads: 2s", ""),
    ("pattern", "flight_search", 'pattern: "^[A-Z]{3}$"', 'pattern: "^[A-Z]{3,4}$"'),
    ("spaces in a template field", "flight_search", 'key: "flight:search:{origin}:', 'key: "flight:search:{ origin }:'),
]


@pytest.mark.parametrize(("spec", "old", "new"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_an_edit_that_changes_entries_changes_the_version(catalog: Catalog, spec: str, old: str, new: str) -> None:
    assert version(catalog, spec, old, new) != version(catalog, spec)


@pytest.mark.parametrize(("spec", "old", "new"), [c[1:] for c in KEEPS], ids=[c[0] for c in KEEPS])
def test_an_edit_that_leaves_entries_as_they_are_keeps_the_version(catalog: Catalog, spec: str, old: str, new: str) -> None:
    assert version(catalog, spec, old, new) == version(catalog, spec)


def test_each_edit_is_in_the_spec() -> None:
    for _, spec, old, _ in CHANGES + KEEPS:
        assert old in (SPECS / f"{spec}.yaml").read_text(encoding="utf-8"), (spec, old)


def test_every_field_left_out_of_the_version_is_a_field_and_says_why() -> None:
    for cls, fields in NEUTRAL.items():
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(fields) <= names, f"{cls.__name__}: {sorted(set(fields) - names)} are no fields"
        assert all(len(why) > 10 for why in fields.values())
    for kind in STORES.values():
        options = {f.name for cls in _options_classes(kind.name) for f in dataclasses.fields(cls)}
        assert set(kind.version_neutral) <= options, kind.name
        assert all(len(why) > 10 for why in kind.version_neutral.values())


def _options_classes(kind: str) -> list[type[StoreOptions]]:
    """The StoreOptions classes of a store kind's module."""
    import importlib

    module = importlib.import_module(f"generator.stores.{kind}")
    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, StoreOptions) and v.__module__ == module.__name__]
