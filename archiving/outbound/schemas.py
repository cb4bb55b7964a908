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
    fast = _fast(kind)
    if fast is not None and fast.is_valid(document):  # the fast path (archiving.store.schemas.fast_validator)
        return []
    sub = {"$ref": f"#/$defs/{kind}", "$defs": schema()["$defs"]}
    from jsonschema import Draft202012Validator

    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft202012Validator(sub).iter_errors(document)]


@lru_cache(maxsize=None)
def _fast(kind: str):
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                            "$ref": f"#/$defs/{kind}", "$defs": schema()["$defs"]},
                                           validate_formats=False)
    except Exception:  # noqa: BLE001 - a schema it cannot compile: jsonschema alone checks it
        return None
