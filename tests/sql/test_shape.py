"""The result's shape and what a CompiledQuery records: `*` expansion, tables,
param order, `%` escaping, tags and triggers, writes' bound columns, version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from generator.model import CompiledQuery
from generator.schema import Catalog
from generator.sql.compile import compile_query, render_for_dialect
from generator.sql.testing import make_spec, one_line

Compile = Callable[..., CompiledQuery]
Errors = Callable[..., list[str]]


# ------------------------------------------------------------------ SELECT *


def test_star_expands_to_the_catalog_columns(compile_sql: Compile, catalog: Catalog) -> None:
    q = compile_sql("SELECT * FROM airline")
    table = catalog.table("airline")
    assert table is not None
    assert [(c.name, c.type, c.nullable) for c in q.columns] == [(c.name, c.type, c.nullable) for c in table.columns]
    assert one_line(q.sql["sqlite"]).startswith('SELECT "airline"."airline_id" AS "airline_id", "airline"."iata" AS "iata"')


def test_table_star_expands_one_table_and_keeps_outer_join_nullability(compile_sql: Compile) -> None:
    q = compile_sql("SELECT f.flightno, b.* FROM flight f LEFT JOIN booking b ON b.flight_id = f.flight_id")
    assert [(c.name, c.nullable) for c in q.columns] == [
        ("flightno", False),
        ("booking_id", True),
        ("flight_id", True),
        ("seat", True),
        ("passenger_id", True),
        ("price", True),
    ]


def test_star_over_a_join_with_shared_names_needs_aliases(errors: Errors) -> None:
    found = errors("SELECT * FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id")
    assert {f.split(" ")[1] for f in found} == {"FG065"}
    assert any("'name'" in f for f in found)


def test_tables_are_sorted_lower_case_without_ctes(compile_sql: Compile) -> None:
    q = compile_sql("WITH x AS (SELECT b.flight_id FROM Booking b) SELECT F.flight_id FROM FLIGHT F JOIN x ON x.flight_id = F.flight_id")
    assert q.tables == ("booking", "flight")


# -------------------------------------------------------------- parameters


def test_param_order_follows_the_sql_with_repeats(compile_sql: Compile) -> None:
    q = compile_sql(
        "SELECT f.flight_id FROM flight f WHERE f.departure >= :day AND f.departure < :day + INTERVAL 1 DAY AND f.flightno = :no",
        {"no": {"type": "str", "pattern": "^[A-Z0-9]{1,8}$"}, "day": "date"},
    )
    assert q.param_order == ("day", "day", "no")
    assert q.sql["sqlite"].count("?") == 3 and q.sql["mysql"].count("%s") == 3 and q.sql["postgres"].count("%s") == 3


def test_placeholders_in_strings_and_comments_are_text(compile_sql: Compile) -> None:
    q = compile_sql("SELECT a.name FROM airport a -- by :name\nWHERE a.name = ':NOT' AND a.iata = :iata", {"iata": {"type": "str", "pattern": "^[A-Z]{3}$"}})
    assert q.param_order == ("iata",)
    assert "':NOT'" in q.sql["mysql"] and "by :name" not in q.sql["mysql"]


def test_percent_is_doubled_for_the_percent_s_drivers_only(compile_sql: Compile) -> None:
    q = compile_sql("SELECT a.name FROM airport a WHERE a.name LIKE '%INTL%' AND a.icao LIKE :p", {"p": "str"})
    assert "'%%INTL%%'" in q.sql["mysql"] and q.sql["mysql"].endswith("LIKE %s")
    assert "'%%INTL%%'" in q.sql["postgres"] and q.sql["postgres"].endswith("ILIKE %s")
    assert "'%INTL%'" in q.sql["sqlite"] and q.sql["sqlite"].endswith("LIKE ?")


def test_modulo_is_escaped_too(compile_sql: Compile) -> None:
    q = compile_sql("SELECT b.booking_id % 7 AS bucket FROM booking b")
    assert "% 7" not in q.sql["mysql"].replace("%% 7", "")
    assert q.sql["postgres"].count("%%") == 1 and q.sql["sqlite"].count("%") == 1


# ---------------------------------------------------------- tags, triggers


def test_row_tag_must_name_a_result_column(errors: Errors) -> None:
    found = errors("SELECT f.flight_id FROM flight f", tags=["flight:{row.flightid}"])
    assert found == ["9:15 FG054 tag field {row.flightid} names no result column; did you mean 'flight_id'?"]


def test_trigger_table_and_columns_must_exist(errors: Errors) -> None:
    found = errors("SELECT f.flight_id FROM flight f", triggers={"flights": ["x:{flight_id}"], "booking": ["flight:{flightid}"]})
    assert found == [
        "9:12 FG070 invalidate names table 'flights', which specs/schema.sql does not define; did you mean 'flight'?",
        "14:17 FG070 table 'booking' has no column 'flightid'; did you mean 'flight_id'?",
    ]


def test_valid_tags_and_triggers_compile(compile_sql: Compile) -> None:
    q = compile_sql("SELECT f.flight_id FROM flight f", tags=["flight:{row.flight_id}"], triggers={"booking": ["flight:{flight_id}"]})
    assert q.columns[0].name == "flight_id"


# ---------------------------------------------------------------- returns


def test_scalar_needs_one_column(compile_sql: Compile, errors: Errors) -> None:
    assert compile_sql("SELECT COUNT(*) AS n FROM flight f", returns="scalar").columns[0].name == "n"
    assert errors("SELECT f.flight_id, f.flightno FROM flight f", returns="scalar")[0].startswith("4:10 FG066")


@pytest.mark.parametrize(
    ("sql", "params", "pins", "single"),
    [
        ("SELECT a.name FROM airport a WHERE a.airport_id = :id", {"id": "int"}, True, True),
        ("SELECT a.name FROM airport a WHERE a.icao = 'KJFK'", None, True, True),
        ("SELECT a.name FROM airport a WHERE a.iata = :iata", {"iata": {"type": "str", "pattern": "^[A-Z]{3}$"}}, False, False),
        ("SELECT a.name FROM airport a WHERE a.iata = :iata LIMIT 1", {"iata": {"type": "str", "pattern": "^[A-Z]{3}$"}}, False, True),
        ("SELECT a.name, g.city FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id WHERE a.airport_id = :id", {"id": "int"}, True, True),
        ("SELECT f.flightno, p.capacity FROM flight f JOIN airplane p ON p.airplane_id = f.airplane_id WHERE f.flight_id = :id", {"id": "int"}, True, True),
        ("SELECT b.seat FROM flight f JOIN booking b ON b.flight_id = f.flight_id WHERE f.flight_id = :id", {"id": "int"}, False, False),
        (
            "SELECT b.booking_id FROM booking b WHERE b.flight_id = :f AND b.seat = :s",
            {"f": "int", "s": {"type": "str", "pattern": "^[0-9]{1,3}[A-K]$"}},
            True,
            True,
        ),
        ("SELECT COUNT(*) AS n FROM booking b", None, False, True),
        (
            "SELECT g.country, COUNT(*) AS n FROM airport_geo g WHERE g.country = :c GROUP BY g.country",
            {"c": {"type": "str", "pattern": "^[A-Z ]+$"}},
            False,
            True,
        ),
    ],
)
def test_pins_key_and_single_row(sql: str, params: dict[str, Any] | None, pins: bool, single: bool, compile_sql: Compile) -> None:
    q = compile_sql(sql, params, returns="one")
    assert (q.pins_key, q.single_row) == (pins, single)


# ------------------------------------------------------------------ writes


@pytest.mark.parametrize(
    ("sql", "params", "bound"),
    [
        (
            "INSERT INTO booking (flight_id, seat, passenger_id, price) VALUES (:flight_id, :seat, :pid, 10)",
            {"flight_id": "int", "seat": "str", "pid": "int"},
            (("flight_id", "flight_id"), ("seat", "seat"), ("passenger_id", "pid")),
        ),
        (
            "UPDATE booking SET price = :price WHERE booking_id = :id AND flight_id = :f",
            {"price": "decimal", "id": "int", "f": "int"},
            (("price", "price"), ("booking_id", "id"), ("flight_id", "f")),
        ),
        ("DELETE FROM booking WHERE :id = booking_id", {"id": "int"}, (("booking_id", "id"),)),
        ("DELETE FROM booking WHERE booking_id = :id OR flight_id = :f", {"id": "int", "f": "int"}, ()),
    ],
)
def test_writes_record_table_and_bound_columns(sql: str, params: dict[str, str], bound: tuple[tuple[str, str], ...], compile_sql: Compile) -> None:
    q = compile_sql(sql, params, kind="write")
    assert (q.written_table, q.bound_columns, q.columns) == ("booking", bound, ())
    assert "booking" in q.tables


def test_insert_width_must_match(errors: Errors) -> None:
    found = errors("INSERT INTO booking (flight_id, seat) VALUES (:f)", {"f": "int"}, kind="write")
    assert [f.split(" ")[1] for f in found] == ["FG062"] and "1 values for 2 columns" in found[0]


# ----------------------------------------------------------------- version


BASE = "SELECT f.flight_id, f.flightno FROM flight f WHERE f.flight_id = :id"


def version(catalog: Catalog, sql: str, **kw: object) -> str:
    return compile_query(make_spec(sql, {"id": "int"}, **kw), catalog).version  # type: ignore[arg-type]


def test_version_is_12_hex_and_ignores_formatting_and_comments(catalog: Catalog) -> None:
    v = version(catalog, BASE)
    assert len(v) == 12 and int(v, 16) >= 0
    reformatted = "select f.flight_id,\n       f.flightno   -- the number\nfrom   flight f\nwhere  f.flight_id = :id  /* pk */"
    assert version(catalog, reformatted) == v


def test_version_changes_with_query_columns_and_returns(catalog: Catalog) -> None:
    v = version(catalog, BASE)
    assert version(catalog, BASE.replace("f.flightno", "f.departure")) != v
    assert version(catalog, BASE + " AND f.airline_id = 1") != v
    assert version(catalog, BASE, columns={"flightno": (None, True)}) != v
    assert version(catalog, BASE, returns="one") != v


# ---------------------------------------------------------- for show/verify


def test_render_for_dialect(catalog: Catalog) -> None:
    sql = "SELECT a.name FROM airport a WHERE a.name LIKE :p AND a.airport_id = :id"
    assert one_line(render_for_dialect(sql, "mysql", "postgres", catalog, {"id": "int"})) == (
        'SELECT "a"."name" AS "name" FROM "airport" AS "a" WHERE "a"."name" ILIKE %s AND "a"."airport_id" = %s'
    )
    assert (
        one_line(render_for_dialect("DELETE FROM booking WHERE booking_id = :id", "mysql", "sqlite", catalog)) == 'DELETE FROM "booking" WHERE "booking_id" = ?'
    )


def test_compiling_twice_gives_the_same_query(catalog: Catalog) -> None:
    spec = make_spec(
        "SELECT f.flight_id, COUNT(b.booking_id) AS n FROM flight f LEFT JOIN booking b ON b.flight_id = f.flight_id WHERE f.departure < :d + INTERVAL 1 DAY GROUP BY f.flight_id",
        {"d": "date"},
    )
    assert compile_query(spec, catalog) == compile_query(spec, catalog)


def test_the_sql_held_is_one_clause_a_line(compile_sql: Compile) -> None:
    q = compile_sql("SELECT a.name, g.city FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id WHERE a.airport_id = :id", {"id": "int"})
    assert q.sql["postgres"] == (
        "SELECT\n"
        '  "a"."name" AS "name",\n'
        '  "g"."city" AS "city"\n'
        'FROM "airport" AS "a"\n'
        'JOIN "airport_geo" AS "g"\n'
        '  ON "g"."airport_id" = "a"."airport_id"\n'
        "WHERE\n"
        '  "a"."airport_id" = %s'
    )
