"""Blob encoding: an lz4 frame of UTF-8 JSON, with the SHA-256 of the uncompressed bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import lz4.frame
import orjson

# Records are small: fast compression; transcripts stream through lz4.frame.LZ4FrameCompressor.
_LEVEL = 0


@dataclass(frozen=True)
class Encoded:
    data: bytes  # lz4 frame
    sha256: str  # hex of the uncompressed bytes
    size: int  # uncompressed length


def dumps(document: Any) -> bytes:
    return orjson.dumps(document)


def encode_bytes(raw: bytes) -> Encoded:
    return Encoded(
        data=lz4.frame.compress(raw, compression_level=_LEVEL, content_checksum=True),
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
    )


def encode(document: Any) -> Encoded:
    return encode_bytes(dumps(document))


def decompress(data: bytes) -> bytes:
    """The uncompressed bytes; raises RuntimeError (lz4) on a damaged frame."""
    return lz4.frame.decompress(data)


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
