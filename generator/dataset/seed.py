"""The FlughafenDB data as a seed function: ``seed = "generator.dataset.seed:tiny"`` in [tool.flughafen].

This repository's generated tests and its demo run the specs' examples on
these rows (see README.md, "Configuration").
"""

from __future__ import annotations

from flughafen.runtime import Runtime
from generator.databases import url_text
from generator.dataset.load import load


def tiny(runtime: Runtime) -> None:
    """The ``tiny`` data set (about a second to load): the tables are made again, then filled."""
    load(url_text(runtime.config.database_url), "tiny", progress=False)
