"""The store kinds: how an entry is kept in Valkey (``cache.store`` of a spec).

Each kind is one module here: its codec (what the protocol reads, checks and
stores; the Lua it plugs into the protocol's scripts is in scripts.py), its
accessor class (what its generated module builds), and, if writes keep its
entries up to date in place, its write hook (what a write module passes to
WriteQuery). Adding a kind: a module, its Lua, a line in KINDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flughafen.stores import bitmap, hash, json, zset


@dataclass(frozen=True)
class StoreKind:
    name: str
    accessor: type[Any]
    codec: type[Any]
    write_param: str | None = None  # the WriteQuery argument that carries this kind's in-place updates
    write_hook: Callable[[tuple[Any, ...]], Any] | None = None  # makes WriteQuery's hook from that argument


KINDS: dict[str, StoreKind] = {
    kind.name: kind
    for kind in (
        StoreKind("json", json.ReadQuery, json.JsonCodec),
        StoreKind("hash", hash.HashQuery, hash.HashCodec, "refresh", hash.Refreshes),
        StoreKind("zset", zset.ZsetQuery, zset.ZsetCodec, "scores", zset.Moves),
        StoreKind("bitmap", bitmap.BitmapQuery, bitmap.BitmapCodec, "sets", bitmap.Maintains),
    )
}
