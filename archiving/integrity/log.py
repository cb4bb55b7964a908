"""The seal log in its own container: manifests (the leaves of each seal run, chained by hash), signed
checkpoints, and the public keys that sign them.  Every write is create-only, so the container can be immutable
(WORM) and two seal runs can never fork the log: the next manifest's name is its sequence number.

    manifests/<seq:012d>.json     one per seal run (format below)
    checkpoints/<seq:012d>.json   the signed tree head of that manifest
    keys/<key_id>.pem             the public keys of the signers (key_id = sha256 of the DER public key)

The leaf of a blob is the canonical JSON of {container, created, name, sha256, size} (sorted keys, no blanks,
ASCII): ``created`` its creation time (UTC, archive time format), ``sha256`` and ``size`` of its stored bytes.
Its Merkle leaf hash is RFC 6962's SHA-256(0x00 || leaf bytes).  docs/integrity.md has every format.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from archiving.integrity import merkle
from archiving.store.archive import ArchiveStore

MANIFESTS, CHECKPOINTS, KEYS = "manifests/", "checkpoints/", "keys/"
MANIFEST_FORMAT = "acs-archive-manifest/1"
CHECKPOINT_FORMAT = "acs-archive-checkpoint/1"
LEAF_FIELDS = ("container", "created", "name", "sha256", "size")


def manifest_name(seq: int) -> str:
    return f"{MANIFESTS}{seq:012d}.json"


def checkpoint_name(seq: int) -> str:
    return f"{CHECKPOINTS}{seq:012d}.json"


def seq_of(name: str) -> int | None:
    stem = name.rsplit("/", 1)[-1].removesuffix(".json")
    return int(stem) if stem.isdigit() and name.endswith(".json") else None


def leaf_bytes(leaf: Mapping[str, Any]) -> bytes:
    return json.dumps({k: leaf[k] for k in LEAF_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def leaf_hash(leaf: Mapping[str, Any]) -> bytes:
    return merkle.leaf_hash(leaf_bytes(leaf))


def checkpoint_body(cp: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers (one field a line)."""
    return (f"{CHECKPOINT_FORMAT}\n{cp['origin']}\n{cp['seq']}\n{cp['tree_size']}\n{cp['root_hash']}\n"
            f"{cp['time']}\n{cp['manifest_sha256']}\n").encode("utf-8")


def make_checkpoint(manifest: Mapping[str, Any], manifest_sha256: str, signer: Any) -> dict[str, Any]:
    cp = {
        "format": CHECKPOINT_FORMAT,
        "origin": manifest["origin"],
        "seq": manifest["seq"],
        "tree_size": manifest["tree_size"],
        "root_hash": manifest["root_hash"],
        "time": manifest["sealed_to"],
        "manifest": manifest_name(manifest["seq"]),
        "manifest_sha256": manifest_sha256,
        "key_id": signer.key_id,
        "algorithm": "ES256",
    }
    cp["signature"] = base64.b64encode(signer.sign(checkpoint_body(cp))).decode("ascii")
    return cp


def encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Head:
    """The latest manifest: what the next seal run continues from."""

    seq: int
    manifest: dict[str, Any]
    sha256: str

    @property
    def sealed_to(self) -> str:
        return self.manifest["sealed_to"]

    def compact_range(self) -> merkle.CompactRange:
        return merkle.CompactRange(self.manifest["tree_size"],
                                   [bytes.fromhex(h) for h in self.manifest["compact_range"]])


class SealLog:
    """The seal container, reached through a ContainerClient made by the composition root."""

    def __init__(self, container_client: Any):
        self.container = container_client
        self.store = ArchiveStore(container_client)

    @property
    def origin(self) -> str:
        """What a checkpoint is about: the storage account and the seal container."""
        return f"{self.container.account_name}/{self.container.container_name}"

    # -- reading ---------------------------------------------------------------------------------

    def names(self, prefix: str) -> list[str]:
        return sorted(self.store.list_names(prefix))

    def read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container.download_blob(name).readall()
        except ResourceNotFoundError:
            return None

    def head(self) -> Head | None:
        """The manifest with the highest sequence number, or None for an empty log."""
        for name in reversed(self.names(MANIFESTS)):
            seq = seq_of(name)
            data = self.read(name) if seq is not None else None
            if data is None:
                continue
            return Head(seq, json.loads(data), hashlib.sha256(data).hexdigest())
        return None

    def latest_checkpoint(self) -> dict[str, Any] | None:
        for name in reversed(self.names(CHECKPOINTS)):
            data = self.read(name)
            if data is not None:
                try:
                    return json.loads(data)
                except ValueError:
                    continue
        return None

    def public_keys(self) -> dict[str, bytes]:
        out = {}
        for name in self.names(KEYS):
            data = self.read(name)
            if data is not None:
                out[name[len(KEYS):].removesuffix(".pem")] = data
        return out

    def manifests(self) -> Iterator[tuple[str, bytes | None]]:
        """(name, bytes) of every manifest in sequence order, one held at a time."""
        for name in self.names(MANIFESTS):
            yield name, self.read(name)

    def server_time(self) -> datetime:
        """The storage service's clock (the Date header of a request), to the second."""
        seen: list[str] = []

        def hook(response: Any) -> None:
            date = response.http_response.headers.get("Date")
            if date:
                seen.append(date)

        self.store.ensure_container()
        self.container.get_container_properties(raw_response_hook=hook)
        if not seen:
            raise RuntimeError("the storage service sent no Date header")
        return parsedate_to_datetime(seen[-1])

    # -- writing (create-only) --------------------------------------------------------------------

    def create(self, name: str, data: bytes) -> bool:
        return self.store.create_blob(name, data, {"sha256": hashlib.sha256(data).hexdigest()})

    def publish_key(self, signer: Any) -> None:
        self.create(f"{KEYS}{signer.key_id}.pem", signer.public_pem)

    def write_checkpoint(self, manifest: Mapping[str, Any], manifest_sha256: str, signer: Any) -> dict[str, Any]:
        cp = make_checkpoint(manifest, manifest_sha256, signer)
        if not self.create(checkpoint_name(manifest["seq"]), encode(cp)):
            existing = self.read(checkpoint_name(manifest["seq"]))
            return json.loads(existing) if existing else cp
        return cp
