"""The build's side of the hash and zset shapes: which writes refresh or move what, and the errors with their positions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main
from generator.link import WriteLink, link
from generator.model import FromParam, FromRow
from generator.pipeline import compile_specs
from generator.stores.hash import HashRefreshPlan
from generator.stores.zset import ScoreMovePlan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _writes(specs: Path) -> dict[str, WriteLink]:
    return {w.write.spec.name: w for w in link(compile_specs(specs)).writes}


def _refresh(w: WriteLink) -> list[HashRefreshPlan]:
    return [p for kp in w.plans for p in kp.plans if isinstance(p, HashRefreshPlan)]


def _moves(w: WriteLink) -> list[ScoreMovePlan]:
    return [p for kp in w.plans for p in kp.plans if isinstance(p, ScoreMovePlan)]


def test_the_seed_writes_refresh_and_move_what_they_should() -> None:
    writes = _writes(ROOT / "specs")
    assert [(p.spec, p.tag, p.fields) for p in _refresh(writes["rename_airport"])] == [
        ("airport_by_iata", ("airport:", FromParam("airport_id")), (("name", "name"),))
    ]
    assert [(m.spec, m.member, m.by) for m in _moves(writes["book_seat"])] == [("popular_flights", FromParam("flight_id"), 1.0)]
    assert [(m.spec, m.member, m.by) for m in _moves(writes["cancel_booking"])] == [("popular_flights", FromRow("flight_id"), -1.0)]
    for name in ("reschedule_flight", "reprice_booking"):
        w = writes[name]
        assert _refresh(w) == [] and _moves(w) == [] and "popular_flights" not in w.generations


def test_a_set_column_the_query_filters_on_is_dropped_not_refreshed(project: Path) -> None:
    write = project / "specs" / "rename_airport.yaml"
    write.write_text(write.read_text().replace("SET name = :name", "SET iata = :name"))
    assert _refresh(_writes(project / "specs")["rename_airport"]) == []


def test_an_update_of_the_counted_column_drops_the_ranking(project: Path) -> None:
    (project / "specs" / "move_booking.yaml").write_text(
        "name: move_booking\nkind: write\nparams: {booking_id: int, flight_id: int}\n"
        "sql: UPDATE booking SET flight_id = :flight_id WHERE booking_id = :booking_id\nlookup: true\nwrite: through\n"
    )
    w = _writes(project / "specs")["move_booking"]
    assert _moves(w) == [] and "popular_flights" in w.generations


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
    line = next(i for i, text in enumerate(spec.read_text().splitlines(), 1) if "moves:" in text)
    assert (
        f"specs/popular_flights.yaml:{line}:5: error[FG097]: invalidate[].moves applies to store: zset only; remove it, or write store: zset"
        in capsys.readouterr().err
    )


def test_a_delete_with_lookup_looks_the_member_up_for_the_ranking_alone(project: Path) -> None:
    # No other read spec needs the deleted row's flight_id: the ranking asks the lookup for it itself.
    for other in ("booked_seats", "flight_search", "passenger_last_flights", "passenger_profile", "seat_availability", "seat_map", "round_trip"):
        (project / "specs" / f"{other}.yaml").unlink()
    assert main(["build", "specs"]) == 0
    cancel = (project / "generated" / "cancel_booking.py").read_text()
    assert 'columns=("flight_id",)' in cancel
    assert 'member=row_field("flight_id")' in cancel
