"""Call Automation recording storage on the ACS test server: ``/v1/objects/{documentId}/content/{part}``.

As azure-communication-callautomation 1.6 calls it (``download_recording`` / ``delete_recording``): no
api-version, the request signed with the resource's access key (HMAC-SHA256, checked by
``RestApi.check_hmac``), ``x-ms-host`` naming the ACS endpoint; ``Range: bytes=N-[M]`` answered 206
with ``Content-Range``.  An unknown or deleted document is 404, as a recording older than ACS's 24
hours.  The SDK sends these only to ``*.asm.skype.com`` hosts: tests reach the server under such a name
through tests/acs_server/tunnel.py (the server's certificate names ``*.asm.skype.com``).
Faults apply as to every path, e.g. ``faults.add(500, path=r"^/v1/objects/")``.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Callable

from .api import Request, Response
from .state import ApiError

if TYPE_CHECKING:
    from .api import RestApi

HOST = "storage.asm.skype.com"  # the host of the published event example
_LOCK = threading.Lock()
_RANGE = re.compile(r"^bytes=([0-9]+)-([0-9]*)$")


def _items(server) -> dict[str, dict[str, tuple[bytes, str]]]:
    with _LOCK:
        items = getattr(server, "_recording_items", None)
        if items is None:
            items = {}
            server._recording_items = items
        return items


def add_recording(server, document_id: str, content: bytes, content_type: str = "audio/mpeg",
                  metadata: bytes | None = None) -> dict[str, str]:
    """Serve a chunk (and its acsmetadata document); returns its three locations as the event gives them."""
    parts = {"audio": (bytes(content), content_type), "video": (bytes(content), content_type)}
    if metadata is not None:
        parts["acsmetadata"] = (bytes(metadata), "application/json")
    _items(server)[document_id] = parts
    base = f"https://{HOST}/v1/objects/{document_id}/content"
    return {"contentLocation": f"{base}/audio", "metadataLocation": f"{base}/acsmetadata",
            "deleteLocation": f"{base}/deletedata"}


def remove_recording(server, document_id: str) -> None:
    _items(server).pop(document_id, None)


def route(api: "RestApi", req: Request) -> dict[str, tuple[Callable[..., Response], str, tuple]]:
    segs = req.segments
    if len(segs) == 5 and segs[:2] == ["v1", "objects"] and segs[3] == "content":
        if segs[4] == "deletedata":
            return {"DELETE": (lambda r, d: delete(api, r, d), "hmac-raw", (segs[2],))}
        return {"GET": (lambda r, d, p: download(api, r, d, p), "hmac-raw", (segs[2], segs[4]))}
    return {}


def download(api: "RestApi", req: Request, document_id: str, part: str) -> Response:
    item = _items(api.s).get(document_id, {}).get(part)
    if item is None:
        raise ApiError(404, "NotFound", "The recording was not found or has expired.")
    data, content_type = item
    wanted = req.headers.get("Range")
    if not wanted:
        return Response(200, data, [("Content-Type", content_type), ("Accept-Ranges", "bytes")])
    m = _RANGE.match(wanted.strip())
    if not m or int(m.group(1)) >= len(data):
        raise ApiError(416, "InvalidRange", f"Range {wanted!r} is not satisfiable.",
                       headers=[("Content-Range", f"bytes */{len(data)}")])
    start = int(m.group(1))
    end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
    return Response(206, data[start:end + 1], [("Content-Type", content_type),
                                               ("Content-Range", f"bytes {start}-{end}/{len(data)}")])


def delete(api: "RestApi", req: Request, document_id: str) -> Response:
    if _items(api.s).pop(document_id, None) is None:
        raise ApiError(404, "NotFound", "The recording was not found or has expired.")
    return Response(200, b"")
