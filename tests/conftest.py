"""What every test session checks: no test leaves a project's embedded Valkey running.

A test that starts one (a command or a runtime with ``cache_url = "embedded"`` in a
temporary project) stops it in a fixture's finalizer. This check is the backstop: at
the end of the session it stops any server still running for a project in pytest's
temporary folder, or for this repository (unless one ran there before the session),
and fails, naming them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from flughafen import embedded

# Property tests check rules, never speed: no per-example deadline on a shared, busy machine (speed is in bench/).
settings.register_profile("flughafen", deadline=None)
settings.load_profile("flughafen")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def no_embedded_server_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    running_before = embedded.status(ROOT) is not None  # a developer's own, from `flughafen-gen demo`: left alone
    yield
    base = tmp_path_factory.getbasetemp()
    projects = [conf.parents[2] for conf in base.glob(f"**/{embedded.FOLDER}/valkey.conf")]
    if not running_before:
        projects.append(ROOT)
    left = [project for project in projects if embedded.stop(project) is not None]
    assert not left, f"tests left the embedded Valkey of these projects running (stopped now): {', '.join(map(str, left))}"


@pytest.fixture
def embedded_project(tmp_path: Path) -> Iterator[Path]:
    """A folder for a project whose embedded Valkey the test may start: stopped after the test, passed or failed."""
    project = tmp_path / "project"
    project.mkdir()
    yield project
    embedded.stop(project)
