"""The audit records of records management, kept in the archive container beside the records (create-only,
sealed like every blob the archive writes; docs/archive-format.md, section 14):

    holds/<matter_id>/<yyyymmddTHHMMSSffffffZ>-<place|release>-<sha12>.json.lz4
    dispositions/<yyyymmddTHHMMSSffffffZ>-<part>-<sha12>.json.lz4
    rehydrations/<yyyymmddTHHMMSSffffffZ>-<sha12>.json.lz4

``matter_id`` is the first 16 hex digits of the sha256 of the matter's name: a matter's name may name a person,
and no personal data goes into a blob name or tag.  Dispositions are signed with the seal's signer when one is
configured (``signature``: ES256 over the canonical JSON of the document without ``signature``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from archiving.timefmt import iso

HOLD_ROOT, DISPOSITION_ROOT, REHYDRATION_ROOT = "holds/", "dispositions/", "rehydrations/"
ROOTS = (HOLD_ROOT, DISPOSITION_ROOT, REHYDRATION_ROOT)  # kept for good: never held, tiered or disposed
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
    import base64

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


def now_text(now: datetime) -> str:
    return iso(now)  # type: ignore[return-value]
