"""Blob names of the call channel (docs/archive-format.md, section 15): a public contract.

    call/<yyyymm>/<call>/started.json.lz4
    call/<yyyymm>/<call>/ended.json.lz4
    call/<yyyymm>/<call>/participants/<at_ms>-<added|removed>-<party16>.json.lz4
    call/<yyyymm>/<call>/incoming/<at_ms>-<caller16>-<callee16>.json.lz4
    call/<yyyymm>/<call>/recordings/<recording>/announced.json.lz4
    call/<yyyymm>/<call>/recordings/<recording>/archived.json.lz4
    call/media/<sha256>                       (a recording chunk or its ACS metadata, the bytes as served)

<call> is 32 hex characters of the sha256 of the server call id (an opaque id that may be long and
carry any character); <recording> the same of the recording id; <party16> the first 16 hex
characters of the party hash (``<caller16>``, ``<callee16>``: of the caller and the callee).
No phone number, address or raw id is ever in a name or a tag.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from archiving.store.keys import RECORD_SUFFIX, month

ROOT = "call/"
MEDIA_ROOT = "call/media/"
CHANNEL = "call"
ANNOUNCED, ARCHIVED = "announced", "archived"


def call_segment(server_call_id: str) -> str:
    return hashlib.sha256(server_call_id.encode("utf-8")).hexdigest()[:32]


def recording_segment(recording_id: str) -> str:
    return hashlib.sha256(recording_id.encode("utf-8")).hexdigest()[:32]


def call_prefix(yyyymm: str, call: str) -> str:
    return f"{ROOT}{yyyymm}/{call}/"


def started_key(at: datetime, call: str) -> str:
    return f"{ROOT}{month(at)}/{call}/started{RECORD_SUFFIX}"


def ended_key(at: datetime, call: str) -> str:
    return f"{ROOT}{month(at)}/{call}/ended{RECORD_SUFFIX}"


def participant_key(at: datetime, call: str, at_ms: int, action: str, party_hash: str) -> str:
    return f"{ROOT}{month(at)}/{call}/participants/{at_ms}-{action}-{party_hash[:16]}{RECORD_SUFFIX}"


def incoming_key(at: datetime, call: str, at_ms: int, caller_hash: str, callee_hash: str) -> str:
    # Both parties: ACS raises one IncomingCall per target of the same call (group ringing).
    return f"{ROOT}{month(at)}/{call}/incoming/{at_ms}-{caller_hash[:16]}-{callee_hash[:16]}{RECORD_SUFFIX}"


def recording_key(at: datetime, call: str, recording: str, stage: str) -> str:
    return f"{ROOT}{month(at)}/{call}/recordings/{recording}/{stage}{RECORD_SUFFIX}"


def media_key(sha256_hex: str) -> str:
    return f"{MEDIA_ROOT}{sha256_hex}"


@dataclass(frozen=True)
class CallKeyInfo:
    month: str | None
    call: str | None
    area: str  # started | ended | participants | incoming | recordings | media
    name: str  # what follows the area ("" for started / ended; the sha256 for media)
    conflict: bool = False


_KEY_RE = re.compile(
    r"^call/(\d{6})/([0-9a-f]{32})/(?:(started|ended)|(participants)/([0-9]+-(?:added|removed)-[0-9a-f]{16})|"
    r"(incoming)/([0-9]+-[0-9a-f]{16}-[0-9a-f]{16})|(recordings)/([0-9a-f]{32}/(?:announced|archived)))"
    r"(\.conflict-[0-9a-f]{12})?\.json\.lz4$")
_MEDIA_RE = re.compile(r"^call/media/([0-9a-f]{64})$")
AREA_KIND = {"started": "call-started", "ended": "call-ended", "participants": "call-participant",
             "incoming": "call-incoming"}


def parse_call_key(key: str) -> CallKeyInfo | None:
    m = _MEDIA_RE.match(key)
    if m:
        return CallKeyInfo(None, None, "media", m.group(1))
    m = _KEY_RE.match(key)
    if not m:
        return None
    g = m.groups()
    area = g[2] or g[3] or g[5] or g[7]
    name = g[4] or g[6] or g[8] or ""
    return CallKeyInfo(g[0], g[1], area, name, bool(g[9]))


def kind_of(info: CallKeyInfo) -> str | None:
    if info.area == "recordings":
        return "call-recording" if info.name.endswith(ARCHIVED) else "call-recording-announced"
    return AREA_KIND.get(info.area)
