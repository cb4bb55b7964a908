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


def name_problems(info: keys.ChannelKeyInfo, doc: dict[str, Any]) -> list[str]:
    """Where a document disagrees with its name."""
    problems = []
    if doc.get("channel") != info.channel:
        problems.append(f"channel {doc.get('channel')!r} under {info.channel}/")
    if doc.get("conversation_id") != info.conversation:
        problems.append("conversation_id differs from the name")
    if doc.get("message_id") != info.message_id:
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
            expected = f"{epoch_ms(parse_time(at, _REPORT_TIME))}-{keys.report_token(status)}"
            if not (info.name == expected or info.name.startswith(expected + "-")):
                problems.append(f"name says {info.name!r}, document says {expected!r}")
    if not at or at[:7].replace("-", "") != info.month:
        problems.append("the record's time is not in the month of the name")
    return problems
