"""The call rules of the read checks (docs/archive-format.md, section 15): a call record's name and tags
against its document, a recording chunk against its name (sha256 of the bytes, streamed: a recording
can be gigabytes), and (for ``verify``) a recording record's links to its chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archiving.calls import layout


def name_problems(info: layout.CallKeyInfo, doc: Mapping[str, Any]) -> list[str]:
    problems = []
    if doc.get("channel") != layout.CHANNEL:
        problems.append(f"channel {doc.get('channel')!r} under call/")
    if doc.get("kind") != layout.kind_of(info):
        problems.append(f"kind {doc.get('kind')!r} under {info.area}/")
    if doc.get("call_id") != info.call:
        problems.append("call_id differs from the name")
    at = doc.get("at")
    if isinstance(at, str) and at[:7].replace("-", "") != info.month:
        problems.append(f"at {at} is not in the month {info.month} of the name")
    if info.area == "recordings" and not info.name.startswith(str(doc.get("recording_key_id"))):
        problems.append("recording_key_id differs from the name")
    return problems


def tag_problems(doc: Mapping[str, Any], tags: Mapping[str, str] | None) -> list[str]:
    if not tags:
        return ["no blob index tags: tag searches miss this blob"]
    want = {"kind": doc.get("kind"), "channel": layout.CHANNEL, "call": doc.get("call_id")}
    wrong = [f"tag {k} is {tags.get(k)!r}, the document says {v!r}" for k, v in want.items() if tags.get(k) != v]
    if "at" not in tags:
        wrong.append("tag at is missing")
    return wrong


def link_problem(store: Any, doc: Mapping[str, Any]) -> str | None:
    """A recording record naming a stored chunk (or metadata document) that is not in the archive."""
    for chunk in doc.get("chunks") or []:
        for part in (chunk.get("content"), chunk.get("metadata")):
            if isinstance(part, Mapping) and part.get("status") == "stored" and not store.exists(part["blob"]):
                return f"links to {part['blob']}, which is not in the archive"
    return None


