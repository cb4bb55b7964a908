"""The one reading path of the read side: every blob it yields has been checked; damage is named, not raised.

Every command that reads the archive (show, export, find, reconcile, verify, replay of dead letters and of
the rejected container, RSMF export, roll-ups) reads through ``read_verified`` (or ``verify_each``, the
same checks with every outcome in order).  A blob that fails a check is not yielded: it is added to the
caller's ``Findings`` with the reason, and reading goes on with the next blob.

Checks of an archive blob (under ``chat/``), in this order; the first failure decides:

1. it can be downloaded (``unreadable``: gone since listed, in the Archive tier);
2. its LZ4 frame decodes to the end, with the frame's own content checksum (``unreadable``);
3. its ``sha256`` metadata is there (``invalid``) and equals the SHA-256 of the decoded bytes (``corrupt``);
4. the bytes are UTF-8 JSON (CSV for ``.csv.lz4`` transcripts) (``unreadable``);
5. the document passes the JSON Schema of its kind (``invalid``);
6. the document agrees with its name: kind and area, thread, message, version, action, month
   (``invalid``); a CSV transcript has the transcript header, rows of its width and its thread's id;
7. the blob index tags agree with the document (``tags``): missing tags, or a ``kind``, ``thread``,
   ``at``, ``sender`` or ``participant`` that the document contradicts.  A tag problem does not make
   the content wrong: the blob IS yielded (with ``warnings``) and recorded in ``Findings.warnings``,
   because the tag index is how ``export`` and ``find`` find blobs: a missing or wrong tag hides a
   blob from them.

Blobs under another root than ``chat/`` (other channels' layouts) get the checks 1 to 5 (the schema
when the package ships one for their ``kind``) and a check that they have tags at all.

What no check of a single blob can detect: content changed AND its ``sha256`` metadata recomputed
(and tags rewritten to match).  That takes a record of the hashes kept apart from the blobs (the
sealed log of a later issue).

CSV transcripts are yielded with ``document=None`` and the decoded text in ``text``.  Blobs of the
rejected container (``profile="rejected"``) are plain JSON with the rejection schema; dead-letter blobs
(``profile="deadletter"``) are Event Grid's own JSON (no schema; ``sha256`` checked when present).
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiving.read.scan import WORKERS, ordered_map
from archiving.store import keys
from archiving.store import schemas

CORRUPT, UNREADABLE, INVALID, TAGS = "corrupt", "unreadable", "invalid", "tags"
PROFILES = ("archive", "rejected", "deadletter")
MAX_ERRORS = 3  # schema errors reported per blob

_AREA_KIND = {"messages": "message", "thread": "thread", "transcripts": "transcript"}


@dataclass(frozen=True)
class VerifiedBlob:
    """A blob that passed every check: its parsed document and the sha256 computed from what was read."""

    name: str
    document: Any  # the parsed JSON; None for a CSV transcript (see ``text``)
    sha256: str  # hex sha256 of the uncompressed content, computed from the bytes read (equals the metadata)
    size: int  # stored (compressed) bytes
    metadata: Mapping[str, str]
    text: str | None = None  # CSV transcripts: the decoded CSV text
    tags: Mapping[str, str] | None = None  # the blob index tags as read (None when not read)
    warnings: tuple[str, ...] = ()  # tag problems: the content is sound, the index is not

    @property
    def hash_key_id(self) -> str | None:
        """Fingerprint of the hash key that wrote the record (metadata ``hash_key_id``; absent on old records)."""
        return self.metadata.get("hash_key_id")


@dataclass(frozen=True)
class Damage:
    name: str
    reason: str  # "<kind>: <detail>", kind one of corrupt | unreadable | invalid | tags

    @property
    def kind(self) -> str:
        head = self.reason.split(":", 1)[0]
        return head if head in (CORRUPT, UNREADABLE, INVALID, TAGS) else INVALID

    @property
    def detail(self) -> str:
        head, _, rest = self.reason.partition(": ")
        return rest if head in (CORRUPT, UNREADABLE, INVALID, TAGS) and rest else self.reason

    def line(self) -> str:
        """kind, blob, detail: tab-separated, each through ``safe.terminal`` (names and details quote stored text)."""
        from archiving.read.safe import terminal

        return f"{self.kind}\t{terminal(self.name)}\t{terminal(self.detail)}"


@dataclass
class Findings:
    """Damaged blobs met while reading (left out), and tag warnings (read, but hidden from tag searches).

    Thread-safe; in the order met.
    """

    items: list[Damage] = field(default_factory=list)
    warnings: list[Damage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, reason: str) -> None:
        with self._lock:
            self.items.append(Damage(name, reason))

    def warn(self, name: str, reason: str) -> None:
        with self._lock:
            self.warnings.append(Damage(name, reason))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def any(self) -> bool:
        """Anything to report (damage or tag warnings): the command exits 1."""
        return bool(self.items or self.warnings)

    def report(self, stream: Any) -> None:
        """One line per damaged blob and per tag warning, tab-separated: kind, blob, detail."""
        for damage in (*self.items, *self.warnings):
            print(damage.line(), file=stream, flush=True)

    def summary(self) -> str:
        parts = []
        if self.items:
            parts.append(f"{len(self.items)} damaged blob(s) left out")
        if self.warnings:
            parts.append(f"{len(self.warnings)} blob(s) with missing or wrong index tags")
        return ", ".join(parts)


# -- the hash key's fingerprint ------------------------------------------------------------------------


def key_id(hash_key: bytes) -> str:
    """A short public fingerprint of ARCHIVE_HASH_KEY (``archiving.store.records.key_id``)."""
    from archiving.store.records import key_id as _key_id

    return _key_id(hash_key)


# -- the checks of one blob, without I/O ---------------------------------------------------------------


def _content(name: str, data: bytes, metadata: Mapping[str, str]) -> tuple[bytes, str] | Damage:
    """Checks 2 and 3: the lz4 frame decodes whole, and its content hashes to the ``sha256`` metadata."""
    raw, problem = _decode_lz4(data)
    if problem:
        return Damage(name, f"{UNREADABLE}: {problem}")
    expected = metadata.get("sha256")
    if not expected:
        return Damage(name, f"{INVALID}: no sha256 metadata: its integrity cannot be checked")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected.lower():
        return Damage(name, f"{CORRUPT}: sha256 of the content is {digest}, the metadata says {expected}")
    return raw, digest


def _decode_lz4(data: bytes) -> tuple[bytes | None, str | None]:
    import lz4.frame

    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        raw = decompressor.decompress(data)
    except Exception as exc:  # noqa: BLE001 - lz4 raises RuntimeError and others on damaged frames
        message = str(exc)
        if "incomplete" in message.lower():
            return None, "the lz4 frame is truncated"
        return None, f"not a valid lz4 frame ({message})"
    if not decompressor.eof:
        return None, "the lz4 frame is truncated"
    if decompressor.unused_data:
        return None, "bytes after the end of the lz4 frame"
    return raw, None


def name_problems(info: keys.KeyInfo, doc: Mapping[str, Any]) -> list[str]:
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


def _check_csv(info: keys.KeyInfo, raw: bytes) -> tuple[str | None, str | None]:
    """(text, None) for a sound CSV transcript, else (None, reason)."""
    from archiving.threads.transcripts import CSV_HEADER

    if info.area != "transcripts":
        return None, f"{INVALID}: a CSV outside transcripts/"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{UNREADABLE}: not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(rows, None)
        width = len(CSV_HEADER)
        if tuple(header or ()) != tuple(CSV_HEADER):
            return None, f"{INVALID}: CSV header differs from the transcript format"
        for number, row in enumerate(rows, 2):
            if len(row) != width:
                return None, f"{INVALID}: CSV row {number} has {len(row)} fields, expected {width}"
            if row[0] != info.thread_id:
                return None, f"{INVALID}: CSV row {number} names another thread than the blob name"
    except csv.Error as exc:
        return None, f"{UNREADABLE}: not valid CSV ({exc})"
    return text, None


def expected_tags(info: keys.KeyInfo, doc: Mapping[str, Any] | None, hash_key: bytes | None = None) -> dict[str, Any]:
    """The tags the archiver writes for this blob, from its name and document.

    Values are strings, or a callable checking the tag's value; the ``sender`` and ``participant``
    of thread records need the hash key (``None``: only their presence and the name's suffix are checked).
    """
    from archiving.store.records import user_hash

    kind = _AREA_KIND[info.area]
    tags: dict[str, Any] = {"kind": kind, "thread": keys.thread_tag(info.thread_id)}
    if info.area == "transcripts":
        stem = info.name.split(".", 1)[0]
        if stem.isdigit():
            tags["at"] = lambda v, ms=int(stem): _ms(v) == ms
        return tags
    if doc is None:
        return tags
    if kind == "message":
        tags["at"] = doc.get("deleted_at") or doc.get("edited_at") or doc.get("composed_at")
        tags["sender"] = doc.get("sender_hash")  # None: no sender tag
    else:
        tags["at"] = doc.get("occurred_at")
        actor = doc.get("actor") or {}
        if actor.get("raw_id"):
            tags["sender"] = user_hash(hash_key, actor["raw_id"]) if hash_key else (lambda v: bool(v))
        else:
            tags["sender"] = None
        if str(doc.get("action") or "").startswith("participant-"):
            people = doc.get("participants") or [{}]
            suffix = info.name.split(".conflict-", 1)[0].removesuffix(".json.lz4").rsplit("-", 1)[-1]
            if hash_key and people[0].get("raw_id"):
                tags["participant"] = user_hash(hash_key, people[0]["raw_id"])
            else:
                tags["participant"] = lambda v, s=suffix: bool(v) and v[:16] == s
    return tags


def _ms(value: str) -> int | None:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, AttributeError):
        return None


def tag_problems(expected: Mapping[str, Any], tags: Mapping[str, str] | None) -> list[str]:
    if not tags:
        return ["no blob index tags: tag searches (export, find) miss this blob"]
    problems = []
    for name, want in expected.items():
        have = tags.get(name)
        if want is None:
            if have is not None:
                problems.append(f"tag {name} is set, the document has none")
        elif have is None:
            problems.append(f"tag {name} is missing")
        elif callable(want):
            if not want(have):
                problems.append(f"tag {name} disagrees with the document")
        elif name == "thread" and have != want:
            problems.append("tag thread names another thread")
        elif have != want:
            problems.append(f"tag {name} is {have!r}, the document says {want!r}")
    return problems


def check(name: str, data: bytes, metadata: Mapping[str, str], tags: Mapping[str, str] | None = None,
          *, profile: str = "archive", hash_key: bytes | None = None, check_tags: bool = False) -> VerifiedBlob | Damage:
    """Every check of one blob read whole, without I/O (tags only with ``check_tags``)."""
    if profile != "archive":
        return _check_plain(name, data, metadata, profile)
    if name.startswith(ACK_ROOT):
        return _check_ack(name, data, metadata, tags, check_tags)
    if name.startswith("outbound/attachments/"):
        return _check_by_content_hash(name, name[len("outbound/attachments/"):].removesuffix(".lz4"), data, metadata,
                                      tags)
    if name.startswith("outbound/"):
        return _check_outbound(name, data, metadata, tags, check_tags)
    if name.startswith("call/"):  # calls: read/call_verify.py
        from archiving.calls.layout import parse_call_key

        call = parse_call_key(name)
        if call is None:
            return Damage(name, f"{INVALID}: not an archive blob name (see docs/archive-format.md, section 15)")
        if call.area == "media":  # read whole here; _fetch streams them instead
            return _check_call_media(name, call.name, [data], metadata)
        return _check_call_record(name, call, _check_generic(name, data, metadata, tags, check_tags))
    channel = keys.parse_channel_key(name)
    if channel is not None:
        key = hash_key if hash_key and metadata.get("hash_key_id") == key_id(hash_key) else None
        return _check_channel(name, channel, data, metadata, tags, check_tags, key)
    info = keys.parse_key(name)
    is_csv = name.endswith(".csv.lz4")
    if info is None and not name.startswith(keys.ROOT) and (name.endswith(".json.lz4") or is_csv):
        return _check_generic(name, data, metadata, tags, check_tags)
    if info is None or not (name.endswith(".json.lz4") or is_csv):
        return Damage(name, f"{INVALID}: not an archive blob name (see docs/archive-format.md)")
    content = _content(name, data, metadata)
    if isinstance(content, Damage):
        return content
    raw, digest = content
    text = None
    document: Any = None
    if is_csv:
        text, problem = _check_csv(info, raw)
        if problem:
            return Damage(name, problem)
    else:
        try:
            import orjson

            document = orjson.loads(raw)
        except Exception as exc:  # noqa: BLE001 - orjson.JSONDecodeError, and UTF-8 errors within it
            return Damage(name, f"{UNREADABLE}: not JSON ({exc})")
        errors = schemas.errors(document)
        if errors:
            more = f" (+{len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
            return Damage(name, f"{INVALID}: schema: " + "; ".join(errors[:MAX_ERRORS]) + more)
        problems = name_problems(info, document)
        if problems:
            return Damage(name, f"{INVALID}: " + "; ".join(problems))
    warnings: tuple[str, ...] = ()
    if check_tags:
        # The user hashes in thread tags can be recomputed only with the key that wrote them.
        key = hash_key if hash_key and metadata.get("hash_key_id") == key_id(hash_key) else None
        warnings = tuple(tag_problems(expected_tags(info, document, key), tags))
    return VerifiedBlob(name, document, digest, len(data), dict(metadata), text=text,
                        tags=dict(tags) if tags is not None else None, warnings=warnings)


def _check_channel(name: str, info: Any, data: bytes, metadata: Mapping[str, str], tags: Mapping[str, str] | None,
                   check_tags: bool, hash_key: bytes | None = None) -> VerifiedBlob | Damage:
    """An SMS, WhatsApp or email blob (docs/archive-format.md, section 13): a record (checks 1 to 5, then its
    name against its document), or a media item (an lz4 frame of the bytes, named by their sha256)."""
    if info.area != "media":
        result = _check_generic(name, data, metadata, tags, check_tags)
        if isinstance(result, VerifiedBlob) and isinstance(result.document, dict):
            from archiving.read.channel_verify import name_problems

            problems = name_problems(info, result.document, hash_key)
            if problems:
                return Damage(name, f"{INVALID}: " + "; ".join(problems))
        return result
    return _check_by_content_hash(name, info.name, data, metadata, tags)


def _check_by_content_hash(name: str, expected: str, data: bytes, metadata: Mapping[str, str],
                           tags: Mapping[str, str] | None) -> VerifiedBlob | Damage:
    """Media and outbound attachments: an lz4 frame of the bytes, named by their sha256."""
    import re

    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        return Damage(name, f"{INVALID}: not an archive blob name (see docs/archive-format.md)")
    content = _content(name, data, metadata)
    if isinstance(content, Damage):
        return content
    digest = content[1]
    if digest != expected:
        return Damage(name, f"{CORRUPT}: sha256 of the content is {digest}, the name says {expected}")
    return VerifiedBlob(name, None, digest, len(data), dict(metadata), tags=dict(tags) if tags is not None else None)


def _check_generic(name: str, data: bytes, metadata: Mapping[str, str], tags: Mapping[str, str] | None,
                   check_tags: bool) -> VerifiedBlob | Damage:
    """A blob under another root than chat/ (another channel's layout): frame, sha256, JSON or UTF-8 text,
    and the schema of its kind when the package ships one.  Name and tag rules belong to that layout."""
    import orjson

    content = _content(name, data, metadata)
    if isinstance(content, Damage):
        return content
    raw, digest = content
    if name.endswith(".csv.lz4"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Damage(name, f"{UNREADABLE}: not UTF-8 ({exc.reason} at byte {exc.start})")
        return VerifiedBlob(name, None, digest, len(data), dict(metadata), text=text,
                            tags=dict(tags) if tags is not None else None)
    try:
        document = orjson.loads(raw)
    except Exception as exc:  # noqa: BLE001
        return Damage(name, f"{UNREADABLE}: not JSON ({exc})")
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind in schemas.KINDS or (schemas.SCHEMA_DIR / f"{kind}.schema.json").exists():
        try:
            fast = schemas.fast_validator(kind)
            errors = [] if fast is not None and fast.is_valid(document) else [
                f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in schemas.validator(kind).iter_errors(document)]
        except Exception:  # noqa: BLE001 - a schema this release cannot load: nothing to check against
            errors = []
        if errors:
            return Damage(name, f"{INVALID}: schema: " + "; ".join(errors[:MAX_ERRORS]))
    warnings = ("no blob index tags: tag searches miss this blob",) if check_tags and not tags else ()
    return VerifiedBlob(name, document, digest, len(data), dict(metadata),
                        tags=dict(tags) if tags is not None else None, warnings=warnings)


def _check_outbound(name: str, data: bytes, metadata: Mapping[str, str], tags: Mapping[str, str] | None,
                    check_tags: bool) -> VerifiedBlob | Damage:
    """An outbound record (message, outcome, marker, link, index): checks 1 to 5 with the outbound schema,
    its name, and (with ``check_tags``) its index tags."""
    from archiving.read import outbound_verify

    if not name.endswith(".json.lz4"):
        return Damage(name, f"{INVALID}: not an archive blob name (see docs/outbound.md)")
    result = _check_generic(name, data, metadata, tags, False)
    if isinstance(result, Damage):
        return result
    problems = outbound_verify.document_problems(name, result.document)
    if problems:
        return Damage(name, f"{INVALID}: " + "; ".join(problems))
    warnings = tuple(outbound_verify.tag_problems(result.document, tags)) if check_tags else ()
    return VerifiedBlob(name, result.document, result.sha256, result.size, result.metadata, tags=result.tags,
                        warnings=warnings)


ACK_ROOT = "acks/"  # acknowledged reconcile gaps: acks/<thread_id>/<ms>-<sha12>.json.lz4


def _check_ack(name: str, data: bytes, metadata: Mapping[str, str], tags: Mapping[str, str] | None,
               check_tags: bool) -> VerifiedBlob | Damage:
    import orjson

    parts = name[len(ACK_ROOT):].split("/")
    if len(parts) != 2 or not parts[1].endswith(".json.lz4"):
        return Damage(name, f"{INVALID}: not an archive blob name (see docs/archive-format.md)")
    content = _content(name, data, metadata)
    if isinstance(content, Damage):
        return content
    raw, digest = content
    try:
        document = orjson.loads(raw)
    except Exception as exc:  # noqa: BLE001
        return Damage(name, f"{UNREADABLE}: not JSON ({exc})")
    errors = schemas.errors(document)
    if errors:
        return Damage(name, f"{INVALID}: schema: " + "; ".join(errors[:MAX_ERRORS]))
    if document.get("kind") != "ack" or document.get("thread_id") != parts[0]:
        return Damage(name, f"{INVALID}: thread_id differs from the name")
    warnings: tuple[str, ...] = ()
    if check_tags:
        want = {"kind": "ack", "thread": keys.thread_tag(parts[0]), "at": document.get("acknowledged_at")}
        warnings = tuple(tag_problems(want, tags))
    return VerifiedBlob(name, document, digest, len(data), dict(metadata),
                        tags=dict(tags) if tags is not None else None, warnings=warnings)


def _check_plain(name: str, data: bytes, metadata: Mapping[str, str], profile: str) -> VerifiedBlob | Damage:
    """Rejections (plain JSON, rejection schema) and Event Grid dead letters (plain JSON)."""
    import json

    digest = hashlib.sha256(data).hexdigest()
    expected = metadata.get("sha256")
    if expected and digest != expected.lower():
        return Damage(name, f"{CORRUPT}: sha256 of the content is {digest}, the metadata says {expected}")
    if b"\x00" in data[:8192]:
        return Damage(name, f"{UNREADABLE}: binary content, not JSON")
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        return Damage(name, f"{UNREADABLE}: not UTF-8 ({exc.reason} at byte {exc.start})")
    except ValueError as exc:
        return Damage(name, f"{UNREADABLE}: not JSON ({exc})")
    if profile == "rejected":
        if not isinstance(document, dict) or "reason" not in document:
            return Damage(name, f"{INVALID}: not a rejection document")
        errors = schemas.errors(document)
        if errors:
            return Damage(name, f"{INVALID}: schema: " + "; ".join(errors[:MAX_ERRORS]))
    return VerifiedBlob(name, document, digest, len(data), dict(metadata))


# -- calls: the rules are read/call_verify.py's; the checks that make Damage and VerifiedBlob are here ----


def _check_call_record(name: str, info: Any, result: Any) -> Any:
    """A record that passed the generic checks, held against its name and tags."""
    if not isinstance(result, VerifiedBlob) or not isinstance(result.document, Mapping):
        return result
    from archiving.read.call_verify import name_problems, tag_problems

    problems = name_problems(info, result.document)
    if problems:
        return Damage(name, f"{INVALID}: " + "; ".join(problems))
    if result.tags is not None or result.warnings:
        import dataclasses

        return dataclasses.replace(result, warnings=tuple(tag_problems(result.document, result.tags)))
    return result


def _fetch_call_media(store: Any, name: str, digest_hex: str) -> Any:
    """A recording chunk read in blocks and hashed: the sha256 of its bytes must be its name."""
    downloader = store.container.download_blob(name)
    return _check_call_media(name, digest_hex, downloader.chunks(), dict(downloader.properties.metadata or {}))


def _check_call_media(name: str, digest_hex: str, blocks: Any, metadata: Mapping[str, str]) -> Any:
    digest, size = hashlib.sha256(), 0
    for block in blocks:
        digest.update(block)
        size += len(block)
    sha = digest.hexdigest()
    if sha != digest_hex:
        return Damage(name, f"{CORRUPT}: sha256 of the content is {sha}, the name says {digest_hex}")
    if metadata.get("sha256") and metadata["sha256"] != sha:
        return Damage(name, f"{CORRUPT}: sha256 metadata {metadata['sha256']} differs from the content's {sha}")
    return VerifiedBlob(name, None, sha, size, metadata)


# -- reading -----------------------------------------------------------------------------------------


def _fetch(store: Any, item: Any, profile: str, hash_key: bytes | None, check_tags: bool) -> VerifiedBlob | Damage:
    """Download and check one blob. ``item`` is a name, or a listed blob (``scan.Listed``: a listing with
    ``include=["tags", "metadata"]``) whose tags come from the listing: no request per blob for them."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    name = item if isinstance(item, str) else item.name
    try:
        if name.startswith("call/media/"):  # a recording chunk: hashed in blocks (read/call_verify.py)
            from archiving.calls.layout import parse_call_key

            media = parse_call_key(name)
            if media is not None:
                return _fetch_call_media(store, name, media.name)
        data, metadata = store.read_raw(name)
        tags = None
        if check_tags:
            tags = item.tags if not isinstance(item, str) else store.container.get_blob_client(name).get_blob_tags()
    except ResourceNotFoundError:
        return Damage(name, f"{UNREADABLE}: listed, but gone when read")
    except HttpResponseError as exc:
        code = str(getattr(exc, "error_code", None) or "")
        if code == "BlobArchived":
            return Damage(name, f"{UNREADABLE}: in the Archive tier: rehydrate it to read it")
        if exc.status_code in (409, 416):
            return Damage(name, f"{UNREADABLE}: download refused ({code or exc.status_code})")
        raise  # authorization, throttling beyond retries, outages: the command fails (exit 4)
    return check(name, data, metadata, tags, profile=profile, hash_key=hash_key, check_tags=check_tags)


def verify_each(store: Any, names: Iterable[Any], workers: int = WORKERS, *, profile: str = "archive",
                hash_key: bytes | None = None, check_tags: bool | None = None) -> Iterator[VerifiedBlob | Damage]:
    """Each named blob checked, in order: a VerifiedBlob (perhaps with tag warnings) or the Damage.

    Tags are checked for archive blobs unless ``check_tags=False``: from the listing when ``names`` holds
    listed blobs (``scan.list_indexed``), else one more request per blob.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r}: choose from {', '.join(PROFILES)}")
    tags = (profile == "archive") if check_tags is None else (check_tags and profile == "archive")
    return ordered_map(lambda name: _fetch(store, name, profile, hash_key, tags), names, workers)


def read_verified(store: Any, names: Iterable[str], findings: Findings, workers: int = WORKERS, *,
                  profile: str = "archive", hash_key: bytes | None = None,
                  check_tags: bool | None = None) -> Iterator[VerifiedBlob]:
    """Each named blob that passes every check, in order; the others go to ``findings``.

    A blob whose content is sound but whose index tags are missing or wrong is yielded (its
    ``warnings`` say what) and also recorded with ``findings.warn``.
    """
    for result in verify_each(store, names, workers, profile=profile, hash_key=hash_key, check_tags=check_tags):
        if isinstance(result, Damage):
            findings.add(result.name, result.reason)
        else:
            for warning in result.warnings:
                findings.warn(result.name, f"{TAGS}: {warning}")
            yield result
