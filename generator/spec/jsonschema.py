"""The JSON Schema (draft 2020-12) of the spec format, made from the tables validate.py uses.

    python -m generator.spec.jsonschema          # writes schema/spec.schema.json

Editors that read JSON Schema (VS Code's YAML extension, for one) then
complete and check specs as they are typed. The build's own validation is
stricter (positions, templates against params, SQL against the schema).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from generator.spec.fields import BITMAP_FIELDS, CACHE_FIELDS, COLUMN_FIELDS, DOCS, MAINTAIN_FIELDS, MOVE_FIELDS, PARAM_FIELDS, SPEC_FIELDS, TRIGGER_FIELDS

OUT = Path(__file__).resolve().parents[2] / "schema" / "spec.schema.json"
DURATION = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\s*(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)\s*$"}]}
TEMPLATE = {"type": "string", "minLength": 1}


def _field(name: str, allowed: tuple[str, ...], shape: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = dict(shape or ({"enum": list(allowed)} if allowed else {"type": "string"}))
    if name in DOCS:
        out["description"] = DOCS[name]
    return out


def _object(fields: dict[str, tuple[str, ...]], shapes: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
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
    maintain = _object(
        MAINTAIN_FIELDS,
        {
            "param_columns": {"type": "object", "additionalProperties": {"type": "string"}},
            "counters": {"type": "object", "additionalProperties": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "integer", "not": {"const": 0}}}},
        },
        ["table"],
    )
    bitmap = _object(BITMAP_FIELDS, {"seats": {"type": "string", "pattern": "^[A-Z]{1,26}$"}, "maintain": maintain}, ["member"])
    cache = _object(
        CACHE_FIELDS,
        {
            "bitmap": bitmap,
            "key": TEMPLATE,
            "ttl": DURATION,
            "negative_ttl": DURATION,
            "near": DURATION,
            "near_size": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            "jitter": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 0.5}, {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}]},
            "tags": {"type": "array", "items": TEMPLATE},
        },
        ["key", "ttl"],
    )
    moves = _object(MOVE_FIELDS, {"by": {"type": "number", "not": {"const": 0}}}, ["column"])
    trigger = _object(TRIGGER_FIELDS, {"tags": {"type": "array", "items": TEMPLATE}, "all": {"type": "boolean"}, "moves": moves}, ["table"])
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
            {"if": {"properties": {"kind": {"const": "write"}}, "required": ["kind"]}, "then": {"required": ["write"], "not": {"required": ["cache"]}}, "else": {"required": ["cache"]}}
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
