"""The generated package named by ``[tool.flughafen]``, imported for the commands that call accessors.

``package = "myapp.cache"`` with ``out = "src/myapp/cache"`` is imported as
``myapp.cache`` with ``src`` first on ``sys.path``, so demo, explain, warm and
worker find the package ``build`` wrote, whether or not the project is installed.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from flughafen.settings import Settings


class NotBuilt(Exception):
    """The configured package (or an accessor in it) is not there: the message says what to run."""


def package(settings: Settings) -> ModuleType:
    root = str(settings.import_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(settings.package)
    except ModuleNotFoundError as e:
        if e.name is None or not (settings.package + ".").startswith(e.name + "."):
            raise  # the package is there, something it imports is not: show that
        raise NotBuilt(
            f"no package {settings.package!r} in {settings.shown(settings.out)}/; run: flughafen-gen build (it writes there, see {settings.source})"
        ) from None


def module(settings: Settings, name: str) -> ModuleType:
    """One accessor or write module of the package."""
    found = package(settings)
    names = (*getattr(found, "__all__", ()), *getattr(found, "WRITES", ()))
    if name not in names:
        raise NotBuilt(f"{settings.package} has no accessor named {name!r}; run flughafen-gen build after adding its spec")
    return importlib.import_module(f"{settings.package}.{name}")


def read_modules(settings: Settings) -> list[ModuleType]:
    """Every read accessor, in the package's order."""
    return [importlib.import_module(f"{settings.package}.{name}") for name in getattr(package(settings), "__all__", ())]


def write_modules(settings: Settings) -> list[ModuleType]:
    """Every write module (``write: through`` and ``write: behind``)."""
    return [importlib.import_module(f"{settings.package}.{name}") for name in getattr(package(settings), "WRITES", ())]
