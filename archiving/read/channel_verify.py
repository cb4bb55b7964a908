"""``verify`` for SMS, WhatsApp and email blobs: records (schema, name rules) and media (sha256 = name).

Called by ``read/verify.py`` for every name under ``sms/``, ``whatsapp/`` and ``email/``; problems are
the same three kinds (corrupt, unreadable, invalid).
"""

from __future__ import annotations

import hashlib
from typing import Any

from archiving.store import keys, schemas
from archiving.timefmt import epoch_ms, parse_time

_REPORT_TIME = "reported_at"


def check_channel_blob(store: Any, name: str) -> Any:
    import lz4.frame
    import orjson

    from archiving.read.verify import CORRUPT, INVALID, MAX_ERRORS, UNREADABLE, Finding, _download

    info = keys.parse_channel_key(name)
    if info is None:
        return Finding(name, INVALID, "not an archive blob name (see docs/archive-format.md, section 13)")
    downloader, finding = _download(store, name)
    if finding:
        return finding
    expected = (downloader.properties.metadata or {}).get("sha256")
    digest = hashlib.sha256()
    decompressor = lz4.frame.LZ4FrameDecompressor()
    parts: list[bytes] = []
    try:
        for chunk in downloader.chunks():
            data = decompressor.decompress(chunk)
            digest.update(data)
            if info.area != "media":  # media can be large: hashed, not kept
                parts.append(data)
    except RuntimeError as exc:
        return Finding(name, UNREADABLE, f"not a valid lz4 frame ({exc})")
    if not decompressor.eof:
        return Finding(name, UNREADABLE, "the lz4 frame is truncated")
    if not expected:
        return Finding(name, INVALID, "no sha256 metadata: its integrity cannot be checked")
    if digest.hexdigest() != expected.lower():
        return Finding(name, CORRUPT, f"sha256 of the content is {digest.hexdigest()}, the metadata says {expected}")
    if info.area == "media":
        if digest.hexdigest() != info.name:
            return Finding(name, CORRUPT, "the media's sha256 differs from its name")
        return None
    try:
        doc = orjson.loads(b"".join(parts))
    except orjson.JSONDecodeError as exc:
        return Finding(name, UNREADABLE, f"not JSON ({exc})")
    errors = schemas.errors(doc)
    if errors:
        more = f" (+{len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        return Finding(name, INVALID, "schema: " + "; ".join(errors[:MAX_ERRORS]) + more)
    problems = name_problems(info, doc)
    media = doc.get("media") or {}
    if media.get("status") == "stored" and not store.exists(media["blob"]):
        problems.append(f"links to media {media['blob']}, which is not in the archive")
    if problems:
        return Finding(name, INVALID, "; ".join(problems))
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
