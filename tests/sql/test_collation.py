"""``collation = "mariadb"``: text compared case-insensitively on every database; accents refused (sql.collation)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flughafen.config import ConfigError
from generator.diagnostics import SpecError
from generator.model import CompiledQuery
from generator.schema import Catalog
from generator.sql.collation import ascii_pattern, project_collation
from generator.sql.compile import compile_query
from generator.sql.testing import make_spec

ROOT = Path(__file__).resolve().parents[2]


def build(catalog: Catalog, sql: str, params: dict[str, object] | None = None, mode: str | None = "mariadb") -> CompiledQuery:
    return compile_query(replace(make_spec(sql, params), collation=mode), catalog)  # type: ignore[arg-type]


def refusals(catalog: Catalog, sql: str, params: dict[str, object] | None = None, mode: str | None = "mariadb") -> list[str]:
    with pytest.raises(SpecError) as info:
        build(catalog, sql, params, mode)
    return [d.message for d in info.value.diagnostics]


def where(q: CompiledQuery, dialect: str) -> str:
    return " ".join(q.sql[dialect].split("WHERE", 1)[1].split())  # type: ignore[index]


def test_without_the_setting_a_literal_in_another_case_is_refused_and_the_message_names_the_setting(catalog: Catalog) -> None:
    [message] = refusals(catalog, "SELECT g.city AS city FROM airport_geo g WHERE g.country = 'Germany'", mode=None)
    assert "write UPPER(g.country) = 'GERMANY'" in message
    assert 'set collation = "mariadb" in [tool.flughafen]' in message


def test_a_literal_in_another_case_is_lowered_on_postgres_and_nocase_on_sqlite(catalog: Catalog) -> None:
    q = build(catalog, "SELECT g.city AS city FROM airport_geo g WHERE g.country = 'Germany'")
    assert where(q, "mysql") == "`g`.`country` = 'Germany'"
    assert where(q, "postgres") == 'LOWER("g"."country") = \'germany\''
    assert where(q, "sqlite") == '"g"."country" COLLATE NOCASE = \'Germany\''


def test_in_a_list_and_in_a_subquery_of_another_column(catalog: Catalog) -> None:
    q = build(
        catalog,
        "SELECT pd.passenger_id AS id FROM passengerdetails pd WHERE pd.country IN (SELECT g.country FROM airport_geo g WHERE g.city = 'BERLIN') "
        "AND pd.country IN ('germany', 'FRANCE')",
    )
    assert 'LOWER("pd"."country") IN ( SELECT LOWER("g"."country") AS "country"' in where(q, "postgres")
    assert "LOWER(\"pd\".\"country\") IN ('germany', 'france')" in where(q, "postgres")
    assert '"pd"."country" COLLATE NOCASE IN ( SELECT "g"."country"' in where(q, "sqlite")
    assert '"g"."city" = \'BERLIN\'' in where(q, "postgres")  # an upper-case literal keeps its index


def test_a_parameter_needs_a_pattern_of_ascii_characters(catalog: Catalog) -> None:
    sql = "SELECT g.city AS city FROM airport_geo g WHERE g.country = :c"
    [message] = refusals(catalog, sql, {"c": "str"})
    assert "give :c a pattern of ASCII characters" in message
    q = build(catalog, sql, {"c": {"type": "str", "pattern": "^[A-Za-z .-]+$"}})
    assert where(q, "postgres") == 'LOWER("g"."country") = LOWER(%s)'
    assert where(q, "sqlite") == '"g"."country" COLLATE NOCASE = ?'


@pytest.mark.parametrize("mode", [None, "mariadb"])
@pytest.mark.parametrize(
    ("sql", "like"),
    [
        ("SELECT g.airport_id AS id FROM airport_geo g WHERE g.city = 'KÖLN'", "'K_LN'"),
        ("SELECT g.airport_id AS id FROM airport_geo g WHERE g.city IN ('BERLIN', 'MÜNCHEN')", "'M_NCHEN'"),
        ("SELECT g.airport_id AS id FROM airport_geo g WHERE g.city LIKE 'Zürich%'", "'Z_rich%'"),
    ],
)
def test_a_literal_with_accented_letters_is_refused_with_a_like_that_builds(catalog: Catalog, mode: str | None, sql: str, like: str) -> None:
    [message] = refusals(catalog, sql, mode=mode)
    assert "MariaDB's collation also matches it without accents" in message and f"write each such letter as _ in a LIKE ({like})" in message
    rewritten = f"SELECT g.airport_id AS id FROM airport_geo g WHERE g.city LIKE {like}"
    assert build(catalog, rewritten, mode=mode).sql["postgres"].count("ILIKE") == 1


@given(st.text(alphabet="AZaz09 .-_", min_size=1, max_size=12))
def test_a_class_of_ascii_characters_admits_ascii_only(chars: str) -> None:
    escaped = "".join("\\" + c if c in "-]\\^" else c for c in chars)
    assert ascii_pattern(f"^[{escaped}]+$")
    assert not ascii_pattern(f"^[{escaped}]+.$") and not ascii_pattern(f"^[^{escaped}]+$")


def test_the_setting_is_read_from_the_project_of_the_specs(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    assert project_collation(specs) is None
    (tmp_path / "flughafen.toml").write_text('collation = "mariadb"\n', encoding="utf-8")
    assert project_collation(specs) == "mariadb"
    (tmp_path / "flughafen.toml").write_text('collation = "nocase"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"flughafen.toml: collation = 'nocase' is not known; write collation = \"mariadb\""):
        project_collation(specs)


SPEC = """name: by_country
params:
  country: {type: str, pattern: "^[A-Za-z ]+$"}
sql: |
  SELECT g.airport_id FROM airport_geo g WHERE g.country = :country
cache:
  key: "by_country:{country}"
  ttl: 1m
"""


@pytest.mark.parametrize(
    ("toml", "status", "said"),
    [
        ('collation = "mariadb"\n', 0, "1 accessor module(s)"),
        ("", 2, 'set collation = "mariadb" in [tool.flughafen]'),
        ('collation = "MariaDB"\n', 3, "collation = 'MariaDB' is not known"),
    ],
)
def test_build_in_a_project_with_and_without_the_setting(tmp_path: Path, toml: str, status: int, said: str) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "by_country.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "specs" / "schema.sql").write_text((ROOT / "specs" / "schema.sql").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "flughafen.toml").write_text(toml + 'package = "app"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "generator.cli", "build", "--offline"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == status, run.stderr
    assert said in run.stdout + run.stderr
