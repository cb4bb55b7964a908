"""Call Automation recordings: each chunk's content and ACS metadata downloaded with
azure-communication-callautomation within ACS's 24 hours, stored once by content hash.

``call/media/<sha256>`` holds the bytes as served (create-only: the same bytes are one blob).  A chunk
is streamed: hashed while it is spooled (memory up to SPOOL_BYTES, then a temporary file), then
uploaded in blocks by the storage SDK, so memory stays bounded whatever the size.  A broken stream
resumes with a range request from the last byte received.  A 404 means ACS no longer has it (the
24 hours passed): the record says ``not-retrievable`` and a warning is logged.  Every other failure
raises, so Event Grid delivers the event again.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping
from typing import Any

from archiving.calls import layout
from archiving.calls.events import Chunk, Recording
from archiving.ingest.media import AcsSource, acs_client
from archiving.timefmt import iso

log = logging.getLogger("archiving.calls.recordings")

STORED, NOT_RETRIEVABLE = "stored", "not-retrievable"
SPOOL_BYTES = 8 * 1024 * 1024  # in memory up to this, then a temporary file
BLOCK_BYTES = 4 * 1024 * 1024  # one staged block of the upload
RESUMES = 3  # range requests after a broken stream, per download
# One SDK attempt may take long (gigabytes); the pipeline retries connection failures and 5xx twice.
# Blocks of 1 MiB from the socket (azure-core reads 4 KiB by default: a gigabyte would be 262,144 Python steps).
CLIENT_OPTIONS = {"retry_total": 2, "retry_backoff_factor": 0.5, "retry_backoff_max": 4,
                  "connection_timeout": 5, "read_timeout": 30, "connection_data_block_size": 1024 * 1024}


class RecordingSource(AcsSource):
    """``CallAutomationClient`` (download_recording, delete_recording), built on first use."""

    OPTIONS = CLIENT_OPTIONS

    def make(self, credential: Any, options: Mapping[str, Any]) -> Any:
        from azure.communication.callautomation import CallAutomationClient

        return acs_client(CallAutomationClient, self.settings, credential, options,
                          "call recordings are downloaded from ACS")

    def open(self, url: str, offset: int | None = None) -> Any:
        """The HTTP response (``iter_bytes``), from ``offset`` on; SDK issue 42835: not the declared iterable."""
        return self.client().download_recording(url, offset=offset or None)

    def delete(self, url: str) -> None:
        self.client().delete_recording(url)


def archive_recording(rec: Recording, source: RecordingSource | None, store: Any, hash_key_id: str | None,
                      delete_after: bool = False, event_id: str = "-") -> Any:
    """Write the announced record, download and store every chunk, write the recording record.

    Returns the ``WriteResult`` of the recording record.  A redelivery whose recording record exists
    downloads nothing."""
    from archiving.store.archive import DUPLICATE, WriteResult
    from archiving.store.records import substance

    store.put_record(rec.announced(), hash_key_id=hash_key_id)
    if store.exists(rec.archived_key):
        existing = store.read_document(rec.archived_key)
        if isinstance(existing, Mapping) and isinstance(existing.get("chunks"), list):
            again = rec.finish(existing["chunks"])
            if substance(existing) == again.substance:
                return WriteResult(DUPLICATE, rec.archived_key)
    if source is None:
        from archiving.settings import SettingError

        raise SettingError("ACS_CONNECTION_STRING", "not set (nor ACS_ENDPOINT): call recordings are downloaded from ACS")
    entries = []
    for chunk in rec.chunks:
        content = fetch(source, chunk.content_location, store, rec, chunk, "content", event_id)
        metadata = None
        if chunk.metadata_location:
            metadata = fetch(source, chunk.metadata_location, store, rec, chunk, "metadata", event_id)
        entries.append(chunk.entry(content, metadata))
    record = rec.finish(entries)
    result = store.put_record(record, hash_key_id=hash_key_id)
    if delete_after and record.document["status"] == STORED:
        _delete(source, rec.chunks, event_id)
    return result


def fetch(source: RecordingSource, url: str, store: Any, rec: Recording, chunk: Chunk, part: str,
          event_id: str = "-") -> dict[str, Any]:
    """The entry of one downloaded part (content or metadata), after storing its bytes (or finding them gone)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return store_stream(source, url, store, rec, event_id, part)
    except ResourceNotFoundError:
        log.warning("event=%s call=%s recording=%s chunk=%d part=%s outcome=not-retrievable reason=404",
                    event_id, rec.call, rec.recording, chunk.index, part)
        return {"status": NOT_RETRIEVABLE, "blob": None, "sha256": None, "size": None, "content_type": None,
                "reason": "gone: ACS answered 404 (recordings are kept 24 hours)"}


