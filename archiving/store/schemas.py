"""The JSON Schemas of the archive's documents (one per kind), shipped with the package."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).with_name("schemas")
# Chat kinds, then the kinds of the other channels (docs/archive-format.md, section 13).
CHANNEL_KINDS = ("sms-message", "sms-report", "whatsapp-message", "whatsapp-report", "email-report", "email-engagement")
# Records management (archiving.retention): holds, dispositions, rehydration requests.
RETENTION_KINDS = ("hold", "disposition", "rehydration")
# Calls (section 15).
CALL_KINDS = ("call-started", "call-ended", "call-participant", "call-incoming", "call-recording-announced",
              "call-recording")
KINDS = ("message", "thread", "transcript", "rejection", "ack") + CHANNEL_KINDS + CALL_KINDS + RETENTION_KINDS


@lru_cache(maxsize=None)
def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(kind: str):
    """A jsonschema validator with the sibling schemas registered, so $refs between them resolve."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (schema(k)["$id"], Resource.from_contents(schema(k))) for k in KINDS if (SCHEMA_DIR / f"{k}.schema.json").exists()
    )
    return Draft202012Validator(schema(kind), registry=registry)


@lru_cache(maxsize=None)
def fast_validator(kind: str):
    """A compiled validator of the same schema (jsonschema-rs), or None where it is not installed. Every read
    checks a schema: this is the fast path for valid documents (about a thousand times faster than
    ``iter_errors``); a document it refuses is checked again by ``jsonschema`` for the messages."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        registry = jsonschema_rs.Registry([(schema(k)["$id"], schema(k)) for k in KINDS
                                           if (SCHEMA_DIR / f"{k}.schema.json").exists()])
        return jsonschema_rs.validator_for(schema(kind), registry=registry, validate_formats=False)
    except Exception:  # noqa: BLE001 - a schema it cannot compile: jsonschema alone checks it
        return None


def errors(document: Any) -> list[str]:
    """What is wrong with an archive document, by its ``kind`` (or as a rejection)."""
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind not in ("message", "thread", "transcript", "ack") + CHANNEL_KINDS + CALL_KINDS + RETENTION_KINDS:
        kind = "rejection" if isinstance(document, dict) and "reason" in document else None
    if kind is None:
        return ["not an archive document (no known kind)"]
    fast = fast_validator(kind)
    if fast is not None and fast.is_valid(document):
        return []
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator(kind).iter_errors(document)]
