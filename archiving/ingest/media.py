"""WhatsApp media: downloaded once, by id, with azure-communication-messages, and stored by the sha256 of its bytes.

``whatsapp/media/<sha256>.lz4`` (docs/archive-format.md 13.6): an LZ4 frame of the bytes, create-only,
so the same bytes sent twice are one blob.  A 404 means ACS no longer has the item: the message
record says so (``not-retrievable``).  Every other failure raises, so Event Grid delivers the event again.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from archiving.ingest.whatsapp import NOT_RETRIEVABLE, STORED, MediaRef
from archiving.settings import Settings, SettingError
from archiving.store import keys
from archiving.timefmt import iso

log = logging.getLogger("archiving.ingest.media")

# Within Event Grid's 30 s: 3 attempts, 3 s to connect, 10 s between bytes, backoff about 0.5 + 1 s.
CLIENT_OPTIONS = {"retry_total": 2, "retry_backoff_factor": 0.5, "retry_backoff_max": 4,
                  "connection_timeout": 3, "read_timeout": 10}
SPOOL_BYTES = 8 * 1024 * 1024  # in memory up to this, then a temporary file


class AcsSource:
    """An ACS data-plane client built on first use (``make``), with the options of ``OPTIONS``."""

    OPTIONS: Mapping[str, Any] = {}

    def __init__(self, settings: Settings, credential: Any = None, client_options: Mapping[str, Any] | None = None):
        self.settings = settings
        self._credential = credential
        self._options = {**self.OPTIONS, **(client_options or {})}
        self._client = None
        self._lock = threading.Lock()

    def make(self, credential: Any, options: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self.make(self._credential, self._options)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class MediaSource(AcsSource):
    """The Advanced Messaging media API (``NotificationMessagesClient.download_media``), client built on first use."""

    OPTIONS = CLIENT_OPTIONS

    def make(self, credential: Any, options: Mapping[str, Any]) -> Any:
        from azure.communication.messages import NotificationMessagesClient

        return acs_client(NotificationMessagesClient, self.settings, credential, options,
                          "WhatsApp media is downloaded from ACS")

    def download(self, media_id: str) -> Iterable[bytes]:
        return self.client().download_media(media_id)


def acs_client(client_class: Any, settings: Settings, credential: Any, options: Mapping[str, Any], purpose: str) -> Any:
    """An ACS data-plane client: connection string (access key), else ACS_ENDPOINT with the managed identity."""
    if settings.acs_connection_string:
        return client_class.from_connection_string(settings.acs_connection_string, **options)
    if settings.acs_endpoint:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return client_class(settings.acs_endpoint, credential, **options)
    raise SettingError("ACS_CONNECTION_STRING", f"not set (nor ACS_ENDPOINT): {purpose}")


def archive_media(ref: MediaRef, source: MediaSource, store: Any, at: datetime, max_bytes: int,
                  event_id: str = "-") -> dict[str, Any]:
    """The ``media`` entry of the message record, after storing the bytes (or finding them gone)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        chunks = source.download(ref.id)
        return store_media(ref, chunks, store, at, max_bytes, event_id)
    except ResourceNotFoundError:
        log.warning("event=%s media=%s outcome=not-retrievable reason=404", event_id, ref.id)
        return ref.entry(NOT_RETRIEVABLE, reason="gone: the media service answered 404")


def store_media(ref: MediaRef, chunks: Iterable[bytes], store: Any, at: datetime, max_bytes: int,
                event_id: str = "-") -> dict[str, Any]:
    import lz4.frame

    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        compressor = lz4.frame.LZ4FrameCompressor(compression_level=0, content_checksum=True)
        spool.write(compressor.begin())
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                close = getattr(chunks, "close", None)
                if close:
                    close()
                log.warning("event=%s media=%s outcome=not-retrievable reason=over MEDIA_MAX_BYTES", event_id, ref.id)
                return ref.entry(NOT_RETRIEVABLE, reason=f"larger than MEDIA_MAX_BYTES ({max_bytes} bytes)")
            digest.update(chunk)
            spool.write(compressor.compress(chunk))
        spool.write(compressor.flush())
        sha = digest.hexdigest()
        name = keys.media_key(sha)
        metadata = {"sha256": sha, "media_id": quote(ref.id, safe="")}
        if ref.mime_type:
            metadata["mime_type"] = quote(ref.mime_type, safe="/+")
        if ref.file_name:
            metadata["file_name"] = quote(ref.file_name, safe="")
        tags = {"kind": "media", "channel": "whatsapp", "at": iso(at)}
        length = spool.tell()
        created = store.create_blob(name, spool, metadata, tags, length=length)
    log.info("event=%s media=%s outcome=%s key=%s size=%d", event_id, ref.id,
             "archived" if created else "duplicate", name, size)
    return ref.entry(STORED, blob=name, sha256=sha, size=size)

