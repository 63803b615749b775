"""Store kinds on the build side: how a spec's entries are held in Valkey, one module per kind.

Each stage asks the spec's kind (``STORES[cache.store]``) instead of
testing ``store == ...``; see ``base.StoreKind`` for the hooks. Adding a
kind: a module here (its fields, checks, write plans, template name and
error codes), its template in templates/, its runtime in flughafen/, and a
line below.
"""

from __future__ import annotations

from generator.stores.base import StoreKind
from generator.stores.bitmap import BITMAP
from generator.stores.hash import HASH
from generator.stores.json import JSON
from generator.stores.zset import ZSET

# The registry, json (the default) first; a write module lists the kinds' plans in this order.
STORES: dict[str, StoreKind] = {kind.name: kind for kind in (JSON, HASH, ZSET, BITMAP)}
DEFAULT_STORE = JSON.name  # a spec without cache.store


def kind_of(store: str) -> StoreKind:
    """The kind named by a spec's ``cache.store`` (the spec stage accepted only these names)."""
    return STORES[store]
