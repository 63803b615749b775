"""The build's side of the hash and zset shapes: which writes refresh or move what, and the errors with their positions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main
from generator.pipeline import compile_specs
from generator.stores.hash import refresh_plans
from generator.stores.zset import plan_moves
from generator.link import join_writes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _plans(specs: Path) -> dict[str, object]:
    queries = compile_specs(specs)
    reads = [q for q in queries if q.spec.kind == "read"]
    effects = join_writes(queries)
    out: dict[str, object] = {}
    for w in (q for q in queries if q.spec.kind == "write"):
        out[w.spec.name] = (refresh_plans(w, reads), plan_moves(w, reads, effects[w.spec.name]))
    return out


def test_the_seed_writes_refresh_and_move_what_they_should() -> None:
    plans = _plans(ROOT / "specs")
    refresh, moves = plans["rename_airport"]  # type: ignore[misc]
    assert [(p.spec, p.fields) for p in refresh] == [("airport_by_iata", (("name", "name"),))]
    assert [(m.spec, m.member, m.by) for m in plans["book_seat"][1].moves] == [("popular_flights", ("param", "flight_id"), 1.0)]  # type: ignore[index]
    assert [(m.spec, m.member, m.by) for m in plans["cancel_booking"][1].moves] == [("popular_flights", ("row", "flight_id"), -1.0)]  # type: ignore[index]
    for name in ("reschedule_flight", "reprice_booking"):
        refresh, moves = plans[name]  # type: ignore[misc]
        assert refresh == () and moves.moves == () and "popular_flights" not in moves.generations


def test_a_set_column_the_query_filters_on_is_dropped_not_refreshed(project: Path) -> None:
    write = project / "specs" / "rename_airport.yaml"
    write.write_text(write.read_text().replace("SET name = :name", "SET iata = :name"))
    assert _plans(project / "specs")["rename_airport"][0] == ()  # type: ignore[index]


def test_an_update_of_the_counted_column_drops_the_ranking(project: Path) -> None:
    (project / "specs" / "move_booking.yaml").write_text(
        "name: move_booking\nkind: write\nparams: {booking_id: int, flight_id: int}\n"
        "sql: UPDATE booking SET flight_id = :flight_id WHERE booking_id = :booking_id\nlookup: true\nwrite: through\n"
    )
    moves = _plans(project / "specs")["move_booking"][1]  # type: ignore[index]
    assert moves.moves == () and moves.generations == ("popular_flights",)  # type: ignore[attr-defined]


def test_a_delete_that_cannot_name_the_member_is_an_error_at_its_sql(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cancel = project / "specs" / "cancel_booking.yaml"
    cancel.write_text(cancel.read_text().replace("lookup: true\n", ""))
    for other in ("booked_seats", "flight_search", "passenger_last_flights", "passenger_profile", "seat_availability", "seat_map", "round_trip"):
        (project / "specs" / f"{other}.yaml").unlink()  # their tag triggers would fail first (FG071)
    assert main(["build", "specs"]) == 2
    err = capsys.readouterr().err
    assert "specs/cancel_booking.yaml:7:3: error[FG097]: this write to booking moves the ranking popular_flights" in err
    assert "look it up (lookup: true" in err


def test_moves_on_a_json_spec_is_an_error_at_the_moves_field(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project / "specs" / "popular_flights.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("  store: zset                 # ZADD popular:flights <bookings> <flight_id>\n  member: flight_id\n  score: bookings\n", ""))
    assert main(["build", "specs"]) == 2
    line = next(i for i, l in enumerate(spec.read_text().splitlines(), 1) if "moves:" in l)
    assert f"specs/popular_flights.yaml:{line}:12: error[FG097]: moves: applies to store: zset specs" in capsys.readouterr().err
