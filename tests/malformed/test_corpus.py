"""Hostile and malformed specs: every one a clear error with file, line and column, exit 2, nothing written.

Each case is a spec file's bytes and the diagnostic it must produce first:
its code and its position. The build runs through the real command line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]

GOOD = """name: q
params:
  flight_id: int
sql: |
  SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id
returns: one
cache:
  key: "flight:{flight_id}"
  ttl: 5m
invalidate:
  - table: flight
    tags: ["flight:{flight_id}"]
"""


def laughs(depth: int) -> bytes:
    """A "billion laughs" spec: about 1 KB of text whose aliases expand to 10**depth values."""
    lines = ['l0: &l0 "lol"']
    for i in range(1, depth + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return (GOOD + "x-laughs:\n" + "".join(f"  {line}\n" for line in lines)).encode()


def edit(old: str, new: str) -> bytes:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1).encode()


# (case id, file bytes, expected code, line, column)
CASES: list[tuple[str, bytes, str, int, int]] = [
    # -- files and YAML
    ("empty file", b"", "FG003", 1, 1),
    ("only a comment", b"# nothing here\n", "FG003", 1, 1),
    ("binary garbage", b"\x00\x01\x02\xff\xfe", "FG001", 1, 1),
    ("not utf-8", b"name: q\nsummary: caf\xe9\n", "FG001", 2, 1),
    ("a list, not a mapping", b"- name: q\n", "FG003", 1, 1),
    ("a scalar, not a mapping", b"just text\n", "FG003", 1, 1),
    ("tab indentation", b"name: q\nparams:\n\tflight_id: int\n", "FG002", 3, 1),
    ("unclosed flow mapping", b"name: q\nparams: {flight_id: int\nsql: x\n", "FG002", 3, 4),
    ("unclosed quote", b'name: "q\nsql: x\n', "FG002", 3, 1),
    ("billion laughs", laughs(9), "FG004", 19, 12),
    ("recursive alias", GOOD.encode() + b"x-loop: &x [1, *x]\n", "FG004", 13, 16),
    ("5,000-deep nesting", GOOD.encode() + b"x-deep: " + b"[" * 5000 + b"]" * 5000 + b"\n", "FG004", 13, 40),
    ("a spec of 300 KB", edit("name: q\n", "name: q\nsummary: " + "x" * 300_000 + "\n"), "FG004", 1, 1),
    ("alias without anchor", GOOD.encode() + b"x-alias: *nowhere\n", "FG004", 13, 10),
    ("duplicate key", edit("returns: one\n", "returns: one\nreturns: many\n"), "FG010", 7, 1),
    # -- fields
    ("unknown top-level field", edit("returns: one\n", "returns: one\nretrun: many\n"), "FG010", 7, 1),
    ("unknown cache field", edit("  ttl: 5m\n", "  ttl: 5m\n  tll: 5m\n"), "FG010", 10, 3),
    ("missing name", edit("name: q\n", "summary: no name\n"), "FG011", 1, 1),
    ("missing sql", GOOD.replace("sql: |\n  SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id\n", "").encode(), "FG011", 1, 1),
    ("missing cache", GOOD.split("cache:")[0].encode(), "FG011", 1, 1),
    ("missing ttl", edit("  ttl: 5m\n", ""), "FG011", 8, 3),
    ("empty sql", edit("sql: |\n  SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id\n", 'sql: ""\n'), "FG011", 4, 6),
    ("name is a number", edit("name: q", "name: 42"), "FG012", 1, 7),
    ("name not an identifier", edit("name: q", "name: flight-search"), "FG020", 1, 7),
    ("name is a keyword", edit("name: q", "name: class"), "FG020", 1, 7),
    ("name reserved", edit("name: q", "name: runtime"), "FG020", 1, 7),
    ("name of a runtime key in Valkey", edit("name: q", "name: stats"), "FG020", 1, 7),
    ("name of a spec's generation key", edit("name: q", "name: gen"), "FG020", 1, 7),
    ("name with two leading underscores", edit("name: q", "name: __init__"), "FG020", 1, 7),
    ("param named value, a local of the typed reads", edit("  flight_id: int\n", "  flight_id: int\n  value: int\n"), "FG020", 4, 3),
    ("param named like a type of the annotations", edit("  flight_id: int\n", "  flight_id: int\n  str: int\n"), "FG020", 4, 3),
    ("result alias __init__", edit("f.departure FROM", "f.departure AS __init__ FROM"), "FG065", 5, 23),
    ("result alias mangled in the row class", edit("f.departure FROM", "f.departure AS __x FROM"), "FG065", 5, 23),
    ("result alias a keyword in fullwidth letters", edit("f.departure FROM", "f.departure AS \uff43\uff4c\uff41\uff53\uff53 FROM"), "FG065", 5, 23),
    ("two result aliases one name to Python (NFKC)", edit("f.departure FROM", "f.departure AS file, f.arrival AS \ufb01le FROM"), "FG065", 5, 44),
    ("result alias naming a type of the row class", edit("f.departure FROM", "f.departure AS datetime FROM"), "FG065", 5, 23),
    (
        "zset member named runtime",
        GOOD.replace("returns: one", "returns: many")
        .replace(
            "SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id",
            "SELECT f.flightno AS runtime, COUNT(*) AS n FROM flight f WHERE f.flight_id = :flight_id GROUP BY f.flightno",
        )
        .replace("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  member: runtime\n  score: n\n")
        .encode(),
        "FG095",
        11,
        11,
    ),
    ("params not a mapping", edit("params:\n  flight_id: int\n", "params: [flight_id]\n"), "FG012", 2, 9),
    ("unknown param type", edit("flight_id: int", "flight_id: integer"), "FG030", 3, 14),
    ("param type typo", edit("flight_id: int", "flight_id: {type: datetme}"), "FG030", 3, 21),
    ("param named runtime", edit("  flight_id: int\n", "  flight_id: int\n  runtime: str\n"), "FG020", 4, 3),
    ("bad pattern", edit("flight_id: int", 'flight_id: {type: str, pattern: "[A-Z"}'), "FG031", 3, 35),
    ("pattern on an int", edit("flight_id: int", 'flight_id: {type: int, pattern: "^1$"}'), "FG031", 3, 21),
    ("returns misspelt", edit("returns: one", "returns: single"), "FG013", 6, 10),
    ("store unknown", edit("  ttl: 5m\n", "  ttl: 5m\n  store: xml\n"), "FG013", 10, 10),
    ("bitmap store without its section", edit("  ttl: 5m\n", "  ttl: 5m\n  store: bitmap\n"), "FG011", 10, 10),
    ("hash store of many rows", GOOD.replace("returns: one", "returns: many").replace("  ttl: 5m\n", "  ttl: 5m\n  store: hash\n").encode(), "FG094", 10, 10),
    ("zset store of one row", edit("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  member: flight_id\n  score: departure\n"), "FG094", 10, 10),
    ("hash store with early refresh", edit("  ttl: 5m\n", "  ttl: 5m\n  store: hash\n  stampede: early\n"), "FG094", 11, 13),
    ("near cache on a hash store", edit("  ttl: 5m\n", "  ttl: 5m\n  store: hash\n  near: 1m\n"), "FG094", 11, 3),
    (
        "zset without member",
        GOOD.replace("returns: one", "returns: many").replace("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  score: departure\n").encode(),
        "FG011",
        8,
        3,
    ),
    ("member on a json store", edit("  ttl: 5m\n", "  ttl: 5m\n  member: flight_id\n"), "FG013", 10, 3),
    (
        "zset member no column",
        GOOD.replace("returns: one", "returns: many").replace("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  member: flight\n  score: departure\n").encode(),
        "FG095",
        11,
        11,
    ),
    (
        "zset member is a parameter",
        GOOD.replace("returns: one", "returns: many")
        .replace("f.departure FROM", "COUNT(*) AS bookings FROM")
        .replace(":flight_id\n", ":flight_id GROUP BY f.flight_id\n")
        .replace("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  member: flight_id\n  score: bookings\n")
        .encode(),
        "FG095",
        11,
        11,
    ),
    (
        "zset score not a number",
        GOOD.replace("returns: one", "returns: many").replace("  ttl: 5m\n", "  ttl: 5m\n  store: zset\n  member: flight_id\n  score: departure\n").encode(),
        "FG096",
        12,
        10,
    ),
    ("dialect unknown", edit("returns: one\n", "returns: one\ndialect: oracle\n"), "FG013", 7, 10),
    ("example text that looks like YAML", edit("returns: one\n", 'returns: one\nexamples:\n  - {flight_id: "a: b: c"}\n'), "FG012", 8, 17),
    (
        "example .nan",
        GOOD.replace("flight_id: int", "flight_id: float").replace("returns: one\n", "returns: one\nexamples:\n  - {flight_id: .nan}\n").encode(),
        "FG012",
        8,
        17,
    ),
    (
        "example date that is no date",
        GOOD.replace("flight_id: int", "flight_id: date").replace("returns: one\n", "returns: one\nexamples:\n  - {flight_id: 2024-13-45}\n").encode(),
        "FG012",
        8,
        17,
    ),
    # -- durations and jitter
    ("ttl in words", edit("ttl: 5m", "ttl: five minutes"), "FG040", 9, 8),
    ("ttl negative", edit("ttl: 5m", "ttl: -5"), "FG040", 9, 8),
    ("ttl zero", edit("ttl: 5m", "ttl: 0"), "FG040", 9, 8),
    ("ttl over a year", edit("ttl: 5m", "ttl: 400d"), "FG040", 9, 8),
    ("jitter too big", edit("  ttl: 5m\n", "  ttl: 5m\n  jitter: 90%\n"), "FG041", 10, 11),
    ("negative_ttl wrong", edit("  ttl: 5m\n", "  ttl: 5m\n  negative_ttl: soon\n"), "FG040", 10, 17),
    ("near not a duration", edit("  ttl: 5m\n", "  ttl: 5m\n  near: soon\n"), "FG040", 10, 9),
    ("near longer than the ttl", edit("  ttl: 5m\n", "  ttl: 5m\n  near: 10m\n"), "FG042", 10, 9),
    ("near_size zero", edit("  ttl: 5m\n", "  ttl: 5m\n  near: 30s\n  near_size: 0\n"), "FG042", 11, 14),
    ("near_size not a number", edit("  ttl: 5m\n", "  ttl: 5m\n  near: 30s\n  near_size: lots\n"), "FG042", 11, 14),
    ("replica_reads not a duration", edit("  ttl: 5m\n", "  ttl: 5m\n  replica_reads: true\n"), "FG040", 10, 18),
    ("replica_reads zero", edit("  ttl: 5m\n", "  ttl: 5m\n  replica_reads: 0\n"), "FG040", 10, 18),
    ("replica_reads with near", edit("  ttl: 5m\n", "  ttl: 5m\n  near: 30s\n  replica_reads: 2s\n"), "FG043", 11, 3),
    ("near_size without near", edit("  ttl: 5m\n", "  ttl: 5m\n  near_size: 100\n"), "FG011", 10, 3),
    # -- templates
    ("key names an undeclared param", edit('key: "flight:{flight_id}"', 'key: "flight:{flightid}"'), "FG051", 8, 16),
    ("key misses a param", edit('key: "flight:{flight_id}"', 'key: "flight"'), "FG052", 8, 8),
    (
        "key fields not separated",
        edit("  flight_id: int\n", "  flight_id: int\n  seat: str\n")
        .replace(b'key: "flight:{flight_id}"', b'key: "f:{flight_id}{seat}"')
        .replace(b":flight_id\n", b":flight_id AND f.flightno = :seat\n"),
        "FG053",
        9,
        22,
    ),
    ("key injection: dunder field", edit('key: "flight:{flight_id}"', 'key: "flight:{__class__}"'), "FG050", 8, 16),
    ("key injection: attribute access", edit('key: "flight:{flight_id}"', 'key: "flight:{flight_id.__class__}"'), "FG050", 8, 16),
    ("key injection: format spec", edit('key: "flight:{flight_id}"', 'key: "flight:{flight_id!r:>10}"'), "FG050", 8, 16),
    ("key uses a row field", edit('key: "flight:{flight_id}"', 'key: "flight:{row.flight_id}"'), "FG050", 8, 16),
    ("key unbalanced brace", edit('key: "flight:{flight_id}"', 'key: "flight:{flight_id"'), "FG050", 8, 16),
    ("key empty field", edit('key: "flight:{flight_id}"', 'key: "flight:{}:{flight_id}"'), "FG050", 8, 16),
    ("tag names a column not returned", edit("  ttl: 5m\n", '  ttl: 5m\n  tags: ["f:{row.arrival}"]\n'), "FG054", 10, 13),
    # -- SQL
    ("SQL syntax error", edit("= :flight_id", "= = :flight_id"), "FG060", 5, 69),
    ("two statements", edit(":flight_id\n", ":flight_id; SELECT 1\n"), "FG060", 5, 81),
    ("unknown table", edit("FROM flight f", "FROM flights f"), "FG061", 5, 40),
    ("unknown column", edit("f.departure", "f.departed"), "FG062", 5, 25),
    ("undeclared placeholder", edit("= :flight_id", "= :flightid"), "FG063", 5, 69),
    (
        "unused param",
        edit("  flight_id: int\n", "  flight_id: int\n  extra: str\n").replace(b'"flight:{flight_id}"', b'"flight:{flight_id}:{extra}"', 1),
        "FG064",
        4,
        3,
    ),
    ("computed column without alias", edit("f.departure FROM", "f.departure, UPPER(f.flightno) FROM"), "FG065", 5, 36),
    (
        "a write in a read spec",
        edit("SELECT f.flight_id, f.departure FROM flight f WHERE f.flight_id = :flight_id", "DELETE FROM flight WHERE flight_id = :flight_id"),
        "FG067",
        5,
        3,
    ),
    ("SQL injection in a literal is just a literal that parses", edit("= :flight_id", "= :flight_id AND f.flightno = 'X'' OR 1=1 --'"), "OK", 0, 0),
    ("unportable function", edit("f.departure FROM", "DAYOFWEEK(f.departure) AS m FROM"), "FG068", 5, 23),
    # -- triggers
    ("trigger on an unknown table", edit("  - table: flight\n", "  - table: flihgt\n"), "FG070", 11, 12),
    ("trigger tag names an unknown column", edit('tags: ["flight:{flight_id}"]', 'tags: ["flight:{flightid}"]'), "FG070", 12, 20),
    ("trigger without tags or all", edit('    tags: ["flight:{flight_id}"]\n', ""), "FG011", 11, 5),
]


def test_an_indentation_mistake_is_named_as_one(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "q.yaml").write_bytes(edit("  ttl: 5m\n", "   ttl: 5m\n"))
    assert main(["build", "specs"]) == 2
    assert "check the indentation" in capsys.readouterr().err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.sql", tmp_path / "specs" / "schema.sql")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("data", "code", "line", "col"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_spec_is_a_clear_error_at_its_position(
    project: Path, capsys: pytest.CaptureFixture[str], data: bytes, code: str, line: int, col: int
) -> None:
    # A good spec beside it is built first: the bad one must not disturb what was generated.
    (project / "specs" / "good.yaml").write_text(GOOD.replace("name: q", "name: good"))
    assert main(["build", "specs"]) == 0
    before = {p: p.read_bytes() for p in (project / "generated").rglob("*") if p.is_file()}
    (project / "specs" / "q.yaml").write_bytes(data)
    capsys.readouterr()
    status = main(["build", "specs"])
    err = capsys.readouterr().err
    if code == "OK":
        assert status == 0, err
        return
    assert status == 2, err
    head = f"specs/q.yaml:{line}:{col}: error[{code}]: "
    found = [e for e in err.splitlines() if e.startswith(head)]
    assert found, err
    assert len(found[0]) > len(head) + 15  # says what is wrong
    assert err.splitlines()[0].startswith("specs/q.yaml:")
    assert "nothing was written" in err
    after = {p: p.read_bytes() for p in (project / "generated").rglob("*") if p.is_file()}
    assert after == before
