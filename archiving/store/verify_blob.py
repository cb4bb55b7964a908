"""Reading one archive blob back and checking it: the lz4 frame, then the sha256 in its metadata."""

from __future__ import annotations

import hashlib
from typing import Any


def check_blob(store: Any, name: str) -> str | None:
    """None if the blob decompresses and its bytes match the ``sha256`` metadata, else what is wrong.

    Streams the blob through the lz4 decompressor, so a large transcript is never held whole.
    """
    import lz4.frame

    downloader = store.container.download_blob(name)
    expected = (downloader.properties.metadata or {}).get("sha256")
    if not expected:
        return "no sha256 metadata"
    digest = hashlib.sha256()
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        for chunk in downloader.chunks():
            digest.update(decompressor.decompress(chunk))
    except RuntimeError as exc:
        return f"not a valid lz4 frame: {exc}"
    if not decompressor.eof:
        return "lz4 frame is truncated"
    if digest.hexdigest() != expected:
        return "sha256 of the content does not match its metadata"
    return None
