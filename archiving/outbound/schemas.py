"""The JSON Schema of outbound records (archiving/outbound/schemas/outbound.schema.json), and a validator."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("schemas") / "outbound.schema.json"


@lru_cache(maxsize=None)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def errors(document: Any) -> list[str]:
    """What is wrong with an outbound document (the $def of its kind)."""
    kinds = {"outbound-message": "message", "outbound-sent": "sent", "outbound-failed": "failed",
             "outbound-not-archived-before-send": "not_archived", "outbound-link": "link", "outbound-index": "index"}
    kind = kinds.get(document.get("kind")) if isinstance(document, dict) else None
    if kind is None:
        return ["not an outbound document (no known kind)"]
    sub = {"$ref": f"#/$defs/{kind}", "$defs": schema()["$defs"]}
    from jsonschema import Draft202012Validator

    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft202012Validator(sub).iter_errors(document)]
