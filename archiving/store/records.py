"""Records: the JSON documents the archive keeps (one per message version or conversation change), their substance and the keyed user hash."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any


# Fields that describe the delivery, not the change: two copies of one change differ only here.
DELIVERY_FIELDS = ("event", "archived_at")


@dataclass(frozen=True)
class Record:
    key: str
    document: Mapping[str, Any]
    tags: Mapping[str, str]

    @property
    def substance(self) -> dict[str, Any]:
        return substance(self.document)

    @cached_property
    def encoded(self):
        """The blob bytes (lz4 frame) and sha256, computed once; raises what orjson refuses."""
        from archiving.store import codec

        return codec.encode(self.document)


def substance(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in DELIVERY_FIELDS}


@lru_cache(maxsize=4096)
def user_hash(hash_key: bytes, raw_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of a raw user id: finds a user's records without storing the id in tags."""
    return hmac.digest(hash_key, raw_id.encode("utf-8"), "sha256").hex()


KEY_ID_LABEL = b"acs-archiver/hash-key-id/v1"


@lru_cache(maxsize=16)
def key_id(hash_key: bytes) -> str:
    """Public fingerprint of ARCHIVE_HASH_KEY (blob metadata ``hash_key_id``): 16 hex characters of an
    HMAC of a fixed label.  Tells which key wrote a record; reveals nothing usable about the key."""
    return hmac.digest(hash_key, KEY_ID_LABEL, "sha256").hex()[:16]
