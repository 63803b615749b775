"""The build proves each dialect's SQL on the real engine (EXPLAIN on an empty copy of the schema).

SQLite in memory always; MariaDB and PostgreSQL on the servers of
``test_databases``. A refusal is FG072 at the spec's SQL; a server that does
not answer is a warning, and fails the build under CI=true; ``--offline``
leaves the servers out and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.diagnostics import SpecError
from generator.model import DIALECTS, Dialect
from generator.schema import Catalog
from generator.sql.compile import compile_query
from generator.sql.prove import PROBE, Held, Proof, prove
from generator.sql.testing import make_spec
from tests.integration.conftest import require_server

ROOT = Path(__file__).resolve().parents[2]
MYSQL, POSTGRES = "mysql://root@127.0.0.1:3306", "postgresql://postgres@127.0.0.1:5432"
NOWHERE = "mysql://root@127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def servers() -> tuple[str, ...]:
    require_server("mysql")
    require_server("postgres")
    return (MYSQL, POSTGRES)


def held(sql: dict[Dialect, str]) -> Held:
    return Held(make_spec("SELECT a.iata FROM airport a"), {d: sql.get(d, "SELECT 1") for d in DIALECTS}, ())


def refusals(catalog: Catalog, statement: Held, proof: Proof) -> list[str]:
    with pytest.raises(SpecError) as info:
        prove([statement], catalog, proof)
    return [f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in info.value.diagnostics]


def test_sqlite_refuses_at_the_specs_sql_naming_the_dialect_and_its_message(catalog: Catalog) -> None:
    [found] = refusals(catalog, held({"sqlite": 'SELECT COUNT(DISTINCT "a"."iata", "a"."icao") FROM "airport" AS "a"'}), Proof())
    assert found.startswith("3:3 FG072 the sqlite SQL the build holds for this spec is refused by SQLite 3.")
    assert "wrong number of arguments to function COUNT()" in found and "flughafen-gen show t --dialect sqlite" in found


def test_each_server_refuses_what_it_cannot_run(catalog: Catalog, servers: tuple[str, ...]) -> None:
    bad = held({"postgres": 'SELECT CAST("a"."airport_id" AS UBIGINT) FROM "airport" AS "a"', "mysql": "SELECT `a`.`nope` FROM `airport` AS `a`"})
    found = refusals(catalog, bad, Proof(servers))
    assert len(found) == 2
    assert "the mysql SQL" in found[0] + found[1] and "Unknown column 'a.nope'" in found[0] + found[1]
    assert any("refused by PostgreSQL 15" in f and 'type "ubigint" does not exist' in f for f in found)


def test_every_parameter_type_is_bound_as_the_runtime_binds_it(catalog: Catalog, servers: tuple[str, ...]) -> None:
    params = {t: t for t in PROBE}
    sql = (
        "SELECT f.flight_id FROM flight f JOIN booking b ON b.flight_id = f.flight_id JOIN flightschedule s ON s.flightno = :str"
        " WHERE f.flight_id = :int AND b.price > :decimal AND b.price < :float AND s.monday = :bool"
        " AND f.departure > :date + INTERVAL 1 DAY AND f.arrival < :datetime AND s.departure <> :time"
        " ORDER BY f.flight_id LIMIT :int"
    )
    query = compile_query(make_spec(sql, {k: v if k != "str" else {"type": "str", "pattern": "^[A-Z0-9]+$"} for k, v in params.items()}), catalog)
    proof = Proof(servers)
    prove([Held(query.spec, query.sql, query.param_order)], catalog, proof)
    [line] = proof.report
    assert line.startswith("checked 1 statement(s) by EXPLAIN on SQLite") and "MariaDB" in line and "PostgreSQL" in line


def test_the_scratch_database_is_dropped(catalog: Catalog, servers: tuple[str, ...]) -> None:
    import pymysql

    prove([held({})], catalog, Proof(servers))
    conn = pymysql.connect(host="127.0.0.1", user="root")
    try:
        cur = conn.cursor()
        cur.execute("SHOW DATABASES LIKE %s", (f"flughafen_build_{os.getpid()}%",))
        assert cur.fetchall() == ()
    finally:
        conn.close()


# -------------------------------------------------------------- as a user runs it


def project(tmp_path: Path, servers: list[str]) -> Path:
    """A project with one spec and ``test_databases`` naming ``servers``."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "schema.sql").write_text((ROOT / "specs" / "schema.sql").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "specs" / "by_iata.yaml").write_text(
        'name: by_iata\nparams:\n  iata: {type: str, pattern: "^[A-Z]{3}$"}\nsql: SELECT a.name FROM airport a WHERE a.iata = :iata\n'
        'returns: one\ncache: {key: "a:{iata}", ttl: 1m}\n',
        encoding="utf-8",
    )
    listed = ", ".join(f'"{s}"' for s in ["sqlite://", *servers])
    (tmp_path / "pyproject.toml").write_text(f'[tool.flughafen]\npackage = "cachepkg"\ntest_databases = [{listed}]\n', encoding="utf-8")
    return tmp_path


def build(cwd: Path, *args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    return subprocess.run([sys.executable, "-m", "generator", "build", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_server_that_does_not_answer_is_a_warning_and_sqlite_is_still_checked(tmp_path: Path) -> None:
    result = build(project(tmp_path, [NOWHERE]), ci=False)
    assert result.returncode == 0, result.stderr
    assert "checked 1 statement(s) by EXPLAIN on SQLite" in result.stderr
    assert f"warning: {NOWHERE} (test_databases) did not answer: Can't connect" in result.stderr
    assert "its dialect's SQL is not proven on a server" in result.stderr
    assert (tmp_path / "cachepkg" / "by_iata.py").is_file()


def test_under_ci_a_server_that_does_not_answer_fails_the_build(tmp_path: Path) -> None:
    result = build(project(tmp_path, [NOWHERE]), ci=True)
    assert result.returncode == 3, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and f"{NOWHERE} (test_databases) did not answer" in error[0] and "build --offline" in error[0]
    assert not (tmp_path / "cachepkg").exists()


def test_offline_skips_the_servers_and_says_so(tmp_path: Path) -> None:
    result = build(project(tmp_path, [NOWHERE]), "--offline", ci=True)
    assert result.returncode == 0, result.stderr
    assert "checked 1 statement(s) by EXPLAIN on SQLite" in result.stderr
    assert f"offline: not proven on {NOWHERE} (build --offline)" in result.stderr
