"""The roll-up container: overwritable derived data, reached through a ContainerClient made by the
composition root (``Services.rollup_container``).  Unlike ``ArchiveStore`` it replaces and deletes:
roll-ups are rebuilt at will from the archive, which stays create-only."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from archiving.rollup import layout
from archiving.store.archive import ContainerCreation

log = logging.getLogger("archiving.rollup.store")

def file_sha256(path: Path) -> str:
    """A part's sha256, named in its manifest entry."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ManifestConflict(RuntimeError):
    """Another run switched the day's manifest first; its parts stand, ours were removed."""


@dataclass(frozen=True)
class Listed:
    name: str
    last_modified: datetime | None
    size: int
    partial: bool = False  # a manifest of a day rolled up before it was due (blob metadata "partial")


class RollupStore:
    def __init__(self, container_client: Any):
        self.container = container_client
        self._creation = ContainerCreation(container_client)

    @property
    def name(self) -> str:
        return self.container.container_name

    def ensure_container(self) -> None:
        self._creation.ensure()

    def upload_file(self, name: str, path: Path) -> None:
        """A new part (its name is new to every run: create-only)."""
        self.ensure_container()
        with open(path, "rb") as f:
            self.container.upload_blob(name, f, overwrite=False, length=path.stat().st_size)

    def download_file(self, name: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as f:
            self.container.download_blob(name).readinto(f)
        partial.replace(path)

    def delete(self, name: str) -> bool:
        """Remove a part that no manifest names; False if it was gone or the service refused."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.container.delete_blob(name)
            return True
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            # e.g. an immutability policy of the account (docs/analytics.md): the switch is done,
            # readers of the manifests are right; only folder-level readers see the old part.
            log.warning("rollup part not deleted: %s (%s)", name, getattr(exc, "error_code", None) or exc.status_code)
            return False

    def list(self, prefix: str, metadata: bool = False) -> Iterator[Listed]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            for item in self.container.list_blobs(name_starts_with=prefix, include=["metadata"] if metadata else None):
                partial = (item.metadata or {}).get("partial") == "true" if metadata else False
                yield Listed(item.name, item.last_modified, item.size, partial)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise

    def prefixes(self, prefix: str) -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return [p.name for p in self.container.walk_blobs(name_starts_with=prefix, delimiter="/")
                    if p.name.endswith("/")]
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
            return []

    # -- manifests -------------------------------------------------------------------------------

    def read_manifest(self, name: str) -> tuple[dict | None, str | None]:
        """The manifest and its ETag, or (None, None)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.download_blob(name)
            data = downloader.readall()
        except ResourceNotFoundError:
            return None, None
        return orjson.loads(data), downloader.properties.etag

    def switch_manifest(self, name: str, manifest: dict, etag: str | None) -> None:
        """Replace the manifest only if it is still the one read (ETag), or create it only if absent."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        self.ensure_container()
        data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
        # In the blob's metadata too: one listing tells the timer and `status` which days are partial.
        metadata = {"partial": "true" if manifest.get("partial") else "false"}
        try:
            if etag is None:
                self.container.upload_blob(name, data, overwrite=False, metadata=metadata)
            else:
                self.container.upload_blob(name, data, overwrite=True, etag=etag, metadata=metadata,
                                           match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            raise ManifestConflict(f"{name} was switched by another run") from None

    def manifests(self) -> list[Listed]:
        """Every day's manifest, oldest day first (``partial`` from the blob's metadata)."""
        found = [m for m in self.list(layout.MANIFESTS, metadata=True) if layout.manifest_day(m.name)]
        return sorted(found, key=lambda m: m.name)