def store_stream(source: RecordingSource, url: str, store: Any, rec: Recording, event_id: str = "-",
                 part: str = "content") -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    content_type = None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        resumes = 0
        while True:
            response = source.open(url, size)
            if content_type is None:
                content_type = response.headers.get("Content-Type")
            try:
                for block in response.iter_bytes():
                    digest.update(block)
                    spool.write(block)
                    size += len(block)
                break
            except Exception as exc:  # a broken stream: resume below, or raise
                from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseError

                if not isinstance(exc, (IncompleteReadError, ServiceResponseError, ServiceRequestError)) \
                        or resumes >= RESUMES:
                    raise
                resumes += 1
                log.info("event=%s recording=%s part=%s outcome=resume offset=%d", event_id, rec.recording, part, size)
            finally:
                response.close()
        sha = digest.hexdigest()
        name = layout.media_key(sha)
        created = False
        if not store.exists(name):
            metadata = {"sha256": sha, "recording": rec.recording, "part": part}
            if content_type:
                metadata["content_type"] = content_type.replace("\n", " ")[:200]
            tags = {"kind": "call-media", "channel": layout.CHANNEL, "at": iso(rec.at), "recording": rec.recording}
            created = upload_blocks(store, name, spool, size, metadata, tags)
    log.info("event=%s call=%s recording=%s part=%s outcome=%s key=%s size=%d", event_id, rec.call, rec.recording,
             part, "archived" if created else "duplicate", name, size)
    return {"status": STORED, "blob": name, "sha256": sha, "size": size, "content_type": content_type, "reason": None}


def upload_blocks(store: Any, name: str, stream: Any, length: int, metadata: Mapping[str, str],
                  tags: Mapping[str, str]) -> bool:
    """Create ``name`` from a seekable stream one block at a time (memory: one block), create-only: the
    commit carries If-None-Match: *.  False if the blob existed.  (``upload_blob`` would read anything up
    to its single-put limit, 64 MiB, into memory at once.)"""
    import base64

    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

    if length <= BLOCK_BYTES:
        return store.create_blob(name, stream, metadata, tags, length=length)
    blob = store.container.get_blob_client(name)
    stream.seek(0)
    ids = []
    while True:
        data = stream.read(BLOCK_BYTES)
        if not data:
            break
        block_id = base64.b64encode(f"{len(ids):08d}".encode()).decode()
        try:
            blob.stage_block(block_id, data, length=len(data))
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound" or ids:
                raise
            store.ensure_container()
            blob.stage_block(block_id, data, length=len(data))
        ids.append(block_id)
    try:
        blob.commit_block_list(ids, metadata=dict(metadata), tags=dict(tags),
                               match_condition=_if_none_match())
    except (ResourceExistsError, ResourceModifiedError):  # 409 BlobAlreadyExists / 412: written meanwhile
        return False
    return True


def _if_none_match() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfMissing


def _delete(source: RecordingSource, chunks: tuple[Chunk, ...], event_id: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    for chunk in chunks:
        if not chunk.delete_location:
            continue
        try:
            source.delete(chunk.delete_location)
            log.info("event=%s document=%s outcome=deleted-from-acs", event_id, chunk.document_id)
        except ResourceNotFoundError:
            pass  # gone already: what the setting asks for
