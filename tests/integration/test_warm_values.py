"""warm reads parameter values as their types say, from a file or from any database's rows."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from flughafen import Param, Runtime
from generated import flight_search
from generator.cli import main
from generator.commands.warm import WarmInputError, _typed

ROOT = Path(__file__).resolve().parents[2]


def test_warm_from_query_reads_date_columns_on_every_database(runtime: Runtime) -> None:
    # MariaDB and PostgreSQL return a DATE column as datetime.date (SQLite as text).
    day = "'2024-12-15'" if runtime.dialect == "sqlite" else "CAST('2024-12-15' AS DATE)"
    sql = f"SELECT 'JFK' AS origin, 'LAX' AS destination, {day} AS day"
    cache = runtime.config.cache_url.raw
    assert main(["warm", "flight_search", "--from-query", sql, "--database", runtime.config.database_url.raw, "--cache", cache]) == 0
    assert runtime.cache.client.exists(flight_search.key(origin="JFK", destination="LAX", day=datetime.date(2024, 12, 15), runtime=runtime))


QUERY = SimpleNamespace(name="q", params=(Param("flag", "bool"), Param("n", "int"), Param("at", "time"), Param("d", "date"), Param("x", "decimal")))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"flag": "false", "n": 3}, (False, 3, None, None, None)),
        ({"flag": "TRUE", "n": "4"}, (True, 4, None, None, None)),
        ({"flag": 0, "n": 5.0}, (False, 5, None, None, None)),
        ({"at": datetime.timedelta(hours=7, minutes=5)}, (None, None, datetime.time(7, 5), None, None)),
        ({"d": datetime.datetime(2024, 12, 15)}, (None, None, None, datetime.date(2024, 12, 15), None)),
        ({"x": 1.5, "d": "2024-12-15"}, (None, None, None, datetime.date(2024, 12, 15), Decimal("1.5"))),
    ],
)
def test_values_are_read_by_type_not_by_truthiness(values: dict[str, object], expected: tuple[object, ...]) -> None:
    assert _typed(QUERY, values, "line 1") == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"flag": "no"}, "line 1: parameter 'flag' (bool): 'no' is not a bool"),
        ({"n": 2.5}, "line 1: parameter 'n' (int): 2.5 is not an integer"),
        ({"n": True}, "line 1: parameter 'n' (int): True is not an integer"),
        ({"d": datetime.datetime(2024, 12, 15, 10, 30)}, "is a date and time, not a date"),
        ({"flg": True}, "line 1: 'flg' is not a parameter of q"),
    ],
)
def test_a_wrong_value_names_its_line_and_parameter(values: dict[str, object], message: str) -> None:
    with pytest.raises(WarmInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _typed(QUERY, values, "line 1")


def test_a_bad_params_file_is_one_line_with_exit_2(tmp_path: Path) -> None:
    params = tmp_path / "params.jsonl"
    params.write_text(
        json.dumps({"origin": "JFK", "destination": "LAX", "day": "2024-12-15"}) + "\n" + '{"origin": "JFK", "destination": "LAX", "day": "tomorrow"}\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator.cli",
            "warm",
            "flight_search",
            "--params",
            str(params),
            "--database",
            f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "--cache",
            "embedded",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {params}:2: parameter 'day' (date): Invalid isoformat string: 'tomorrow'"
