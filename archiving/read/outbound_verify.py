"""The outbound rules of the read checks (docs/outbound.md, "Layout"): a record's document against its
JSON Schema, its name and its index tags. ``read/verified.py`` applies them to every blob under
``outbound/`` it reads (attachments are checked there, by content hash = name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FILE_KIND = {"message.json.lz4": "outbound-message", "sent.json.lz4": "outbound-sent",
              "not-archived-before-send.json.lz4": "outbound-not-archived-before-send"}


def document_problems(name: str, doc: Any) -> list[str]:
    """Schema, then where the document disagrees with its name."""
    from archiving.outbound import layout
    from archiving.outbound.schemas import errors

    found = errors(doc)
    if found:
        return ["schema: " + "; ".join(found[:3])]
    problems = []
    if name.startswith(f"{layout.ROOT}by-acs-id/"):
        parts = name.split("/")
        if doc["kind"] != layout.LINK or parts[2] != doc["channel"]:
            problems.append(f"name says an {parts[2]} link, document says {doc['channel']} {doc['kind']}")
        return problems
    parsed = layout.parse_name(name)
    if parsed is None:
        return ["not an archive blob name (see docs/outbound.md)"]
    channel, archive_id, file = parsed
    if doc["channel"] != channel or doc["archive_id"] != archive_id:
        problems.append("channel or archive_id differs from the name")
    want = layout.INDEX if file == "index" else (layout.FAILED if file.startswith("failed-") else _FILE_KIND.get(file))
    if doc["kind"] != want:
        problems.append(f"kind {doc['kind']!r} under the name {file!r}")
    if file == "index" and f"/{doc.get('conversation_id')}/" not in name:
        problems.append("conversation_id differs from the name")
    return problems


def tag_problems(doc: Mapping[str, Any], tags: Mapping[str, str] | None) -> list[str]:
    """Missing or contradicting index tags: ``kind``, ``channel``, ``at``; and on SMS, WhatsApp and email
    messages the ``conversation`` of the first recipient (missing on records written before issue 19:
    ``outbound index`` adds it)."""
    from archiving.outbound import layout

    if not tags:
        return ["no blob index tags: tag searches (show, export, find) miss this blob"]
    problems = []
    for name, want in (("kind", doc.get("kind")), ("channel", doc.get("channel"))):
        if tags.get(name) != want:
            problems.append(f"tag {name} is {tags.get(name)!r}, the document says {want!r}")
    if not tags.get("at"):
        problems.append("tag at is missing")
    if doc.get("kind") == layout.MESSAGE:
        found = layout.conversation_tags(doc.get("channel"), (doc.get("sender") or {}).get("hash"),
                                         doc.get("recipients") or [])
        if found and tags.get("conversation") != found[0][0]:
            problems.append("tag conversation is missing or wrong: show and find miss this message "
                            "(python -m archiving outbound index)")
    return problems


def link_problem(store: Any, doc: Any) -> str | None:
    """An outbound message whose attachment blob is gone, or a link / index / outcome whose message record is
    not in the archive (one existence check each)."""
    if not isinstance(doc, Mapping) or not str(doc.get("kind") or "").startswith("outbound-"):
        return None
    for a in doc.get("attachments") or []:
        if isinstance(a, Mapping) and a.get("blob") and not store.exists(a["blob"]):
            return f"links to attachment {a['blob']}, which is not in the archive"
    key = doc.get("message_key")
    if key and not store.exists(key):
        return f"names the message record {key}, which is not in the archive"
    return None
