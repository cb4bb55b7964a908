"""Create-only blob writes and reads for the archive, over azure-storage-blob.

Every write is "create if absent" (If-None-Match: *): the first copy of a record stands and
is never overwritten.  A later copy that differs in substance is kept beside it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from archiving.store import codec
from archiving.store import keys
from archiving.store.listing import list_blobs, missing_is_empty
from archiving.store.records import Record, substance

log = logging.getLogger("archiving.store.archive")

WRITTEN, DUPLICATE, CONFLICT = "archived", "duplicate", "conflict"


@dataclass(frozen=True)
class WriteResult:
    status: str  # archived | duplicate | conflict
    key: str  # where the record is (the conflict copy's key for a conflict)


class ArchiveStore:
    """The archive container, reached through a ContainerClient made by the composition root."""

    def __init__(self, container_client: Any):
        self.container = container_client
        self._creation = ContainerCreation(container_client)

    # -- writing -----------------------------------------------------------------------------

    def put_record(self, record: Record, hash_key_id: str | None = None) -> WriteResult:
        """Write the record create-only.  ``hash_key_id`` (the fingerprint of the key that made the
        record's user hashes, ``records.key_id``) goes into the metadata beside ``sha256``."""
        encoded = record.encoded
        metadata = {"sha256": encoded.sha256}
        if hash_key_id:
            metadata["hash_key_id"] = hash_key_id
        if self.create_blob(record.key, encoded.data, metadata, record.tags):
            return WriteResult(WRITTEN, record.key)
        existing = self.read_document(record.key)
        mine = record.substance
        if substance(existing) == mine:
            return WriteResult(DUPLICATE, record.key)
        alt_key = keys.conflict_key(record.key, codec.sha256_hex(codec.dumps(mine)))
        created = self.create_blob(alt_key, encoded.data, metadata, record.tags)
        log.warning(
            "record differs from the archived copy, keeping both: key=%s conflict_key=%s new=%s",
            record.key, alt_key, created,
        )
        return WriteResult(CONFLICT, alt_key)

    def create_blob(self, key: str, data: Any, metadata: Mapping[str, str],
                    tags: Mapping[str, str] | None = None, length: int | None = None) -> bool:
        """Upload unless the blob exists; False if it existed.  Other errors propagate.

        ``data`` is bytes, or a seekable stream of ``length`` bytes (large media, spooled to disk).
        One request (the seal learns of the blob from the storage account's change feed, not from us); the
        container is created only when that request says it is missing.
        """
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        for attempt in (1, 2):
            if length is not None:
                data.seek(0)
            try:
                self.container.upload_blob(
                    key, data, length=length, overwrite=False, metadata=dict(metadata),
                    tags=dict(tags) if tags else None,
                )
                return True
            except ResourceExistsError:
                return False
            except ResourceNotFoundError as exc:
                # The container is created on the first write that needs it, not on every start.
                if attempt == 2 or getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self.ensure_container()
        raise AssertionError("unreachable")

    def ensure_container(self) -> None:
        self._creation.ensure()

    # -- reading -----------------------------------------------------------------------------

    def read_raw(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The stored (compressed) bytes and the blob's metadata."""
        downloader = self.container.download_blob(key)
        return downloader.readall(), dict(downloader.properties.metadata or {})

    def exists(self, key: str) -> bool:
        return self.container.get_blob_client(key).exists()

    def read_document(self, key: str) -> Any:
        data, _ = self.read_raw(key)
        return codec.loads(codec.decompress(data))

    def list_names(self, prefix: str) -> Iterator[str]:
        for blob in missing_is_empty(list_blobs(self.container, prefix, include=())):
            yield blob.name

    def list_prefixes(self, prefix: str) -> Iterator[str]:
        """Immediate "folders" below prefix (names ending in /)."""
        for item in missing_is_empty(self.container.walk_blobs(name_starts_with=prefix, delimiter="/")):
            if item.name.endswith("/"):
                yield item.name

    def months(self) -> list[str]:
        return sorted(p[len(keys.ROOT) : -1] for p in self.list_prefixes(keys.ROOT))

    def thread_names(self, thread_id: str) -> list[str]:
        """Every blob of one thread, across months."""
        names: list[str] = []
        for yyyymm in self.months():
            names.extend(self.list_names(keys.thread_prefix(yyyymm, thread_id)))
        return names


class ContainerCreation:
    """Creates a container the first time a write needs it, once per process (an existing one is kept)."""

    def __init__(self, container_client: Any):
        self.container = container_client
        self._created = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with self._lock:
            if self._created:
                return
            try:
                self.container.create_container()
            except ResourceExistsError:
                pass
            self._created = True
