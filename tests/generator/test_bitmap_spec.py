"""store: bitmap specs through the command line: each rule an error at its file, line and column, nothing written.

The project is a bitmap spec (q), the read spec its counters live in
(counts), a read spec with an ordinary trigger on booking (other), and the
two writes that maintain the set (book: INSERT, cancel: DELETE with lookup).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]

FILES = {
    "q": """name: q
params:
  flight_id: int
sql: |
  SELECT b.seat FROM booking b WHERE b.flight_id = :flight_id
cache:
  key: "map:{flight_id}"
  ttl: 5m
  tags: ["map:{flight_id}"]
  store: bitmap
  bitmap:
    member: seat
    seats: ABCDEF
    maintain:
      table: booking
      counters:
        counts: {booked: 1}
""",
    "counts": """name: counts
params:
  flight_id: int
sql: |
  SELECT COUNT(b.booking_id) AS booked, MAX(b.seat) AS last FROM booking b WHERE b.flight_id = :flight_id
returns: one
cache:
  key: "counts:{flight_id}"
  ttl: 5m
  tags: ["counts:{flight_id}"]
""",
    "other": """name: other
params:
  flight_id: int
sql: |
  SELECT b.booking_id FROM booking b WHERE b.flight_id = :flight_id
cache:
  key: "other:{flight_id}"
  ttl: 5m
invalidate:
  - table: booking
    tags: ["flight:{flight_id}"]
""",
    "book": """name: book
kind: write
params:
  flight_id: int
  seat: str
  passenger_id: int
sql: |
  INSERT INTO booking (flight_id, seat, passenger_id, price) VALUES (:flight_id, :seat, :passenger_id, 1)
write: through
""",
    "cancel": """name: cancel
kind: write
params:
  booking_id: int
sql: |
  DELETE FROM booking WHERE booking_id = :booking_id
lookup: true
write: through
""",
}

# (case id, file edited, old text, new text, expected code, where: file:line:column)
CASES: list[tuple[str, str, str, str, str, str]] = [
    ("member is no result column", "q", "member: seat", "member: sete", "FG100", "q:12:13"),
    ("a str member without seats", "q", "    seats: ABCDEF\n", "", "FG100", "q:12:13"),
    ("seats on an int member", "q", "SELECT b.seat FROM", "SELECT b.booking_id AS seat FROM", "FG100", "q:12:13"),
    ("seats repeat a letter", "q", "seats: ABCDEF", "seats: ABCA", "FG101", "q:13:12"),
    ("seats in lower case", "q", "seats: ABCDEF", "seats: abc", "FG101", "q:13:12"),
    ("returns one", "q", "cache:\n", "returns: one\ncache:\n", "FG102", "q:6:10"),
    ("stampede early", "q", "  ttl: 5m\n", "  ttl: 5m\n  stampede: early\n", "FG102", "q:9:13"),
    ("a maintained set without the lock", "q", "  ttl: 5m\n", "  ttl: 5m\n  stampede: none\n", "FG102", "q:15:5"),
    ("member named like a parameter", "q", "member: seat", "member: flight_id", "FG102", "q:12:13"),
    ("a bitmap section on a json store", "q", "store: bitmap", "store: json", "FG102", "q:11:3"),
    (
        "store bitmap without its section",
        "q",
        "  bitmap:\n    member: seat\n    seats: ABCDEF\n    maintain:\n      table: booking\n      counters:\n        counts: {booked: 1}\n",
        "",
        "FG011",
        "q:10:10",
    ),
    ("maintain an unknown table", "q", "table: booking", "table: bookings", "FG103", "q:15:14"),
    ("member column not in the table", "q", "      table: booking\n", "      table: booking\n      member_column: place\n", "FG103", "q:16:22"),
    ("param_columns names no parameter", "q", "      table: booking\n", "      table: booking\n      param_columns: {flight: flight_id}\n", "FG103", "q:16:23"),
    ("param_columns names no column", "q", "      table: booking\n", "      table: booking\n      param_columns: {flight_id: flight}\n", "FG103", "q:16:34"),
    ("a delete that cannot supply the member", "cancel", "lookup: true\n", "", "FG104", "cancel:6:3"),
    (
        "an insert that does not bind the member",
        "book",
        "(flight_id, seat, passenger_id, price) VALUES (:flight_id, :seat,",
        "(flight_id, seat, passenger_id, price) VALUES (:flight_id, TRIM(:seat),",
        "FG104",
        "book:8:3",
    ),
    ("counter spec unknown", "q", "counts: {booked: 1}", "countz: {booked: 1}", "FG105", "q:17:9"),
    ("counter field unknown", "q", "counts: {booked: 1}", "counts: {bookd: 1}", "FG105", "q:17:18"),
    ("counter field not an int", "q", "counts: {booked: 1}", "counts: {last: 1}", "FG105", "q:17:18"),
    ("counter change zero", "q", "counts: {booked: 1}", "counts: {booked: 0}", "FG105", "q:17:26"),
    ("counter spec returns many", "counts", "returns: one\n", "", "FG105", "q:17:9"),
    ("counter entry under a tag the write drops", "counts", 'tags: ["counts:{flight_id}"]', 'tags: ["flight:{flight_id}"]', "FG106", "counts:10:11"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", tmp_path / "specs" / "schema.sql")
    monkeypatch.chdir(tmp_path)
    for name, text in FILES.items():
        (tmp_path / "specs" / f"{name}.yaml").write_text(text)
    return tmp_path


def test_the_good_project_builds_and_the_writes_keep_the_set(project: Path) -> None:
    assert main(["build", "specs"]) == 0
    book = (project / "generated" / "book.py").read_text()
    assert "SetUpdate(" in book and 'op="set"' in book and 'fields=(("booked", 1),)' in book
    cancel = (project / "generated" / "cancel.py").read_text()
    assert 'op="clear"' in cancel and 'member=row_field("seat")' in cancel
    assert '("flight:", 0)' in book  # other's trigger still fires; q's and counts' are replaced
    assert "map:" not in book.split("tags=")[1].split("\n")[0]


@pytest.mark.parametrize(("file", "old", "new", "code", "where"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bitmap_rule_is_an_error_at_its_position(
    project: Path, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str, code: str, where: str
) -> None:
    path = project / "specs" / f"{file}.yaml"
    assert old in FILES[file], old
    path.write_text(FILES[file].replace(old, new, 1))
    capsys.readouterr()
    assert main(["build", "specs"]) == 2
    err = capsys.readouterr().err
    spec, line, col = where.split(":")
    head = f"specs/{spec}.yaml:{line}:{col}: error[{code}]: "
    found = [e for e in err.splitlines() if e.startswith(head)]
    assert found, err
    assert len(found[0]) > len(head) + 30  # says what is wrong and what would be right
    assert "nothing was written" in err
    assert not (project / "generated").exists()
