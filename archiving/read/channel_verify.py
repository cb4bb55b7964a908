"""The SMS, WhatsApp and email rules of the read checks: a record's name against its document, and (for
``verify``) a record's link to its media item.  The shared reading path (``read/verified.py``) applies
``name_problems`` to every channel record it reads; ``verify`` adds ``media_link_problem``.
"""

from __future__ import annotations

from typing import Any

from archiving.store import keys
from archiving.timefmt import epoch_ms, parse_time

_REPORT_TIME = "reported_at"


def media_link_problem(store: Any, doc: Any) -> str | None:
    """A record that links to a stored media item which is not in the archive (one existence check)."""
    media = doc.get("media") if isinstance(doc, dict) else None
    if isinstance(media, dict) and media.get("status") == "stored" and not store.exists(media["blob"]):
        return f"links to media {media['blob']}, which is not in the archive"
    return None


def _id_matches(message_id: Any, part: str | None, hash_key: bytes | None) -> bool:
    """The name part of a message id: the id of its documented shape, else its hash (``keys.name_id``);
    without the key that wrote it, any hash stands for an id not of the documented shape."""
    if not isinstance(message_id, str) or part is None:
        return False
    if hash_key is not None:
        return keys.name_id(message_id, hash_key) == part
    if keys.is_documented_id(message_id):
        return message_id == part
    return bool(keys.HASHED_ID.match(part))


def _status_matches(name: str, at_ms: int, status: str, hash_key: bytes | None) -> bool:
    token = keys.report_token(status, hash_key)
    if token == "s-":  # free text, no key: any hashed token
        import re

        return bool(re.match(rf"^{at_ms}-s-[0-9a-f]{{12}}(?:-|$)", name))
    expected = f"{at_ms}-{token}"
    return name == expected or name.startswith(expected + "-")


def name_problems(info: keys.ChannelKeyInfo, doc: dict[str, Any], hash_key: bytes | None = None) -> list[str]:
    """Where a document disagrees with its name (``hash_key``: the key that wrote it, when known)."""
    problems = []
    if doc.get("channel") != info.channel:
        problems.append(f"channel {doc.get('channel')!r} under {info.channel}/")
    if doc.get("conversation_id") != info.conversation:
        problems.append("conversation_id differs from the name")
    if not _id_matches(doc.get("message_id"), info.message_id, hash_key):
        problems.append("message_id differs from the name")
    kind = str(doc.get("kind"))
    if info.area == "message":
        if info.name == keys.OUTBOUND:
            return problems  # the business's own copy (issue 12): its schema says the rest
        if not kind.endswith("-message") or doc.get("action") != info.name:
            problems.append(f"name says {info.name!r}, document says {kind!r} {doc.get('action')!r}")
        at = doc.get("received_at")
    else:
        if kind.endswith("-message"):
            problems.append(f"kind {kind!r} under reports/")
        at = doc.get(_REPORT_TIME)
        status = doc.get("engagement") if kind == "email-engagement" else doc.get("status")
        if at and isinstance(status, str):
            at_ms = epoch_ms(parse_time(at, _REPORT_TIME))
            if not _status_matches(info.name, at_ms, status, hash_key):
                problems.append(f"name says {info.name!r}, document says {at_ms}-{keys.report_token(status, hash_key)}")
    if not at or at[:7].replace("-", "") != info.month:
        problems.append("the record's time is not in the month of the name")
    return problems
