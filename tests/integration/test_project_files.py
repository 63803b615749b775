"""The configuration files a project may have, and what a user sees when the SQLite database is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flughafen.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(ROOT / ".venv" / "bin" / "flughafen-gen")
SCRIPT = """
from generated import airport_by_iata
row = airport_by_iata.fetch(iata="JFK")
print(row.name if row else None)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUGHAFEN_")}
    env["PYTHONPATH"] = str(ROOT)  # the generated package; the project's own files are in tmp_path
    return env


def _project(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / name).write_text(text)
    (project / "scripts" / "run.py").write_text(SCRIPT)
    return project


def test_a_missing_sqlite_database_is_named_with_how_to_fill_it(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.flughafen]\ndatabase_url = "sqlite:///data/app.sqlite3"\ncache_url = "off"\n')
    run = [sys.executable, "run.py"]
    done = subprocess.run(run, cwd=project / "scripts", env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    expected = project / "data" / "app.sqlite3"  # resolved from the configuration file's folder, not the cwd
    assert last == (
        f"flughafen.db.QueryError: airport_by_iata: the SQLite database {expected} has no table 'airport': "
        "fill it with `flughafen-gen db load --scale tiny`, or the project's seed"
    )
    assert not (project / "scripts" / "data").exists()
    # Doing what it says works.
    loaded = subprocess.run([COMMAND, "db", "load", "--scale", "tiny"], cwd=project, env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert loaded.returncode == 0, loaded.stderr
    done = subprocess.run(run, cwd=project / "scripts", env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KENNEDY INTL"


def test_a_flughafen_toml_with_a_tool_flughafen_table_is_read(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.flughafen]\ndatabase_url = "sqlite:///db.sqlite3"\ncache_url = "off"\ncache_namespace = "shop"\n', "flughafen.toml")
    config = load_config(project_dir=project)
    assert (config.database_url.path, config.cache_url.off, config.namespace) == (str(project / "db.sqlite3"), True, "shop")
    assert config.source == f"{project / 'flughafen.toml'} [tool.flughafen]"
    # The same through a command, run from a folder below the project's.
    done = subprocess.run(
        [COMMAND, "show", "airport_by_iata", "--dialect", "sqlite"],
        cwd=project / "scripts",
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "unknown key 'tool'" not in done.stderr


def test_a_flughafen_toml_mixing_the_table_and_top_level_keys_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, 'cache_url = "off"\n[tool.flughafen]\ndatabase_url = "sqlite:///db.sqlite3"\n', "flughafen.toml")
    with pytest.raises(ConfigError, match=r"flughafen.toml: 'cache_url' is outside \[tool.flughafen\]; put every setting in that table, or none of them"):
        load_config(project_dir=project)
    (project / "flughafen.toml").write_text('[tool.flughafen]\ndatabse_url = "sqlite:///db.sqlite3"\n')
    with pytest.raises(ConfigError, match=r"flughafen.toml \[tool.flughafen\]: unknown key 'databse_url'; did you mean 'database_url'"):
        load_config(project_dir=project)
