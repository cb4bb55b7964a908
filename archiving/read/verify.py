"""Reading every blob back and checking it: integrity (sha256), the lz4 frame, the JSON Schema.

Problems fall in three kinds:

- ``corrupt``: the bytes are not the ones written (the sha256 of the content differs from the
  blob's ``sha256`` metadata);
- ``unreadable``: the blob cannot be read or decoded (download refused, e.g. in the Archive tier;
  not an lz4 frame or a truncated one; not UTF-8 JSON or CSV);
- ``invalid``: it reads, but is not what the archive format says (no sha256 metadata, a name
  outside the layout, a document failing its JSON Schema or disagreeing with its name).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from archiving.store import keys
from archiving.store import schemas
from archiving.read.scan import WORKERS, ordered_map

log = logging.getLogger("archiving.read.verify")

CORRUPT, UNREADABLE, INVALID = "corrupt", "unreadable", "invalid"
MAX_ERRORS = 3  # schema errors reported per blob

_AREA_KIND = {"messages": "message", "thread": "thread", "transcripts": "transcript"}


@dataclass(frozen=True)
class Finding:
    name: str
    problem: str  # corrupt | unreadable | invalid
    detail: str

    def line(self) -> str:
        return f"{self.problem}\t{self.name}\t{self.detail}"


def _download(store: Any, name: str) -> tuple[Any, Finding | None]:
    from azure.core.exceptions import HttpResponseError

    try:
        return store.container.download_blob(name), None
    except HttpResponseError as exc:
        code = getattr(exc, "error_code", None) or getattr(exc, "status_code", "")
        if str(code) == "BlobArchived":
            return None, Finding(name, UNREADABLE, "in the Archive tier: rehydrate it to read it")
        return None, Finding(name, UNREADABLE, f"download failed: {code}")


def _name_problems(info: keys.KeyInfo, doc: dict[str, Any]) -> list[str]:
    """Where a document disagrees with the name it is stored under."""
    problems = []
    if doc.get("kind") != _AREA_KIND[info.area]:
        problems.append(f"kind {doc.get('kind')!r} under {info.area}/")
    if doc.get("thread_id") != info.thread_id:
        problems.append("thread_id differs from the name")
    stem = info.name.split(".conflict-", 1)[0].removesuffix(".json.lz4")
    if info.area == "messages" and doc.get("kind") == "message":
        expected = f"{doc.get('message_id')}/{doc.get('message_version')}-{doc.get('action')}"
        if stem != expected:
            problems.append(f"name says {stem!r}, document says {expected!r}")
        if (doc.get("composed_at") or "")[:7].replace("-", "") != info.month:
            problems.append("composed_at is not in the month of the name")
    elif info.area == "thread" and doc.get("kind") == "thread":
        if not stem.split("-", 1)[-1].startswith(str(doc.get("action"))):
            problems.append(f"name says {stem!r}, document says action {doc.get('action')!r}")
        if (doc.get("occurred_at") or "")[:7].replace("-", "") != info.month:
            problems.append("occurred_at is not in the month of the name")
    return problems


def check_archive_blob(store: Any, name: str) -> Finding | None:
    """None if the blob under chat/ is sound, else the first problem found."""
    import lz4.frame
    import orjson

    if name.startswith(("sms/", "whatsapp/", "email/")):
        from archiving.read.channel_verify import check_channel_blob

        return check_channel_blob(store, name)
    info = keys.parse_key(name)
    if info is None or not (name.endswith(".json.lz4") or name.endswith(".csv.lz4")):
        return Finding(name, INVALID, "not an archive blob name (see docs/archive-format.md)")
    downloader, finding = _download(store, name)
    if finding:
        return finding
    expected = (downloader.properties.metadata or {}).get("sha256")
    digest = hashlib.sha256()
    decompressor = lz4.frame.LZ4FrameDecompressor()
    parts: list[bytes] = []
    try:
        for chunk in downloader.chunks():
            data = decompressor.decompress(chunk)
            digest.update(data)
            parts.append(data)
    except RuntimeError as exc:
        return Finding(name, UNREADABLE, f"not a valid lz4 frame ({exc})")
    if not decompressor.eof:
        return Finding(name, UNREADABLE, "the lz4 frame is truncated")
    if not expected:
        return Finding(name, INVALID, "no sha256 metadata: its integrity cannot be checked")
    if digest.hexdigest() != expected.lower():
        return Finding(name, CORRUPT, f"sha256 of the content is {digest.hexdigest()}, the metadata says {expected}")
    raw = b"".join(parts)
    if name.endswith(".csv.lz4"):
        return _check_csv(name, info, raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Finding(name, UNREADABLE, f"not JSON ({exc})")
    errors = schemas.errors(doc)
    if errors:
        more = f" (+{len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        return Finding(name, INVALID, "schema: " + "; ".join(errors[:MAX_ERRORS]) + more)
    problems = _name_problems(info, doc)
    if problems:
        return Finding(name, INVALID, "; ".join(problems))
    return None


def _check_csv(name: str, info: keys.KeyInfo, raw: bytes) -> Finding | None:
    import csv
    import io

    from archiving.threads.transcripts import CSV_HEADER

    if info.area != "transcripts":
        return Finding(name, INVALID, "a CSV outside transcripts/")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Finding(name, UNREADABLE, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(rows, None)
        width = len(CSV_HEADER)
        for number, row in enumerate(rows, 2):
            if len(row) != width:
                return Finding(name, INVALID, f"CSV row {number} has {len(row)} fields, expected {width}")
    except csv.Error as exc:
        return Finding(name, UNREADABLE, f"not valid CSV ({exc})")
    if tuple(header or ()) != tuple(CSV_HEADER):
        return Finding(name, INVALID, "CSV header differs from the transcript format")
    return None


def check_rejection_blob(store: Any, name: str) -> Finding | None:
    """A blob of the rejected container: plain JSON with the rejection schema (sha256 metadata when present)."""
    import json

    downloader, finding = _download(store, name)
    if finding:
        return finding
    raw = downloader.readall()
    expected = (downloader.properties.metadata or {}).get("sha256")
    if expected and hashlib.sha256(raw).hexdigest() != expected.lower():
        return Finding(name, CORRUPT, "sha256 of the content differs from the metadata")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return Finding(name, UNREADABLE, f"not JSON ({exc})")
    if not isinstance(doc, dict) or "reason" not in doc:
        return Finding(name, INVALID, "not a rejection document")
    errors = schemas.errors(doc)
    if errors:
        return Finding(name, INVALID, "schema: " + "; ".join(errors[:MAX_ERRORS]))
    return None


def verify(store: Any, names: Iterable[str], rejected: bool = False, workers: int = WORKERS,
           ) -> Iterator[tuple[str, Finding | None]]:
    """(name, finding or None) for each name, in order, blobs read in parallel."""
    check = check_rejection_blob if rejected else check_archive_blob

    def one(name: str) -> tuple[str, Finding | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return name, check(store, name)
        except ResourceNotFoundError:
            return name, Finding(name, UNREADABLE, "listed, but gone when read")

    yield from ordered_map(one, names, workers)
