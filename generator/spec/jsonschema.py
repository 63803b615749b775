"""The JSON Schema (draft 2020-12) of the spec format, made from the tables validate.py uses.

    python -m generator.spec.jsonschema          # writes schema/spec.schema.json

Editors that read JSON Schema (VS Code's YAML extension, for one) then
complete and check specs as they are typed. The build's own validation is
stricter (positions, templates against params, SQL against the schema).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.spec.fields import CACHE_FIELDS, COLUMN_FIELDS, DOCS, PARAM_FIELDS, SPEC_FIELDS, TRIGGER_FIELDS
from generator.stores import STORES
from generator.stores.base import DURATION, OwnField

OUT = Path(__file__).resolve().parents[2] / "schema" / "spec.schema.json"
TEMPLATE = {"type": "string", "minLength": 1}


def _field(name: str, allowed: tuple[str, ...], shape: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = dict(shape or ({"enum": list(allowed)} if allowed else {"type": "string"}))
    if name in DOCS:
        out["description"] = DOCS[name]
    return out


def _own(own: OwnField) -> dict[str, Any]:
    """A store kind's own field: its schema and its description."""
    return {**own.schema, "description": own.doc}


def _object(fields: dict[str, tuple[str, ...]], shapes: Mapping[str, Mapping[str, Any]], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {name: _field(name, allowed, shapes.get(name)) for name, allowed in sorted(fields.items())},
    }


def schema() -> dict[str, Any]:
    param_type = {"enum": list(PARAM_FIELDS["type"])}
    param = {"oneOf": [param_type, _object(PARAM_FIELDS, {"nullable": {"type": "boolean"}}, ["type"])]}
    column = {"oneOf": [param_type, _object(COLUMN_FIELDS, {"nullable": {"type": "boolean"}}, [])]}
    cache = _object(
        CACHE_FIELDS,
        {
            "key": TEMPLATE,
            "ttl": DURATION,
            "negative_ttl": DURATION,
            "replica_reads": DURATION,
            **{name: _own(own) for kind in STORES.values() for name, own in kind.cache_fields.items()},
            "jitter": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 0.5}, {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}]},
            "tags": {"type": "array", "items": TEMPLATE},
        },
        ["key", "ttl"],
    )
    own_triggers = {name: _own(own) for kind in STORES.values() for name, own in kind.trigger_fields.items()}
    trigger = _object(TRIGGER_FIELDS, {"tags": {"type": "array", "items": TEMPLATE}, "all": {"type": "boolean"}, **own_triggers}, ["table"])
    spec = _object(
        SPEC_FIELDS,
        {
            "name": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$"},
            "params": {"type": "object", "propertyNames": {"pattern": r"^[a-z_][a-z0-9_]*$"}, "additionalProperties": param},
            "sql": {"type": "string", "minLength": 1},
            "columns": {"type": "object", "additionalProperties": column},
            "cache": cache,
            "invalidate": {"type": "array", "items": trigger},
            "examples": {"type": "array", "items": {"type": "object"}},
            "lookup": {"type": "boolean"},
        },
        ["name", "sql"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://flughafen-gen.dev/spec.schema.json",
        "title": "flughafen-gen spec",
        "description": "One query (kind: read, cached) or one write (kind: write) per YAML file.",
        **spec,
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "write"}}, "required": ["kind"]},
                "then": {"required": ["write"], "not": {"required": ["cache"]}},
                "else": {"required": ["cache"]},
            }
        ],
    }


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(), encoding="utf-8", newline="\n")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
