"""The audit records of records management, kept in the archive container beside the records (create-only,
sealed like every blob the archive writes; docs/archive-format.md, section 14):

    holds/<matter_id>/<yyyymmddTHHMMSSffffffZ>-<place|release>-<sha12>.json.lz4
    dispositions/<yyyymmddTHHMMSSffffffZ>-<part>-<sha12>.json.lz4
    rehydrations/<yyyymmddTHHMMSSffffffZ>-<sha12>.json.lz4

``matter_id`` is the first 16 hex digits of the sha256 of the matter's name: a matter's name may name a person,
and no personal data goes into a blob name or tag.  Dispositions are signed with the seal's signer when one is
configured (``signature``: ES256 over the canonical JSON of the document without ``signature``).

``python -m archiving audit`` shows them (:func:`entries`, :func:`summary`): a damaged one is named and left out
there, where disposal (:func:`read_all`) stops on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiving.timefmt import iso

HOLD_ROOT, DISPOSITION_ROOT, REHYDRATION_ROOT = "holds/", "dispositions/", "rehydrations/"
ROOTS = (HOLD_ROOT, DISPOSITION_ROOT, REHYDRATION_ROOT)  # kept for good: never held, tiered or disposed
KINDS = {"hold": HOLD_ROOT, "disposition": DISPOSITION_ROOT, "rehydration": REHYDRATION_ROOT}
VALID, UNSIGNED, NOT_CHECKED = "valid", "unsigned", "not checked (no seal key configured)"
SCHEMA_VERSION = 1


class DamagedAuditRecord(ValueError):
    """An audit record cannot be read or checked: nothing that depends on it (disposal) may go on."""


def matter_id(matter: str) -> str:
    return hashlib.sha256(matter.encode("utf-8")).hexdigest()[:16]


def stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%fZ")


def canonical(document: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write(store: Any, prefix: str, document: dict[str, Any], tags: Mapping[str, str]) -> str:
    """Write the document create-only under ``prefix`` + ``-<sha12>.json.lz4``; its blob name."""
    from archiving.store import codec

    encoded = codec.encode(document)
    name = f"{prefix}-{encoded.sha256[:12]}.json.lz4"
    if not store.create_blob(name, encoded.data, {"sha256": encoded.sha256}, dict(tags)):
        raise RuntimeError(f"{name} exists already: an audit record is never overwritten")
    return name


def read_all(store: Any, root: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, document) of every audit record under ``root``, in name (= time) order, each checked (sha256,
    schema); a damaged one raises DamagedAuditRecord naming it."""
    return read_all_named(store, sorted(store.list_names(root)), root)


