"""Dialect tables, in the style of sqlglot's tests/dialects: spec SQL (MySQL) in,
the SQL held for each dialect out; then the constructs that must be refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from generator.diagnostics import SpecError
from generator.model import CompiledQuery
from generator.sql.testing import one_line

Compile = Callable[..., CompiledQuery]
Errors = Callable[..., list[str]]


@dataclass(frozen=True)
class Case:
    sql: str
    mysql: str
    postgres: str
    sqlite: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "read"


CASES = [
    Case(
        "SELECT COUNT(*) AS n FROM flight f WHERE f.departure >= :day AND f.departure < :day + INTERVAL 1 DAY",
        mysql="SELECT COUNT(*) AS `n` FROM `flight` AS `f` WHERE `f`.`departure` >= %s AND `f`.`departure` < %s + INTERVAL '1' DAY",
        postgres='SELECT COUNT(*) AS "n" FROM "flight" AS "f" WHERE "f"."departure" >= CAST(%s AS DATE) AND "f"."departure" < CAST(CAST(%s AS DATE) + INTERVAL \'1 DAY\' AS DATE)',
        sqlite='SELECT COUNT(*) AS "n" FROM "flight" AS "f" WHERE "f"."departure" >= ? AND "f"."departure" < DATE(?, \'+1 days\')',
        params={"day": "date"},
    ),
    Case(
        "SELECT DATE_SUB(f.departure, INTERVAL 2 HOUR) AS t FROM flight f",
        mysql="SELECT `f`.`departure` - INTERVAL '2' HOUR AS `t` FROM `flight` AS `f`",
        postgres='SELECT "f"."departure" - INTERVAL \'2 HOUR\' AS "t" FROM "flight" AS "f"',
        sqlite='SELECT DATETIME("f"."departure", \'-2 hours\') AS "t" FROM "flight" AS "f"',
    ),
    Case(
        "SELECT d.birthdate + INTERVAL 2 WEEK AS t FROM passengerdetails d",
        mysql="SELECT `d`.`birthdate` + INTERVAL '2' WEEK AS `t` FROM `passengerdetails` AS `d`",
        postgres='SELECT CAST("d"."birthdate" + INTERVAL \'2 WEEK\' AS DATE) AS "t" FROM "passengerdetails" AS "d"',
        sqlite='SELECT DATE("d"."birthdate", \'+14 days\') AS "t" FROM "passengerdetails" AS "d"',
    ),
    Case(
        "SELECT a.name FROM airport a WHERE a.name LIKE '%INTL%'",
        mysql="SELECT `a`.`name` AS `name` FROM `airport` AS `a` WHERE `a`.`name` LIKE '%%INTL%%'",
        postgres='SELECT "a"."name" AS "name" FROM "airport" AS "a" WHERE "a"."name" ILIKE \'%%INTL%%\'',
        sqlite='SELECT "a"."name" AS "name" FROM "airport" AS "a" WHERE "a"."name" LIKE \'%INTL%\'',
    ),
    Case(  # MySQL's null order everywhere; nothing said where the key is never NULL; text by code point
        "SELECT a.iata FROM airport a ORDER BY a.iata, a.name DESC, a.airport_id",
        mysql="SELECT `a`.`iata` AS `iata` FROM `airport` AS `a` ORDER BY `a`.`iata` COLLATE utf8mb4_bin, `a`.`name` COLLATE utf8mb4_bin DESC, `a`.`airport_id`",
        postgres='SELECT "a"."iata" AS "iata" FROM "airport" AS "a" ORDER BY "a"."iata" COLLATE "C" NULLS FIRST, "a"."name" COLLATE "C" DESC, "a"."airport_id"',
        sqlite='SELECT "a"."iata" AS "iata" FROM "airport" AS "a" ORDER BY "a"."iata", "a"."name" DESC, "a"."airport_id"',
    ),
    Case(
        "SELECT a.iata FROM airport a ORDER BY a.iata DESC",
        mysql="SELECT `a`.`iata` AS `iata` FROM `airport` AS `a` ORDER BY `a`.`iata` COLLATE utf8mb4_bin DESC",
        postgres='SELECT "a"."iata" AS "iata" FROM "airport" AS "a" ORDER BY "a"."iata" COLLATE "C" DESC NULLS LAST',
        sqlite='SELECT "a"."iata" AS "iata" FROM "airport" AS "a" ORDER BY "a"."iata" DESC',
    ),
    Case(
        "SELECT CONCAT(f.flightno, '-', f.flight_id) AS label FROM flight f",
        mysql="SELECT CONCAT(`f`.`flightno`, '-', `f`.`flight_id`) AS `label` FROM `flight` AS `f`",
        postgres='SELECT "f"."flightno" || \'-\' || CAST("f"."flight_id" AS TEXT) AS "label" FROM "flight" AS "f"',
        sqlite='SELECT "f"."flightno" || \'-\' || "f"."flight_id" AS "label" FROM "flight" AS "f"',
    ),
    Case(
        "SELECT NOW() AS t, CURRENT_DATE AS d",
        mysql="SELECT CURRENT_TIMESTAMP() AS `t`, CURRENT_DATE AS `d`",
        postgres='SELECT LOCALTIMESTAMP AS "t", CURRENT_DATE AS "d"',
        sqlite="SELECT DATETIME('now', 'localtime') AS \"t\", DATE('now', 'localtime') AS \"d\"",
    ),
    Case(  # TINYINT(1) is BOOLEAN on PostgreSQL
        "SELECT COUNT(*) AS n FROM flightschedule s WHERE s.monday = 1 AND s.sunday = 0",
        mysql="SELECT COUNT(*) AS `n` FROM `flightschedule` AS `s` WHERE `s`.`monday` = 1 AND `s`.`sunday` = 0",
        postgres='SELECT COUNT(*) AS "n" FROM "flightschedule" AS "s" WHERE "s"."monday" = TRUE AND "s"."sunday" = FALSE',
        sqlite='SELECT COUNT(*) AS "n" FROM "flightschedule" AS "s" WHERE "s"."monday" = 1 AND "s"."sunday" = 0',
    ),
    Case(
        "SELECT SUM(s.monday) AS mondays, SUM(s.departure > '12:00:00') AS late FROM flightschedule s",
        mysql="SELECT SUM(`s`.`monday`) AS `mondays`, SUM(`s`.`departure` > '12:00:00') AS `late` FROM `flightschedule` AS `s`",
        postgres='SELECT SUM(CAST("s"."monday" AS INT)) AS "mondays", SUM(CAST(("s"."departure" > \'12:00:00\') AS INT)) AS "late" FROM "flightschedule" AS "s"',
        sqlite='SELECT SUM("s"."monday") AS "mondays", SUM("s"."departure" > \'12:00:00\') AS "late" FROM "flightschedule" AS "s"',
    ),
    Case(
        "SELECT CAST(b.price AS DECIMAL(10, 1)) AS p FROM booking b",
        mysql="SELECT CAST(`b`.`price` AS DECIMAL(10, 1)) AS `p` FROM `booking` AS `b`",
        postgres='SELECT CAST("b"."price" AS DECIMAL(10, 1)) AS "p" FROM "booking" AS "b"',
        sqlite='SELECT ROUND(CAST("b"."price" AS REAL), 1) AS "p" FROM "booking" AS "b"',
    ),
    Case(
        "SELECT CAST(b.booking_id AS CHAR) AS p FROM booking b",
        mysql="SELECT CAST(`b`.`booking_id` AS CHAR) AS `p` FROM `booking` AS `b`",
        postgres='SELECT CAST("b"."booking_id" AS TEXT) AS "p" FROM "booking" AS "b"',
        sqlite='SELECT CAST("b"."booking_id" AS TEXT) AS "p" FROM "booking" AS "b"',
    ),
    Case(  # decimal division stays numeric on PostgreSQL, NULL when dividing by zero, rounded half up to MySQL's scale
        "SELECT b.price / 3 AS third FROM booking b",
        mysql="SELECT `b`.`price` / 3 AS `third` FROM `booking` AS `b`",
        postgres='SELECT ROUND("b"."price" / NULLIF(3, 0), 6) AS "third" FROM "booking" AS "b"',
        sqlite='SELECT ((CASE WHEN CAST(ROUND("b"."price" * 100) AS INTEGER) * 10000 < 0 THEN -1 ELSE 1 END) * ((2 * ABS(CAST(ROUND("b"."price" * 100) AS INTEGER) * 10000) + 3) / (2 * 3)) / 1000000.0) AS "third" FROM "booking" AS "b"',  # exact: sqlite_decimals
    ),
    Case(  # AVG of an integer or decimal: MySQL's scale (+4), half up; not again inside a ROUND to fewer digits
        "SELECT AVG(b.price) AS mean, ROUND(AVG(b.price), 2) AS shown, AVG(p.capacity) AS seats FROM booking b JOIN airplane p ON p.airplane_id = b.flight_id",
        mysql="SELECT AVG(`b`.`price`) AS `mean`, ROUND(AVG(`b`.`price`), 2) AS `shown`, AVG(`p`.`capacity`) AS `seats` FROM `booking` AS `b` JOIN `airplane` AS `p` ON `p`.`airplane_id` = `b`.`flight_id`",
        postgres='SELECT ROUND(CAST(AVG("b"."price") AS DECIMAL), 6) AS "mean", ROUND(CAST(AVG("b"."price") AS DECIMAL), 2) AS "shown", ROUND(CAST(AVG("p"."capacity") AS DECIMAL), 4) AS "seats" FROM "booking" AS "b" JOIN "airplane" AS "p" ON "p"."airplane_id" = "b"."flight_id"',
        sqlite=(  # exact half-up rounding in whole units of the last digit (sql/sqlite_decimals.py)
            'SELECT CASE WHEN COUNT("b"."price") = 0 THEN NULL ELSE (CASE WHEN SUM(ROUND("b"."price" * 100)) < 0 THEN -1 ELSE 1 END) * ((ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) / COUNT("b"."price")) * 10000 + (2 * (ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) % COUNT("b"."price")) * 10000 + COUNT("b"."price")) / (2 * COUNT("b"."price"))) / 1000000.0 END AS "mean", ((CASE WHEN CAST(ROUND(CASE WHEN COUNT("b"."price") = 0 THEN NULL ELSE (CASE WHEN SUM(ROUND("b"."price" * 100)) < 0 THEN -1 ELSE 1 END) * ((ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) / COUNT("b"."price")) * 10000 + (2 * (ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) % COUNT("b"."price")) * 10000 + COUNT("b"."price")) / (2 * COUNT("b"."price"))) / 1000000.0 END * 1000000) AS INTEGER) < 0 THEN -1 ELSE 1 END) * ((2 * ABS(CAST(ROUND(CASE WHEN COUNT("b"."price") = 0 THEN NULL ELSE (CASE WHEN SUM(ROUND("b"."price" * 100)) < 0 THEN -1 ELSE 1 END) * ((ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) / COUNT("b"."price")) * 10000 + (2 * (ABS(CAST(SUM(ROUND("b"."price" * 100)) AS INTEGER)) % COUNT("b"."price")) * 10000 + COUNT("b"."price")) / (2 * COUNT("b"."price"))) / 1000000.0 END * 1000000) AS INTEGER)) + 10000) / (2 * 10000)) / 100.0) AS "shown", CASE WHEN COUNT("p"."capacity") = 0 THEN NULL ELSE (CASE WHEN SUM("p"."capacity") < 0 THEN -1 ELSE 1 END) * ((ABS(CAST(SUM("p"."capacity") AS INTEGER)) / COUNT("p"."capacity")) * 10000 + (2 * (ABS(CAST(SUM("p"."capacity") AS INTEGER)) % COUNT("p"."capacity")) * 10000 + COUNT("p"."capacity")) / (2 * COUNT("p"."capacity"))) / 10000.0 END AS "seats" FROM "booking" AS "b" JOIN "airplane" AS "p" ON "p"."airplane_id" = "b"."flight_id"'
        ),
    ),
    Case(  # GROUP BY text by code point on MySQL: a binary twin, unless a grouped key fixes the column
        "SELECT p.lastname, COUNT(*) AS n FROM passenger p GROUP BY p.lastname",
        mysql="SELECT `p`.`lastname` AS `lastname`, COUNT(*) AS `n` FROM `passenger` AS `p` GROUP BY `p`.`lastname`, `p`.`lastname` COLLATE utf8mb4_bin",
        postgres='SELECT "p"."lastname" AS "lastname", COUNT(*) AS "n" FROM "passenger" AS "p" GROUP BY "p"."lastname"',
        sqlite='SELECT "p"."lastname" AS "lastname", COUNT(*) AS "n" FROM "passenger" AS "p" GROUP BY "p"."lastname"',
    ),
    Case(
        "SELECT p.passenger_id, p.lastname, COUNT(*) AS n FROM passenger p GROUP BY p.passenger_id, p.lastname",
        mysql="SELECT `p`.`passenger_id` AS `passenger_id`, `p`.`lastname` AS `lastname`, COUNT(*) AS `n` FROM `passenger` AS `p` GROUP BY `p`.`passenger_id`, `p`.`lastname`",
        postgres='SELECT "p"."passenger_id" AS "passenger_id", "p"."lastname" AS "lastname", COUNT(*) AS "n" FROM "passenger" AS "p" GROUP BY "p"."passenger_id", "p"."lastname"',
        sqlite='SELECT "p"."passenger_id" AS "passenger_id", "p"."lastname" AS "lastname", COUNT(*) AS "n" FROM "passenger" AS "p" GROUP BY "p"."passenger_id", "p"."lastname"',
    ),
    Case(  # DISTINCT and COUNT(DISTINCT) of text; PostgreSQL collates a DISTINCT's projection like its ORDER BY key
        "SELECT DISTINCT p.lastname FROM passenger p ORDER BY p.lastname",
        mysql="SELECT DISTINCT `p`.`lastname` COLLATE utf8mb4_bin AS `lastname` FROM `passenger` AS `p` ORDER BY `p`.`lastname` COLLATE utf8mb4_bin",
        postgres='SELECT DISTINCT "p"."lastname" COLLATE "C" AS "lastname" FROM "passenger" AS "p" ORDER BY "p"."lastname" COLLATE "C"',
        sqlite='SELECT DISTINCT "p"."lastname" AS "lastname" FROM "passenger" AS "p" ORDER BY "p"."lastname"',
    ),
    Case(
        "SELECT COUNT(DISTINCT p.lastname) AS n FROM passenger p",
        mysql="SELECT COUNT(DISTINCT `p`.`lastname` COLLATE utf8mb4_bin) AS `n` FROM `passenger` AS `p`",
        postgres='SELECT COUNT(DISTINCT "p"."lastname") AS "n" FROM "passenger" AS "p"',
        sqlite='SELECT COUNT(DISTINCT "p"."lastname") AS "n" FROM "passenger" AS "p"',
    ),
    Case(  # MIN/MAX of text by code point, as SQLite compares
        "SELECT MAX(p.lastname) AS last FROM passenger p",
        mysql="SELECT MAX(`p`.`lastname` COLLATE utf8mb4_bin) AS `last` FROM `passenger` AS `p`",
        postgres='SELECT MAX("p"."lastname" COLLATE "C") AS "last" FROM "passenger" AS "p"',
        sqlite='SELECT MAX("p"."lastname") AS "last" FROM "passenger" AS "p"',
    ),
    Case(
        "SELECT a.name FROM airport a ORDER BY a.airport_id LIMIT :skip, :n",
        mysql="SELECT `a`.`name` AS `name` FROM `airport` AS `a` ORDER BY `a`.`airport_id` LIMIT %s OFFSET %s",
        postgres='SELECT "a"."name" AS "name" FROM "airport" AS "a" ORDER BY "a"."airport_id" LIMIT %s OFFSET %s',
        sqlite='SELECT "a"."name" AS "name" FROM "airport" AS "a" ORDER BY "a"."airport_id" LIMIT ? OFFSET ?',
        params={"skip": "int", "n": "int"},
    ),
    Case(
        "SELECT IFNULL(a.iata, '---') AS code, IF(a.iata IS NULL, 0, 1) AS has FROM airport a",
        mysql="SELECT COALESCE(`a`.`iata`, '---') AS `code`, IF(`a`.`iata` IS NULL, 0, 1) AS `has` FROM `airport` AS `a`",
        postgres='SELECT COALESCE("a"."iata", \'---\') AS "code", CASE WHEN "a"."iata" IS NULL THEN 0 ELSE 1 END AS "has" FROM "airport" AS "a"',
        sqlite='SELECT COALESCE("a"."iata", \'---\') AS "code", IIF("a"."iata" IS NULL, 0, 1) AS "has" FROM "airport" AS "a"',
    ),
    Case(
        "SELECT g.airport_id FROM airport_geo g WHERE g.city <=> :city",
        mysql="SELECT `g`.`airport_id` AS `airport_id` FROM `airport_geo` AS `g` WHERE `g`.`city` <=> %s",
        postgres='SELECT "g"."airport_id" AS "airport_id" FROM "airport_geo" AS "g" WHERE "g"."city" IS NOT DISTINCT FROM %s',
        sqlite='SELECT "g"."airport_id" AS "airport_id" FROM "airport_geo" AS "g" WHERE "g"."city" IS ?',
        params={"city": {"type": "str", "pattern": "^[A-Z ]+$"}},
    ),
    Case(
        "SELECT COUNT(*) AS n FROM flight f WHERE f.departure < :at",
        mysql="SELECT COUNT(*) AS `n` FROM `flight` AS `f` WHERE `f`.`departure` < %s",
        postgres='SELECT COUNT(*) AS "n" FROM "flight" AS "f" WHERE "f"."departure" < CAST(%s AS TIMESTAMP)',
        sqlite='SELECT COUNT(*) AS "n" FROM "flight" AS "f" WHERE "f"."departure" < ?',
        params={"at": "datetime"},
    ),
    Case(  # `from` and `to` quoted everywhere
        "SELECT f.`from` AS origin FROM flight f WHERE f.`to` = :to",
        mysql="SELECT `f`.`from` AS `origin` FROM `flight` AS `f` WHERE `f`.`to` = %s",
        postgres='SELECT "f"."from" AS "origin" FROM "flight" AS "f" WHERE "f"."to" = %s',
        sqlite='SELECT "f"."from" AS "origin" FROM "flight" AS "f" WHERE "f"."to" = ?',
        params={"to": "int"},
    ),
    Case(  # no alias in SET on PostgreSQL and SQLite
        "UPDATE booking b SET b.price = b.price * 2 WHERE b.flight_id = :f",
        mysql="UPDATE `booking` AS `b` SET `price` = `b`.`price` * 2 WHERE `b`.`flight_id` = %s",
        postgres='UPDATE "booking" AS "b" SET "price" = "b"."price" * 2 WHERE "b"."flight_id" = %s',
        sqlite='UPDATE "booking" AS "b" SET "price" = "b"."price" * 2 WHERE "b"."flight_id" = ?',
        params={"f": "int"},
        kind="write",
    ),
    Case(  # booleans in arithmetic are integers on PostgreSQL too
        "SELECT s.monday + s.tuesday AS n FROM flightschedule s",
        mysql="SELECT `s`.`monday` + `s`.`tuesday` AS `n` FROM `flightschedule` AS `s`",
        postgres='SELECT CAST("s"."monday" AS INT) + CAST("s"."tuesday" AS INT) AS "n" FROM "flightschedule" AS "s"',
        sqlite='SELECT "s"."monday" + "s"."tuesday" AS "n" FROM "flightschedule" AS "s"',
    ),
    Case(
        "UPDATE booking SET price = :price WHERE booking_id = :id",
        mysql="UPDATE `booking` SET `price` = %s WHERE `booking_id` = %s",
        postgres='UPDATE "booking" SET "price" = CAST(%s AS DECIMAL) WHERE "booking_id" = %s',
        sqlite='UPDATE "booking" SET "price" = ? WHERE "booking_id" = ?',
        params={"price": "decimal", "id": "int"},
        kind="write",
    ),
    Case(
        "INSERT INTO booking (flight_id, seat, passenger_id, price) VALUES (:flight_id, :seat, :passenger_id, :price)",
        mysql="INSERT INTO `booking` (`flight_id`, `seat`, `passenger_id`, `price`) VALUES (%s, %s, %s, %s)",
        postgres='INSERT INTO "booking" ("flight_id", "seat", "passenger_id", "price") VALUES (%s, %s, %s, CAST(%s AS DECIMAL))',
        sqlite='INSERT INTO "booking" ("flight_id", "seat", "passenger_id", "price") VALUES (?, ?, ?, ?)',
        params={"flight_id": "int", "seat": "str", "passenger_id": "int", "price": "decimal"},
        kind="write",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.sql[:60])
def test_sql_per_dialect(case: Case, compile_sql: Compile) -> None:
    q = compile_sql(case.sql, case.params, kind=case.kind)
    assert {d: one_line(text) for d, text in q.sql.items()} == {"mysql": case.mysql, "postgres": case.postgres, "sqlite": case.sqlite}


def test_source_in_postgres_dialect(compile_sql: Compile) -> None:
    q = compile_sql("SELECT a.name || '!' AS shout FROM airport a WHERE a.airport_id = :id", {"id": "int"}, dialect="postgres")
    assert one_line(q.sql["mysql"]) == "SELECT CONCAT(`a`.`name`, '!') AS `shout` FROM `airport` AS `a` WHERE `a`.`airport_id` = %s"
    assert one_line(q.sql["sqlite"]) == 'SELECT "a"."name" || \'!\' AS "shout" FROM "airport" AS "a" WHERE "a"."airport_id" = ?'


REFUSED = [
    ("SELECT TIMESTAMPDIFF(MICROSECOND, f.departure, f.arrival) AS m FROM flight f", {}, "3:10", "fractions of a second"),
    ("SELECT DAYOFWEEK(f.departure) AS d FROM flight f", {}, "3:10", "DAYOFWEEK"),
    ("SELECT SUBSTRING_INDEX(a.name, ' ', 1) AS w FROM airport a", {}, "3:10", "SUBSTRING_INDEX"),
    ("SELECT GROUP_CONCAT(DISTINCT b.seat ORDER BY b.seat) AS seats FROM booking b", {}, "3:10", "GROUP_CONCAT(DISTINCT ...)"),
    ("SELECT GROUP_CONCAT(b.seat SEPARATOR '; ') AS seats FROM booking b", {}, "3:10", "each database concatenates in its own order"),
    ("SELECT a.name FROM airport a WHERE a.iata = 'JFK' || a.icao = 'KJFK'", {}, "3:53", "`||` means OR in MySQL"),
    ("SELECT p.capacity / 2 AS half FROM airplane p", {}, "3:21", "`/` between integers"),
    ("SELECT f.departure + INTERVAL 1 MONTH AS t FROM flight f", {}, "3:10", "INTERVAL of MONTH"),
    ("SELECT f.departure + INTERVAL :n DAY AS t FROM flight f", {"n": "int"}, "5:10", "must be a number literal"),
    ("SELECT LENGTH(a.name) AS n FROM airport a", {}, "3:10", "use CHAR_LENGTH"),
    ("SELECT YEAR(f.departure) AS y FROM flight f", {}, "3:10", "YEAR() does not exist on SQLite"),
    ("SELECT DATE_FORMAT(f.departure, '%Y') AS y FROM flight f", {}, "3:10", "DATE_FORMAT specifiers"),
    ("SELECT GREATEST(f.departure, f.arrival) AS y FROM flight f", {}, "3:10", "GREATEST ignores NULLs"),
    ("SELECT a.name FROM airport a WHERE a.name REGEXP '^K'", {}, "3:45", "regular expressions"),
    ("SELECT LEFT(a.name, 3) AS p FROM airport a", {}, "3:10", "LEFT() does not exist on SQLite"),
    ("SELECT CONCAT_WS(',', a.iata, a.icao) AS codes FROM airport a", {}, "3:10", "CONCAT_WS"),
    ("SELECT ADDDATE(f.departure, 1) AS t FROM flight f", {}, "3:10", "ADDDATE"),
    ("SELECT JSON_ARRAYAGG(JSON_OBJECT(b.seat, 1)) AS seats FROM booking b", {}, "3:36", "a JSON_OBJECT key must be a string literal"),
    ("SELECT f.arrival - f.departure AS d FROM flight f", {}, "3:20", "arithmetic on a datetime"),
    (
        "SELECT a.iata, COUNT(*) AS n FROM airport a JOIN airport_geo g ON g.airport_id = a.airport_id GROUP BY g.country",
        {},
        "3:10",
        "a.iata is neither grouped nor aggregated",
    ),
    ("SELECT a.iata, COUNT(*) AS n FROM airport a", {}, "3:10", "a.iata is neither grouped nor aggregated"),
    ("SELECT DISTINCT a.iata FROM airport a ORDER BY a.name", {}, "3:50", "with SELECT DISTINCT"),
    ("SELECT a.name + 1 AS x FROM airport a", {}, "3:17", "arithmetic on a str"),
    ("SELECT a.airport_id FROM airport a WHERE a.name = :n", {"n": "str"}, "5:53", "give :n a pattern"),
    ("SELECT SUBSTRING(a.name, 0, 3) AS p FROM airport a", {}, "3:10", "start from a positive number literal"),
    ("SELECT SUBSTRING(a.name, -3) AS p FROM airport a", {}, "3:10", "start from a positive number literal"),
    ("SELECT SUBSTRING(a.name, 2, :n) AS p FROM airport a", {"n": "int"}, "5:10", "length must be a number literal"),
    ("SELECT LOWER(a.name) AS p FROM airport a WHERE UPPER(a.name) = 'X'", {}, "3:10", "LOWER in a result"),
    ("SELECT a.airport_id FROM airport a WHERE a.iata IN ('JFK', 'lax')", {}, "3:62", "write UPPER(a.iata) = 'LAX'"),
    ("SELECT a.airport_id FROM airport a WHERE a.name BETWEEN 'A' AND 'B'", {}, "3:44", "BETWEEN on text"),
]


@pytest.mark.parametrize(("sql", "params", "where", "message"), REFUSED, ids=[r[3] for r in REFUSED])
def test_refused(sql: str, params: dict[str, str], where: str, message: str, errors: Errors) -> None:
    found = errors(sql, params)
    assert len(found) == 1, found
    pos, code, text = found[0].split(" ", 2)
    assert (pos, code) == (where, "FG068")
    assert message in text


REFUSED_WRITES = [
    (
        "INSERT INTO booking (flight_id, price) VALUES (:f, :x) ON DUPLICATE KEY UPDATE price = :x",
        {"f": "int", "x": "decimal"},
        "6:58",
        "ON DUPLICATE KEY UPDATE",
    ),
    ("INSERT IGNORE INTO booking (flight_id, price) VALUES (:f, :x)", {"f": "int", "x": "decimal"}, "6:10", "INSERT IGNORE"),
    ("UPDATE booking SET price = :p WHERE flight_id = :f LIMIT 1", {"p": "decimal", "f": "int"}, "6:54", "single-table UPDATE"),
    ("DELETE FROM booking ORDER BY booking_id LIMIT 10", {}, "3:23", "single-table DELETE"),
    ("DELETE b FROM booking b JOIN flight f ON f.flight_id = b.flight_id", {}, "3:27", "single-table DELETE"),
    ("UPDATE booking b, flight f SET b.price = 1 WHERE f.flight_id = b.flight_id", {}, "3:19", "single-table UPDATE"),
]


@pytest.mark.parametrize(("sql", "params", "where", "message"), REFUSED_WRITES, ids=[r[3] for r in REFUSED_WRITES])
def test_refused_writes(sql: str, params: dict[str, str], where: str, message: str, errors: Errors) -> None:
    found = errors(sql, params, kind="write")
    assert [f.split(" ", 2)[:2] for f in found] == [[where, "FG068"]]
    assert message in found[0]


def test_allowed_functionally_dependent_column(compile_sql: Compile) -> None:
    """PostgreSQL accepts a column of a table whose primary key is grouped."""
    q = compile_sql("SELECT a.airport_id, a.name, COUNT(*) AS n FROM airport a JOIN flight f ON f.`from` = a.airport_id GROUP BY a.airport_id")
    assert [c.name for c in q.columns] == ["airport_id", "name", "n"]


def test_every_dialect_reparses(compile_sql: Compile) -> None:
    """render() parses each dialect's SQL back; a spot check that it really is SQL."""
    import sqlglot

    q: CompiledQuery = compile_sql("SELECT a.name FROM airport a WHERE a.name LIKE '%X%' AND a.airport_id = :id", {"id": "int"})
    for dialect, text in q.sql.items():
        assert sqlglot.parse_one(text.replace("%s", "1").replace("?", "1").replace("%%", "%"), read=dialect)


def test_a_spec_error_is_raised_not_returned(compile_sql: Compile) -> None:
    with pytest.raises(SpecError):
        compile_sql("SELECT YEAR(f.departure) AS y FROM flight f")
