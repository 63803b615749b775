"""The template context of ``store: bitmap`` accessors, and of the set updates in write modules."""

from __future__ import annotations

from generator.stores.bitmap import SetPlan, Source
from generator.model import CompiledQuery, Field, Literal_, Param, Template


def bitmap_context(q: CompiledQuery, base: dict[str, object]) -> dict[str, object]:
    """``base`` (emit.module_context) plus what the bitmap templates use."""
    assert q.spec.cache is not None and q.spec.cache.bitmap is not None
    bitmap = q.spec.cache.bitmap
    member = "str" if bitmap.seats is not None else "int"
    signature = str(base["signature_rt"]).replace("runtime:", f"{bitmap.member}: {member}, runtime:", 1)
    counters = [c.spec for c in bitmap.maintain.counters] if bitmap.maintain else []
    return {
        **base,
        "bitmap": bitmap,
        "member_annotation": member,
        "member_signature_rt": signature,
        "counters": counters,
    }


def _key(t: Template, params: tuple[Param, ...], order: tuple[int, ...] | None = None) -> str:
    """A key template as the runtime tuple; ``order`` maps a parameter to its index among the set's arguments."""
    parts = []
    for part in t.parts:
        if isinstance(part, Literal_):
            parts.append(repr(part.text))
        elif isinstance(part, Field):
            index = [p.name for p in params].index(part.name)
            parts.append(str(order[index] if order is not None else index))
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _source(s: Source, index: dict[str, int]) -> str:
    return str(index[s[1]]) if s[0] == "param" else f"row_field({s[1]!r})"


def set_updates(plans: tuple[SetPlan, ...], params: tuple[Param, ...]) -> list[str]:
    """``SetUpdate(...)`` expressions, one per set the write keeps up to date."""
    index = {p.name: i for i, p in enumerate(params)}
    out = []
    for plan in plans:
        spec = plan.spec
        assert spec.cache is not None and spec.cache.bitmap is not None
        counters = [
            f"Counter(name={c.spec.name!r}, version={c.version!r}, "
            f"key={_key(c.spec.cache.key, c.spec.params, c.params)}, fields={c.fields!r})"  # type: ignore[union-attr]
            for c in plan.counters
        ]
        args = ", ".join(_source(s, index) for s in plan.args)
        types = ", ".join(repr(p.type) for p in spec.params)
        out.append(
            f"SetUpdate(name={spec.name!r}, version={plan.version!r}, key={_key(spec.cache.key, spec.params)}, "
            f"args=({args}{',' if len(plan.args) == 1 else ''}), arg_types=({types}{',' if len(spec.params) == 1 else ''}), "
            f"member={_source(plan.member, index)}, seats={spec.cache.bitmap.seats!r}, op={plan.op!r}, "
            f"counters=({', '.join(counters)}{',' if len(counters) == 1 else ''}))"
        )
    return out
