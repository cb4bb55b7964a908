"""The one reading path of the read side: every blob it yields has been checked; damage is named, not raised.

Every command that reads the archive (show, export, find, reconcile, verify, replay of dead letters,
RSMF export, roll-ups) reads through ``read_verified``.  A blob that fails a check is not yielded:
it is added to the caller's ``Findings`` with the reason, and reading goes on with the next blob.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.read.scan import WORKERS, ordered_map
from archiving.store import codec


@dataclass(frozen=True)
class VerifiedBlob:
    """A blob that passed every check: its parsed document and the sha256 computed from what was read."""

    name: str
    document: Any
    sha256: str  # hex sha256 of the uncompressed content, computed from the bytes read (equals the metadata)
    size: int  # stored (compressed) bytes
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class Damage:
    name: str
    reason: str


@dataclass
class Findings:
    """Damaged blobs met while reading, in the order met (thread-safe)."""

    items: list[Damage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, reason: str) -> None:
        with self._lock:
            self.items.append(Damage(name, reason))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def check(name: str, data: bytes, metadata: Mapping[str, str]) -> VerifiedBlob | Damage:
    """The checks of one blob read whole, without I/O."""
    try:
        raw = codec.decompress(data)
    except Exception as exc:  # noqa: BLE001 - lz4 raises RuntimeError and others on damaged frames
        return Damage(name, f"unreadable: lz4 frame: {exc}")
    digest = hashlib.sha256(raw).hexdigest()
    expected = metadata.get("sha256")
    if not expected:
        return Damage(name, "corrupt: no sha256 metadata")
    if expected != digest:
        return Damage(name, "corrupt: sha256 of the content does not match its metadata")
    try:
        document = codec.loads(raw)
    except Exception as exc:  # noqa: BLE001
        return Damage(name, f"unreadable: not JSON: {exc}")
    return VerifiedBlob(name, document, digest, len(data), metadata)


def read_verified(store: Any, names: Iterable[str], findings: Findings, workers: int = WORKERS) -> Iterator[VerifiedBlob]:
    """Each named blob that passes every check, in order; the others go to ``findings``."""

    def one(name: str) -> VerifiedBlob | Damage:
        data, metadata = store.read_raw(name)
        return check(name, data, metadata)

    for result in ordered_map(one, names, workers):
        if isinstance(result, Damage):
            findings.add(result.name, result.reason)
        else:
            yield result
