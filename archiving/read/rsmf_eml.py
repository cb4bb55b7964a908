"""Writing one RSMF 2.0 file: an RFC 5322 message whose ``rsmf.zip`` attachment holds the manifest.

The layout follows Relativity's published sample (``tests/specs/rsmf/sample.rsmf``): ``X-RSMF-*``
headers, ``multipart/mixed`` with a readable ``text/plain`` part first and ``rsmf.zip``
(``application/octet-stream``, base64) last; the zip holds ``rsmf_manifest.json`` and every file an
event's ``attachments[].id`` names, at its root.

Streamed: the zip is built in a temporary file (attachment files are copied in chunk by chunk), then
base64-encoded into the message in 57-byte groups, so memory holds the manifest of one slice (at most
10,000 events) and one chunk, never the whole file.  The file is written as ``NAME.partial`` and
renamed when complete.
"""

from __future__ import annotations

import base64
import hashlib
import os
import quopri
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

MANIFEST_NAME = "rsmf_manifest.json"
ZIP_NAME = "rsmf.zip"
CHUNK = 57 * 1024  # a multiple of 57 bytes: every base64 line but the last is 76 characters


@dataclass(frozen=True)
class ZipFileEntry:
    """A file to put into rsmf.zip: its name there and a way to stream its bytes."""

    name: str
    open: Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    sha256: str
    size: int


# RFC 5322's hard limit: values (participant lists) stay on one line unless longer than that, since
# some readers keep the blank that folding right after the colon leaves.
_POLICY = SMTP.clone(max_line_length=998, refold_source="all")  # "all": non-ASCII is always encoded
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """RFC 5322 header fields, folded, non-ASCII encoded (RFC 2047), CRLF line ends.

    Values come from the archive (topics, display names): control characters, line breaks among
    them, become a space, so no value can end its header and start another.
    """
    return b"".join(_POLICY.fold_binary(name, _CONTROL.sub(" ", value).strip()) for name, value in headers)


def rfc5322_date(stamp: str) -> str:
    return format_datetime(datetime.fromisoformat(stamp.replace("Z", "+00:00")))


class _Hashing:
    def __init__(self, raw: BinaryIO):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.raw.write(data)


def build_zip(manifest: Mapping[str, Any], files: Iterable[ZipFileEntry], target: BinaryIO) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST_NAME, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        for entry in files:
            with zf.open(entry.name, "w") as out:
                for chunk in entry.open():
                    out.write(chunk)


def write_rsmf(path: Path, headers: list[tuple[str, str]], body_text: str, manifest: Mapping[str, Any],
               files: Iterable[ZipFileEntry] = ()) -> WrittenFile:
    """Write one .rsmf file (``path.partial`` first, renamed when complete); its sha256 and size."""
    boundary = "=_rsmf_" + uuid.uuid4().hex
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryFile() as zipped:
        build_zip(manifest, files, zipped)
        zipped.seek(0)
        with open(partial, "wb") as raw:
            out = _Hashing(raw)
            out.write(header_lines([*headers, ("MIME-Version", "1.0"),
                                    ("Content-Type", f'multipart/mixed; boundary="{boundary}"')]))
            out.write(b"\r\n")
            out.write(f"--{boundary}\r\n".encode("ascii"))
            out.write(b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n')
            text = body_text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
            out.write(quopri.encodestring(text).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            out.write(f"\r\n--{boundary}\r\n".encode("ascii"))
            out.write(f'Content-Type: application/octet-stream; name="{ZIP_NAME}"\r\n'
                      f'Content-Disposition: attachment; filename="{ZIP_NAME}"\r\n'
                      "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii"))
            while chunk := zipped.read(CHUNK):
                encoded = base64.encodebytes(chunk)  # 76-character lines ending in \n
                out.write(encoded.replace(b"\n", b"\r\n"))
            out.write(f"--{boundary}--\r\n".encode("ascii"))
            raw.flush()
            os.fsync(raw.fileno())
    os.replace(partial, path)
    return WrittenFile(path, out.sha.hexdigest(), out.size)
