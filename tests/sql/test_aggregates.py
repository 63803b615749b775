"""GROUP_CONCAT ... ORDER BY ... SEPARATOR and JSON_ARRAYAGG / JSON_OBJECT per dialect (sql.aggregates)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flughafen.convert import converter
from generator.sql import aggregates
from tests.sql.conftest import Compile, Errors


def flat(sql: str) -> str:
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


def test_group_concat_ordered_with_a_separator(compile_sql: Compile) -> None:
    q = compile_sql("SELECT b.flight_id, GROUP_CONCAT(b.price ORDER BY b.seat DESC SEPARATOR '; ') AS p FROM booking b GROUP BY b.flight_id")
    assert "GROUP_CONCAT(`b`.`price` ORDER BY `b`.`seat` COLLATE utf8mb4_bin DESC SEPARATOR '; ')" in flat(q.sql["mysql"])
    assert 'STRING_AGG(CAST("b"."price" AS TEXT), \'; \' ORDER BY "b"."seat" COLLATE "C" DESC NULLS LAST)' in flat(q.sql["postgres"])
    assert 'GROUP_CONCAT(PRINTF(\'%.2f\', "b"."price"), \'; \' ORDER BY "b"."seat" DESC)' in flat(q.sql["sqlite"])
    assert [(c.name, c.type, c.nullable) for c in q.columns] == [("flight_id", "int", False), ("p", "str", True)]


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT GROUP_CONCAT(b.seat) AS s FROM booking b", "GROUP_CONCAT without ORDER BY"),
        ("SELECT GROUP_CONCAT(DISTINCT b.seat ORDER BY b.seat) AS s FROM booking b", "GROUP_CONCAT(DISTINCT ...)"),
        ("SELECT JSON_OBJECT('lat', CAST(g.latitude AS DOUBLE)) AS d FROM airport_geo g", "a float in JSON"),
    ],
)
def test_what_is_still_refused(errors: Errors, sql: str, said: str) -> None:
    [message] = errors(sql)
    assert "FG068" in message and said in message


def test_an_ordered_aggregate_is_refused_when_the_runtime_sqlite_is_older_than_3_44(errors: Errors, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregates, "VERSION", (3, 40, 1))
    monkeypatch.setattr(aggregates, "NAME", "sqlite3")
    for sql in ("SELECT GROUP_CONCAT(b.seat ORDER BY b.seat) AS s FROM booking b", "SELECT JSON_ARRAYAGG(b.seat) AS s FROM booking b"):
        [message] = errors(sql)
        assert "needs SQLite 3.44 or newer (ORDER BY inside an aggregate), and sqlite3 here links SQLite 3.40.1; install flughafen-gen[sqlite]" in message


def test_json_arrayagg_of_objects_per_dialect(compile_sql: Compile) -> None:
    q = compile_sql(
        "SELECT JSON_ARRAYAGG(JSON_OBJECT('id', b.booking_id, 'price', b.price, 'at', f.departure, 'seat', b.seat)) AS j "
        "FROM booking b JOIN flight f ON f.flight_id = b.flight_id"
    )
    mysql, pg, lite = (flat(q.sql[d]) for d in ("mysql", "postgres", "sqlite"))
    assert "JSON_ARRAYAGG(JSON_OBJECT('id', `b`.`booking_id`, 'price', `b`.`price`, 'at', CAST(`f`.`departure` AS CHAR), 'seat', `b`.`seat`)" in mysql
    assert "ORDER BY `b`.`booking_id`, `b`.`price`, `f`.`departure`, `b`.`seat` COLLATE utf8mb4_bin" in mysql  # MySQL's order is unspecified
    assert pg.startswith('SELECT CAST(JSON_AGG(JSON_BUILD_OBJECT(\'id\', "b"."booking_id", \'price\', "b"."price", \'at\', CAST("f"."departure" AS TEXT)')
    assert 'CASE WHEN COUNT(*) = 0 THEN NULL ELSE JSON_GROUP_ARRAY(JSON_OBJECT(\'id\', "b"."booking_id", \'price\', CAST("b"."price" AS REAL)' in lite
    [column] = q.columns
    assert (column.type, column.nullable) == ("json", True)


def test_a_written_order_is_kept_and_a_flag_is_a_number(compile_sql: Compile) -> None:
    q = compile_sql("SELECT JSON_ARRAYAGG(JSON_OBJECT('no', s.flightno, 'mon', s.monday) ORDER BY s.flightno DESC) AS j FROM flightschedule s")
    assert 'JSON_BUILD_OBJECT(\'no\', "s"."flightno", \'mon\', CAST("s"."monday" AS INT)) ORDER BY "s"."flightno" COLLATE "C" DESC' in flat(q.sql["postgres"])
    assert "ORDER BY `s`.`flightno` COLLATE utf8mb4_bin DESC)" in flat(q.sql["mysql"])


def test_a_scalar_of_one_unnamed_column_is_named_value(compile_sql: Compile, errors: Errors) -> None:
    sql = "SELECT JSON_ARRAYAGG(b.seat) FROM booking b"
    assert [c.name for c in compile_sql(sql, returns="scalar").columns] == ["value"]
    assert any("FG065" in m for m in errors(sql))


def test_the_json_converter_gives_one_text_for_each_database() -> None:
    read = converter("json", None)
    mariadb = '[{"id": 1, "price": 995.60, "at": "2024-12-18 10:00:00", "seat": "1A\\u00f6"}]'
    postgres = '[{"id" : 1, "price" : 995.60, "at" : "2024-12-18 10:00:00", "seat" : "1Aö"}]'
    sqlite = '[{"id":1,"price":995.6,"at":"2024-12-18 10:00:00","seat":"1Aö"}]'
    assert read(mariadb) == read(postgres) == read(sqlite) == read(json.loads(sqlite)) == sqlite
    assert read(None) is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
)
def test_spacing_does_not_change_the_converted_text(value: object) -> None:
    read = converter("json", None)
    assert read(json.dumps(value, indent=2)) == read(json.dumps(value, separators=(",", ":"))) == read(json.dumps(value, ensure_ascii=False))
