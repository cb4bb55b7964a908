"""Advanced Messaging media download on the ACS test server: ``GET /messages/streams/{id}``.

As azure-communication-messages 1.x calls it (api-version 2024-08-30, ``Accept: application/octet-stream``),
signed with the resource's access key (HMAC-SHA256, verified by ``RestApi.check_hmac`` like every
connection-string call).  Media a test registers with :func:`add_media` is served with its content
type; an unknown id is 404, as for media ACS no longer keeps.  Faults (``server.faults``) apply
as to every path, e.g. ``faults.add(503, path=r"^/messages/streams/")``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

from .api import Request, Response
from .state import ApiError

if TYPE_CHECKING:
    from .api import RestApi

MEDIA_API_VERSION = "2024-08-30"
_LOCK = threading.Lock()


def _items(server) -> dict[str, tuple[bytes, str]]:
    with _LOCK:
        items = getattr(server, "_media_items", None)
        if items is None:
            items = {}
            server._media_items = items
        return items


def add_media(server, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
    _items(server)[media_id] = (bytes(data), content_type)


def remove_media(server, media_id: str) -> None:
    _items(server).pop(media_id, None)


def route(api: "RestApi", req: Request) -> dict[str, tuple[Callable[..., Response], str, tuple]]:
    """The route table entry for the media path, or {} for any other path."""
    segs = req.segments
    if len(segs) == 3 and segs[0] == "messages" and segs[1] == "streams":
        return {"GET": (lambda r, media_id: download(api, r, media_id), "hmac", (segs[2],))}
    return {}


def download(api: "RestApi", req: Request, media_id: str) -> Response:
    version = api.require_api_version(req)
    if version != MEDIA_API_VERSION:
        raise ApiError(400, "UnsupportedApiVersion", f"api-version {version} is not supported here.", "api-version")
    item = _items(api.s).get(media_id)
    if item is None:
        raise ApiError(404, "NotFound", "The media was not found or has expired.")
    data, content_type = item
    return Response(200, data, [("Content-Type", content_type)])