def read_all_named(store: Any, names: list[str], root: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    from archiving.read.verified import Findings, read_verified

    findings = Findings()
    for blob in read_verified(store, names, findings, check_tags=False):
        yield blob.name, blob.document
    if findings.items:
        d = findings.items[0]
        raise DamagedAuditRecord(f"audit record {d.name} is damaged ({d.reason}): fix or explain it before "
                                 "holds or disposal can be trusted (python -m archiving verify --prefix "
                                 f"{root})")


def sign(document: dict[str, Any], signer: Any) -> dict[str, Any]:
    import base64

    from archiving.integrity.signing import ALGORITHM

    body = {k: v for k, v in document.items() if k != "signature"}
    value = signer.sign(canonical(body))
    return dict(document, signature={"alg": ALGORITHM, "key_id": signer.key_id,
                                     "value": base64.b64encode(value).decode("ascii")})


def check_signature(document: Mapping[str, Any], keys: Mapping[str, bytes]) -> str | None:
    """None if the document carries a valid signature of one of ``keys`` (key id -> public PEM), else why not."""

    from archiving.integrity.signing import verify_signature

    sig = document.get("signature")
    if not isinstance(sig, Mapping):
        return "not signed"
    pem = keys.get(sig.get("key_id"))
    if pem is None:
        return f"signed by key {str(sig.get('key_id'))[:16]}…, not a trusted key"
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        ok = verify_signature(pem, canonical(body), sig.get("value", ""))
    except (ValueError, TypeError):
        ok = False
    return None if ok else "the signature does not verify"


@dataclass(frozen=True)
class Entry:
    """One audit record as ``audit`` shows it: its blob, the sha256 of its content, its document and, for a
    disposition, its signature status (``VALID``, ``UNSIGNED``, ``NOT_CHECKED`` or why it does not verify)."""

    name: str
    kind: str
    sha256: str
    document: dict[str, Any]
    signature: str | None = None

    @property
    def at(self) -> str:
        return self.document["at"]

    @property
    def bad_signature(self) -> bool:
        """Signed, and the signature does not verify against a configured key: a finding."""
        return self.signature not in (None, VALID, UNSIGNED, NOT_CHECKED)


def signature_status(document: Mapping[str, Any], keys: Mapping[str, bytes]) -> str:
    """What ``audit`` says of a disposition's signature.  Unsigned is not a finding: dispositions written
    before a seal key was configured carry none (and `verify` does not accept them as excusing a deletion)."""
    if not isinstance(document.get("signature"), Mapping):
        return UNSIGNED
    if not keys:
        return NOT_CHECKED
    return check_signature(document, keys) or VALID


def entries(store: Any, findings: Any, kinds: Iterable[str] = KINDS, start: str | None = None,
            end: str | None = None, keys: Mapping[str, bytes] | None = None) -> list[Entry]:
    """The audit records of ``kinds`` whose ``at`` is in [start, end) (the archive's time text; None: open),
    in time order, each read through the checked path (sha256, schema).  A damaged one goes to ``findings``
    and is left out: showing the others is what an auditor needs (disposal, which must stop, uses read_all)."""
    from archiving.read.verified import read_verified
    from archiving.timefmt import parse_time

    def instant(text: str) -> datetime:
        return parse_time(text, "at")

    from archiving.errors import InvalidEvent

    lo, hi = (instant(start) if start else None), (instant(end) if end else None)
    out = []
    for kind in kinds:
        for blob in read_verified(store, sorted(store.list_names(KINDS[kind])), findings, check_tags=False):
            try:  # the schema checks the shape of at, not that it is a real instant (2026-02-30)
                at = instant(blob.document["at"])
            except InvalidEvent as exc:
                findings.add(blob.name, f"invalid: {exc}")
                continue
            if (lo is None or at >= lo) and (hi is None or at < hi):
                sig = signature_status(blob.document, keys or {}) if kind == "disposition" else None
                out.append((at, Entry(blob.name, kind, blob.sha256, blob.document, sig)))
    return [entry for _, entry in sorted(out, key=lambda pair: (pair[0], pair[1].name))]


def summary(entry: Entry) -> list[str]:
    """The fields of one record's line after its time and kind (stored text as is: the printer makes it safe)."""
    from archiving.retention.scope import Scope

    doc = entry.document
    if entry.kind == "hold":
        scope = Scope.from_dict(doc["scope"]).describe() if doc.get("scope") else "every scope of the matter"
        return [doc["action"], f"matter {doc['matter']}", scope, f"{doc['records']} records", f"by {doc['by']}",
                f"reason {doc['reason']}"]
    if entry.kind == "disposition":
        holds = ", ".join(f"{h['matter_id']} {h['records']}" for h in doc["holds"]) or "none"
        return [f"run {doc['run_id']} part {doc['part']}", f"retention {doc['retention_days']} days",
                f"cutoff {doc['cutoff']}", f"{len(doc['disposed'])} disposed", f"kept by holds: {holds}",
                "signature " + (f"INVALID: {entry.signature}" if entry.bad_signature else entry.signature)]
    scopes = "; ".join(Scope.from_dict(s).describe() for s in doc["scope"]) or "no scope"
    fields = [f"by {doc['by']}", scopes, f"{doc['priority']} priority", f"to {doc['tier']}",
              f"{len(doc['blobs'])} blobs"]
    return fields + ([f"matter {doc['matter_id']}"] if doc.get("matter_id") else [])


def blob_lines(entry: Entry) -> list[str]:
    """The blobs a disposition or rehydration record names, one line each (``--blobs``)."""
    if entry.kind == "disposition":
        return [f"disposed\t{d['name']}\tsha256 {d['sha256'] or '(none)'}\tretention ended {d['retention_ended']}"
                for d in entry.document["disposed"]]
    if entry.kind == "rehydration":
        return [f"rehydrated\t{name}" for name in entry.document["blobs"]]
    return []


def now_text(now: datetime) -> str:
    return iso(now)  # type: ignore[return-value]
