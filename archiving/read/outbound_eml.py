"""Outbound email in a review export: each email the business sent (archived before send) as an RFC 5322
``.eml`` file with its attachments, listed in the RSMF export manifest with its sha256 and source blob.

Only the emails of the range are read: a tag query on ``channel`` = email and ``at`` (the time the record
was archived, just before the send). Attachments come from ``outbound/attachments/<sha256>.lz4`` and are
checked (lz4 frame, sha256 = name = the record's) before they go in; a damaged one is named in the
findings and its email is written without it, with a header saying so.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from archiving.read.scan import WORKERS, find_names, in_range
from archiving.read.verified import Damage, Findings, check, read_verified


def _address(party: Mapping[str, Any]) -> str:
    from email.headerregistry import Address

    address = str(party.get("address") or "")
    name = party.get("display_name") or ""
    try:
        return str(Address(display_name=name, addr_spec=address))
    except Exception:  # noqa: BLE001 - an address the email package refuses: kept as text
        return address


def _date(stamp: str) -> str:
    from datetime import datetime

    return format_datetime(datetime.fromisoformat(stamp.replace("Z", "+00:00")), usegmt=True)


def build_eml(doc: Mapping[str, Any], attachments: list[tuple[Mapping[str, Any], bytes | None]], outcome: str | None,
              source: str, source_sha256: str) -> bytes:
    """The email as sent (RFC 5322, MIME), with headers naming its archive record."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(doc.get("sender") or {})
    for role, header in (("to", "To"), ("cc", "Cc")):
        people = [_address(p) for p in doc.get("recipients") or [] if p.get("role") == role]
        if people:
            msg[header] = ", ".join(people)
    bcc = [_address(p) for p in doc.get("recipients") or [] if p.get("role") == "bcc"]
    if bcc:  # kept: a review copy must say who received it
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = str(doc.get("subject") or "")
    msg["Date"] = _date(doc["archived_at"])
    msg["Message-ID"] = f"<{doc['archive_id']}@archive.invalid>"
    msg["X-Archive-Id"] = str(doc["archive_id"])
    msg["X-Archive-Source"] = source
    msg["X-Archive-Source-SHA256"] = source_sha256
    msg["X-Archive-Send-Outcome"] = outcome or "outcome unknown"
    body = doc.get("body") or {}
    text, html = body.get("text"), body.get("html")
    msg.set_content(text if text is not None else "")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for meta, data in attachments:
        if data is None:
            msg["X-Archive-Missing-Attachment"] = f"{meta.get('name')} sha256={meta.get('sha256')}"
            continue
        maintype, _, subtype = str(meta.get("content_type") or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=str(meta.get("name") or meta.get("sha256")))
    return msg.as_bytes()


def _attachment(store: Any, meta: Mapping[str, Any], findings: Findings) -> bytes | None:
    import lz4.frame
    from azure.core.exceptions import ResourceNotFoundError

    name = meta.get("blob")
    if not name:
        return None
    try:
        data, metadata = store.read_raw(name)
    except ResourceNotFoundError:
        findings.add(name, "unreadable: the attachment the record names does not exist")
        return None
    result = check(name, data, metadata)
    if isinstance(result, Damage):
        findings.add(result.name, result.reason)
        return None
    if result.sha256 != meta.get("sha256"):
        findings.add(name, "corrupt: sha256 of the attachment differs from the record's")
        return None
    return lz4.frame.decompress(data)


def export_emails(store: Any, out: Path, start: str, end: str, findings: Findings, only: str | None = None,
                  workers: int = WORKERS) -> list[dict[str, Any]]:
    """Write the range's outbound emails as .eml files into ``out``; their manifest entries."""
    from archiving.read.conversations import _tag_query, outbound_conversation, split_outbound

    names = list(find_names(store, _tag_query(channel="email", conversation=only, start=start, end=end)))
    _, outbound = split_outbound(store, names)
    entries = []
    for blob in read_verified(store, outbound.message_names(), findings, workers, check_tags=False):
        doc = blob.document
        if not in_range(doc.get("archived_at"), start, end):
            continue
        outcome, late = outbound.status("email", doc["archive_id"])
        outcome = f"{outcome}, not archived before send" if late else outcome
        attachments = [(a, _attachment(store, a, findings)) for a in doc.get("attachments") or []]
        data = build_eml(doc, attachments, outcome, blob.name, blob.sha256)
        stem = re.sub(r"[^0-9a-f-]", "", doc["archive_id"])
        path = out / f"email_{doc['archived_at'][:10]}_{stem}.eml"
        path.write_bytes(data)
        entries.append({"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                        "format": "eml", "channel": "email", "direction": "outbound",
                        "conversation": outbound_conversation(doc), "archive_id": doc["archive_id"],
                        "outcome": outcome, "at": doc["archived_at"], "source": blob.name,
                        "source_sha256": blob.sha256,
                        "attachments": sum(1 for _, d in attachments if d is not None)})
    return entries
