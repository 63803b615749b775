"""Type inference: each result column's Python type, nullability and scale,
from the catalog (specs/schema.sql) and the rules in generator/sql/types.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from generator.model import Column, CompiledQuery

Compile = Callable[..., CompiledQuery]

JOIN_G = "FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id"
LEFT_B = "FROM flight f LEFT JOIN booking b ON b.flight_id = f.flight_id"

TYPES = [
    # plain columns: the catalog's type
    ("SELECT b.price AS x FROM booking b", ("decimal", False, 2)),
    ("SELECT a.iata AS x FROM airport a", ("str", True, None)),
    ("SELECT f.departure AS x FROM flight f", ("datetime", False, None)),
    ("SELECT d.birthdate AS x FROM passengerdetails d", ("date", False, None)),
    ("SELECT s.departure AS x FROM flightschedule s", ("time", False, None)),
    ("SELECT s.monday AS x FROM flightschedule s", ("bool", False, None)),
    ("SELECT p.capacity AS x FROM airplane p", ("int", False, None)),
    # joined: an inner join keeps nullability, an outer join's optional side is nullable
    (f"SELECT g.latitude AS x {JOIN_G}", ("decimal", False, 8)),
    (f"SELECT g.city AS x {JOIN_G}", ("str", True, None)),
    (f"SELECT b.booking_id AS x {LEFT_B}", ("int", True, None)),
    (f"SELECT f.flight_id AS x {LEFT_B}", ("int", False, None)),
    ("SELECT f.flight_id AS x FROM flight f RIGHT JOIN booking b ON b.flight_id = f.flight_id", ("int", True, None)),
    # aggregates
    (f"SELECT COUNT(b.booking_id) AS x {LEFT_B}", ("int", False, None)),
    ("SELECT SUM(b.price) AS x FROM booking b", ("decimal", True, 2)),
    ("SELECT SUM(b.price) AS x FROM booking b GROUP BY b.flight_id", ("decimal", False, 2)),
    (f"SELECT SUM(b.price) AS x {LEFT_B} GROUP BY f.flight_id", ("decimal", True, 2)),
    ("SELECT SUM(s.monday) AS x FROM flightschedule s", ("int", True, None)),
    ("SELECT AVG(b.price) AS x FROM booking b GROUP BY b.flight_id", ("float", False, None)),
    ("SELECT MIN(f.departure) AS x FROM flight f", ("datetime", True, None)),
    ("SELECT MAX(b.seat) AS x FROM booking b GROUP BY b.flight_id", ("str", True, None)),
    # coalesce, case, cast, round
    ("SELECT COALESCE(SUM(b.price), 0) AS x FROM booking b", ("decimal", False, 2)),
    ("SELECT IFNULL(a.iata, '---') AS x FROM airport a", ("str", False, None)),
    ("SELECT COALESCE(a.iata, g.city) AS x " + JOIN_G, ("str", True, None)),
    ("SELECT CASE WHEN b.price > 100 THEN 'high' ELSE 'low' END AS x FROM booking b", ("str", False, None)),
    ("SELECT CASE WHEN b.price > 100 THEN b.price END AS x FROM booking b", ("decimal", True, 2)),
    ("SELECT IF(b.seat IS NULL, 0, 1) AS x FROM booking b", ("int", False, None)),
    ("SELECT CAST(b.price AS DECIMAL(12, 4)) AS x FROM booking b", ("decimal", False, 4)),
    ("SELECT CAST(a.airport_id AS CHAR) AS x FROM airport a", ("str", False, None)),
    ("SELECT CAST(b.seat IS NULL AS SIGNED) AS x FROM booking b", ("int", False, None)),
    ("SELECT CAST(f.departure AS DATE) AS x FROM flight f", ("date", False, None)),
    ("SELECT ROUND(b.price, 1) AS x FROM booking b", ("decimal", False, 1)),
    ("SELECT ROUND(AVG(g.latitude), 6) AS x FROM airport_geo g", ("float", True, None)),
    # arithmetic
    ("SELECT p.capacity - COUNT(*) AS x FROM airplane p GROUP BY p.airplane_id", ("int", False, None)),
    ("SELECT b.price * 2 AS x FROM booking b", ("decimal", False, 2)),
    ("SELECT b.price * b.price AS x FROM booking b", ("decimal", False, 4)),
    ("SELECT b.price + 1.5 AS x FROM booking b", ("decimal", False, 2)),
    ("SELECT b.price / 4 AS x FROM booking b", ("decimal", True, 6)),
    ("SELECT b.booking_id DIV 2 AS x FROM booking b", ("int", True, None)),
    ("SELECT f.departure + INTERVAL 1 HOUR AS x FROM flight f", ("datetime", False, None)),
    ("SELECT d.birthdate + INTERVAL 1 DAY AS x FROM passengerdetails d", ("date", False, None)),
    ("SELECT d.birthdate + INTERVAL 1 HOUR AS x FROM passengerdetails d", ("datetime", False, None)),
    # predicates, strings, others
    ("SELECT b.price > 100 AS x FROM booking b", ("bool", False, None)),
    ("SELECT b.seat = 'A1' AS x FROM booking b", ("bool", True, None)),
    ("SELECT b.seat IS NULL AS x FROM booking b", ("bool", False, None)),
    ("SELECT TRIM(a.name) AS x FROM airport a", ("str", False, None)),
    ("SELECT CONCAT(a.icao, a.iata) AS x FROM airport a", ("str", True, None)),
    ("SELECT CHAR_LENGTH(a.name) AS x FROM airport a", ("int", False, None)),
    ("SELECT CURRENT_TIMESTAMP AS x", ("datetime", False, None)),
    ("SELECT ROW_NUMBER() OVER (ORDER BY a.airport_id) AS x FROM airport a", ("int", False, None)),
    # subqueries, CTEs, unions
    ("SELECT (SELECT COUNT(*) FROM booking b WHERE b.flight_id = f.flight_id) AS x FROM flight f", ("int", True, None)),
    ("SELECT t.n AS x FROM (SELECT COUNT(*) AS n FROM booking b) t", ("int", False, None)),
    ("WITH c AS (SELECT a.iata FROM airport a) SELECT c.iata AS x FROM c", ("str", True, None)),
    ("SELECT a.airport_id AS x FROM airport a UNION SELECT l.airline_id FROM airline l", ("int", False, None)),
    ("SELECT a.airport_id AS x FROM airport a UNION ALL SELECT b.price FROM booking b", ("decimal", False, 2)),
]


@pytest.mark.parametrize(("sql", "expected"), TYPES, ids=[t[0][7:60] for t in TYPES])
def test_column_type(sql: str, expected: tuple[str, bool, int | None], compile_sql: Compile) -> None:
    (col,) = compile_sql(sql).columns
    assert (col.type, col.nullable, col.scale) == expected


def test_parameter_typed_column(compile_sql: Compile) -> None:
    (col,) = compile_sql("SELECT :day + INTERVAL 1 DAY AS x", {"day": "date"}).columns
    assert col == Column("x", "date", False)


def test_overrides_win(compile_sql: Compile) -> None:
    q = compile_sql(
        "SELECT b.seat, AVG(b.price) AS avg_price FROM booking b WHERE b.seat IS NOT NULL GROUP BY b.seat",
        columns={"seat": (None, False), "avg_price": ("decimal", None)},
    )
    assert q.columns == (Column("seat", "str", False), Column("avg_price", "decimal", False, 0))


def test_override_of_a_column_not_returned_is_an_error(errors: Callable[..., list[str]]) -> None:
    found = errors("SELECT b.seat FROM booking b", columns={"set": (None, False)})
    assert found == ["6:3 FG069 `columns:` names 'set', which the query does not return; did you mean 'seat'?"]
