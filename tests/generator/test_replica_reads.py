"""``cache: replica_reads``: read as a duration, carried to the generated module, and left out of modules that do not set it."""

from __future__ import annotations

from pathlib import Path

from generator.spec.load import parse_spec_text
from generator.spec.validate import validate

ROOT = Path(__file__).resolve().parents[2]


def spec_text(bound: str | None) -> str:
    text = (ROOT / "specs" / "flight_status.yaml").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines(keepends=True) if "replica_reads:" in line)
    return text.replace(line, "" if bound is None else f"  replica_reads: {bound}\n")


def test_the_bound_is_read_in_seconds() -> None:
    for written, seconds in [("2s", 2), ("1m", 60), ("3", 3)]:
        cache = validate(parse_spec_text(spec_text(written), "specs/flight_status.yaml")).cache
        assert cache is not None and cache.replica_reads == seconds
    cache = validate(parse_spec_text(spec_text(None), "specs/flight_status.yaml")).cache
    assert cache is not None and cache.replica_reads is None


def test_the_generated_module_passes_the_bound_to_the_runtime_and_says_it() -> None:
    module = (ROOT / "generated" / "flight_status.py").read_text(encoding="utf-8")
    assert "    replica_reads=2,\n" in module
    assert "hits from replicas at most 2 s stale" in module
    others = [p for p in (ROOT / "generated").glob("*.py") if p.name != "flight_status.py"]
    assert others and not any("replica_reads" in p.read_text(encoding="utf-8") for p in others)


def test_the_runtime_caps_the_entry_lifetime_at_the_bound() -> None:
    from generated import flight_search, flight_status

    assert flight_status.QUERY.replica_reads == 2
    assert max(flight_status.QUERY.ttl_ms(empty) for empty in (False, True) for _ in range(50)) == 2000
    assert flight_search.QUERY.replica_reads is None
    assert min(flight_search.QUERY.ttl_ms(False) for _ in range(50)) >= 600_000
