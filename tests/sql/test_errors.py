"""Every SQL error is reported at the line and column in the YAML file where the
offending text stands. The spec's YAML is written by ``make_spec``: with one
param the SQL starts on line 5, column 3; without params on line 3."""

from __future__ import annotations

import pytest

from generator.diagnostics import Diagnostic, SpecError
from generator.schema import Catalog
from generator.sql.compile import compile_all, compile_query
from generator.sql.testing import make_spec


def diagnostics(catalog: Catalog, sql: str, params: dict[str, str] | None = None, **kw: object) -> tuple[list[Diagnostic], str]:
    spec = make_spec(sql, params, **kw)  # type: ignore[arg-type]
    with pytest.raises(SpecError) as info:
        compile_query(spec, catalog)
    return list(info.value.diagnostics), spec.source


def text_at(source: str, d: Diagnostic) -> str:
    """The YAML text from the diagnostic's position to the end of its line."""
    return source.splitlines()[d.span.line - 1][d.span.col - 1 :]


CASES = [
    # (sql, params, code, line:col, text found there, words in the message)
    ("SELECT a.name\nFROM airport a\nWHERE a.name = = 'x'", None, "FG060", "5:18", "= 'x'", "syntax"),
    ("SELECT a.name FROM airport a WHERE a.name = 'x", None, "FG060", "3:47", "'x", "unterminated"),
    ("SELECT 1 AS a; SELECT 2 AS b", None, "FG060", "3:18", "SELECT 2", "exactly one statement"),
    ("SELECT x.a\nFROM flights x", None, "FG061", "4:8", "flights x", "did you mean 'flight'?"),
    ("SELECT f.flight_id,\n       f.departur\nFROM flight f", None, "FG062", "4:12", "departur", "did you mean 'departure'?"),
    (
        "SELECT iata FROM airport a\nJOIN airline l ON l.base_airport = a.airport_id",
        None,
        "FG062",
        "3:10",
        "iata FROM",
        "ambiguous column 'iata': qualify it as a.iata or l.iata",
    ),
    ("SELECT z.iata FROM airport a", None, "FG062", "3:10", "z.iata", "no table or alias 'z'"),
    ("SELECT a.iata FROM airport a WHERE nope = 1", None, "FG062", "3:38", "nope", "unknown column 'nope'"),
    (
        "SELECT a.iata FROM airport a\nWHERE a.iata = :code OR UPPER(a.name) = :iata",
        {"iata": "str"},
        "FG063",
        "6:18",
        ":code",
        "':code' names no declared parameter",
    ),
    ("SELECT a.iata FROM airport a", {"iata": "str"}, "FG064", "3:3", "iata: str", "never used"),
    ("SELECT a.iata,\n  COUNT(*) FROM airport a GROUP BY a.iata", None, "FG065", "4:5", "COUNT(*)", "PostgreSQL would name it 'count'"),
    (
        "SELECT a.name, g.name FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id",
        None,
        "FG065",
        "3:18",
        "g.name",
        "two result columns are named 'name'",
    ),
    ("DELETE FROM booking WHERE booking_id = 1", None, "FG067", "3:3", "DELETE", "read spec must be SELECT"),
    ("SELECT *", None, "FG062", "3:3", "SELECT *", "needs a FROM clause"),
    ("SELECT a.iata FROM airport a\nUNION SELECT l.iata, l.airline_id FROM airline l", None, "FG060", "4:16", "l.iata", "the same number of columns"),
    ("SELECT x.* FROM airport a", None, "FG062", "3:10", "x.*", "no table or alias 'x'"),
    ("SELECT 1 AS x FROM DUAL", None, "FG061", "3:22", "DUAL", "leave out FROM DUAL"),
    ("SELECT a.iata FROM airport a WHERE a.iata = ?", None, "FG060", "3:47", "?", "driver placeholder '?'"),
    ("SELECT a.iata FROM airport a WHERE a.iata = %s", None, "FG060", "3:47", "%s", "driver placeholder '%s'"),
    ("SELECT a.iata FROM airport a WHERE a.iata = %(iata)s", None, "FG060", "3:47", "%(iata)s", "driver placeholder '%(name)s'"),
    ("SELECT a.iata FROM airport a WHERE a.airport_id = :from", {"from": "int"}, "FG060", "5:53", ":from", "is a SQL keyword"),
]


@pytest.mark.parametrize(("sql", "params", "code", "where", "there", "words"), CASES, ids=[f"{c[2]}-{c[5][:30]}" for c in CASES])
def test_error_position(catalog: Catalog, sql: str, params: dict[str, str] | None, code: str, where: str, there: str, words: str) -> None:
    found, source = diagnostics(catalog, sql, params)
    assert [d.code for d in found] == [code], [d.render() for d in found]
    d = found[0]
    assert f"{d.span.line}:{d.span.col}" == where, d.render(source)
    assert text_at(source, d).startswith(there), d.render(source)
    assert words in d.message


def test_wrong_returns_points_at_returns(catalog: Catalog) -> None:
    found, source = diagnostics(catalog, "SELECT a.iata, a.name FROM airport a", returns="scalar")
    assert [(d.code, d.span.line, d.span.col) for d in found] == [("FG066", 4, 10)]
    assert text_at(source, found[0]) == "scalar"


def test_write_spec_must_write(catalog: Catalog) -> None:
    found, _ = diagnostics(catalog, "SELECT 1 AS one", kind="write")
    assert [d.code for d in found] == ["FG067"]
    assert "INSERT, UPDATE or DELETE" in found[0].message


def test_unknown_column_in_write(catalog: Catalog) -> None:
    found, source = diagnostics(catalog, "UPDATE booking SET prize = :p WHERE booking_id = :id", {"p": "decimal", "id": "int"}, kind="write")
    assert [(d.code, text_at(source, d)[:5]) for d in found] == [("FG062", "prize")]
    assert "did you mean 'price'?" in found[0].message


def test_sql_on_the_key_line_maps_the_first_line_by_its_column(catalog: Catalog) -> None:
    """``sql: SELECT ...`` (inline): the first SQL line starts at sql_span's column."""
    found, _ = diagnostics(catalog, "SELECT a.nope FROM airport a", sql_line=2, sql_col=6)
    assert [(d.span.line, d.span.col) for d in found] == [(2, 6 + 9)]


def test_all_problems_of_a_spec_are_reported_sorted(catalog: Catalog) -> None:
    sql = "SELECT a.iata, COUNT(*)\nFROM airport a\nWHERE UPPER(a.iata) = :code\nGROUP BY a.iata"
    found, _ = diagnostics(catalog, sql, {"iata": "str"})
    assert [(d.code, d.span.line) for d in found] == [("FG064", 3), ("FG065", 5), ("FG063", 7)]


def test_compile_all_collects_errors_across_specs(catalog: Catalog) -> None:
    good = make_spec("SELECT a.iata FROM airport a")
    bad1 = make_spec("SELECT a.nope FROM airport a")
    bad2 = make_spec("SELECT x.a FROM nowhere x")
    with pytest.raises(SpecError) as info:
        compile_all([good, bad1, bad2], catalog)
    assert sorted(d.code for d in info.value.diagnostics) == ["FG061", "FG062"]
    assert len(compile_all([good], catalog)) == 1


def test_render_with_caret(catalog: Catalog) -> None:
    found, source = diagnostics(catalog, "SELECT f.flight_id,\n       f.departur\nFROM flight f")
    assert found[0].render(source).splitlines() == [
        "specs/t.yaml:4:12: error[FG062]: unknown column 'f.departur'; did you mean 'departure'?",
        "   |          f.departur",
        "   |            ^",
    ]
