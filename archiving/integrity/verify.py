"""Verifying the seal log: completeness and integrity of the whole archive, and that the log extends a checkpoint
an auditor saved.

For every manifest, in sequence: it exists, parses, its sequence number, origin, previous-manifest hash, interval
and tree size continue the one before; its leaves hash to its root; its checkpoint exists, matches it and carries a
valid signature of a trusted key.  For every leaf: the blob exists, its stored bytes hash to the sealed sha256
(so a rewrite with recomputed metadata and tags is caught), its size and creation time are the sealed ones.  Then
every source is listed: a blob in no manifest is named as unsealed with its creation time, and is a finding if it
was created before the last seal's cut-off.  Memory: one manifest and a bounded window of downloads at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiving.integrity import log as log_mod
from archiving.integrity import merkle
from archiving.integrity.seal import _created, hash_blob
from archiving.integrity.signing import public_key_id, verify_signature
from archiving.integrity.sources import sources
from archiving.read.scan import WORKERS, ordered_map
from archiving.timefmt import iso, parse_time

DELETED, ALTERED, REPLACED = "deleted", "altered", "replaced"
MANIFEST_MISSING, MANIFEST_ALTERED, CHAIN_BROKEN = "manifest-missing", "manifest-altered", "chain-broken"
CHECKPOINT_MISSING, CHECKPOINT_INVALID = "checkpoint-missing", "checkpoint-invalid"
NOT_EXTENDED, UNSEALED_OLD, DUPLICATE_LEAF = "not-extended", "unsealed-before-cutoff", "sealed-twice"
# A blob in no manifest, created in the interval of a missing manifest (its leaf most likely went with it); and the
# count of that manifest's leaves no blob of the archive accounts for any more.
IN_MISSING, LEAVES_LOST = "in-missing-manifest", "leaves-lost"
# Not problems: a sealed blob the product disposed of (a disposition record names it), one in the Archive tier
# (its size and creation time are checked, its bytes cannot be read until it is rehydrated).
DISPOSED, ARCHIVED = "disposed", "archived"
LIST_PAGE = 1000  # blobs per listing page held in memory (the service's maximum, 5,000, costs about 15 MB)


@dataclass(frozen=True)
class Problem:
    kind: str
    subject: str  # a blob (container/name), a manifest or checkpoint name, or "checkpoint FILE"
    detail: str

    def line(self) -> str:
        from archiving.read.safe import terminal  # blob names and details can quote stored text

        return f"{self.kind}\t{terminal(self.subject)}\t{terminal(self.detail)}"


@dataclass
class LogReport:
    problems: list[Problem] = field(default_factory=list)
    unsealed: list[tuple[str, str, str]] = field(default_factory=list)  # (container, name, created)
    manifests: int = 0
    leaves: int = 0
    blobs_ok: int = 0
    tree_size: int = 0
    root_hash: str = merkle.EMPTY_ROOT.hex()
    sealed_to: str | None = None
    trust: str = "configured"  # configured | published (no independent key: see docs/integrity.md)
    notes: list[Problem] = field(default_factory=list)  # DISPOSED and ARCHIVED blobs (not findings)
    saved: str | None = None  # the outcome of --checkpoint

    @property
    def empty(self) -> bool:
        return self.manifests == 0 and not self.problems


def trusted_keys(svc: Any, extra_pems: list[bytes] = ()) -> dict[str, bytes]:
    """The public keys whose signatures count: the configured signer's and any given (an auditor's copies)."""
    keys = {public_key_id(pem): pem for pem in extra_pems}
    settings = svc.settings
    if settings.seal_key_file or settings.seal_key_id:
        from archiving.integrity.signing import signer_from_settings

        signer = signer_from_settings(settings, lambda: svc.credential)
        keys[signer.key_id] = signer.public_pem
    return keys


def check_checkpoint(cp: Any, keys: Mapping[str, bytes]) -> str | None:
    """None if the checkpoint is well-formed and signed by one of ``keys``, else what is wrong."""
    if not isinstance(cp, dict):
        return "not a checkpoint"
    missing = [k for k in ("origin", "seq", "tree_size", "root_hash", "time", "manifest_sha256", "key_id",
                           "signature") if k not in cp]
    if missing:
        return f"missing {', '.join(missing)}"
    pem = keys.get(cp["key_id"])
    if pem is None:
        return f"signed by key {cp['key_id'][:16]}…, which is not a trusted key"
    if not verify_signature(pem, log_mod.checkpoint_body(cp), cp["signature"]):
        return "the signature does not verify"
    return None


def _leaf_problem(leaf: Mapping[str, Any], clients: dict[str, Any], svc: Any,
                  disposed: Callable[[], Mapping[str, str]] = lambda: {}) -> tuple[Problem | None, datetime | None]:
    subject = f"{leaf['container']}/{leaf['name']}"
    client = clients.get(leaf["container"]) or svc.blob_service.get_container_client(leaf["container"])
    clients[leaf["container"]] = client
    try:
        hashed = hash_blob(client, leaf["name"])
    except Exception as exc:  # noqa: BLE001 - only the Archive tier's refusal is expected here
        if getattr(exc, "error_code", None) != "BlobArchived":
            raise
        props = client.get_blob_client(leaf["name"]).get_blob_properties()
        created = _created(props)
        if iso(created) != leaf["created"] or props.size != leaf["size"]:
            return Problem(REPLACED, subject, f"in the Archive tier, created {iso(created)} with {props.size} bytes; "
                                              f"sealed as created {leaf['created']} with {leaf['size']}"), created
        return Problem(ARCHIVED, subject, "in the Archive tier: size and creation time match, the bytes are checked "
                                          "once it is rehydrated"), created
    if hashed is None:
        ended = disposed().get(leaf["name"]) if leaf["container"] == svc.settings.container else None
        if ended:
            return Problem(DISPOSED, subject, f"disposed, retention ended {ended[:10]}"), None
        return Problem(DELETED, subject, f"sealed (created {leaf['created']}), no longer in the archive"), None
    sha, size, created = hashed
    if iso(created) != leaf["created"]:
        return Problem(REPLACED, subject, f"sealed as created {leaf['created']}, the blob now was created "
                                          f"{iso(created)} (deleted and written again)"), created
    if sha != leaf["sha256"] or size != leaf["size"]:
        return Problem(ALTERED, subject, f"stored bytes hash to {sha} ({size} bytes), sealed {leaf['sha256']} "
                                         f"({leaf['size']} bytes)"), created
    return None, created


def verify_log(svc: Any, keys: Mapping[str, bytes] | None = None, saved: Mapping[str, Any] | None = None,
               on_problem: Callable[[Problem], None] | None = None, progress: Any = None,
               workers: int = WORKERS) -> LogReport:
    log: log_mod.SealLog = svc.seal_log
    report = LogReport()

    def problem(kind: str, subject: str, detail: str) -> None:
        p = Problem(kind, subject, detail)
        report.problems.append(p)
        if on_problem:
            on_problem(p)

    if keys is None:
        keys = trusted_keys(svc)
    if not keys:
        keys = log.public_keys()
        report.trust = "published"

    manifest_names = {s: n for n in log.names(log_mod.MANIFESTS) if (s := log_mod.seq_of(n)) is not None}
    checkpoint_names = {s: n for n in log.names(log_mod.CHECKPOINTS) if (s := log_mod.seq_of(n)) is not None}
    last_seq = max([*manifest_names, *checkpoint_names], default=0)
    if last_seq == 0:
        return report  # never sealed

    saved_size = saved_root = None
    hasher = None
    if saved is not None:
        why = check_checkpoint(saved, keys)
        if why:
            problem(CHECKPOINT_INVALID, "checkpoint FILE", why)
        elif saved.get("origin") != log.origin:
            problem(CHECKPOINT_INVALID, "checkpoint FILE", f"of log {saved.get('origin')}, not {log.origin}")
        else:
            saved_size, saved_root = int(saved["tree_size"]), bytes.fromhex(saved["root_hash"])
    root_at_saved: list[bytes] = []
    hasher_broken: list[int] = []

    cr = merkle.CompactRange()
    state = {"prev_sha": None, "prev_to": None, "size": 0}
    gaps: list[dict[str, Any]] = []  # the missing manifests: seq, interval and tree sizes around them

    def leaves() -> Iterator[dict[str, Any]]:
        nonlocal cr
        for seq in range(1, last_seq + 1):
            name = log_mod.manifest_name(seq)
            data = log.read(name) if seq in manifest_names else None
            if data is None:
                problem(MANIFEST_MISSING, name, "the log has a gap here: its leaves cannot be checked")
                gaps.append({"seq": seq, "name": name, "from": state["prev_to"], "to": None,
                             "size_before": state["size"], "size_after": None})
                state["prev_sha"] = state["prev_to"] = None
                cr = None  # type: ignore[assignment]
                continue
            sha = hashlib.sha256(data).hexdigest()
            try:
                doc = json.loads(data)
                items = doc["leaves"]
                for leaf in items:
                    log_mod.leaf_bytes(leaf)
            except (ValueError, KeyError, TypeError) as exc:
                problem(MANIFEST_ALTERED, name, f"not a readable manifest ({exc.__class__.__name__})")
                state["prev_sha"] = None
                cr = None  # type: ignore[assignment]
                continue
            report.manifests += 1
            for gap in gaps:
                if gap["to"] is None:
                    gap["to"], gap["size_after"] = doc.get("sealed_from"), doc.get("tree_size_before")
            if doc.get("seq") != seq or doc.get("origin") != log.origin:
                problem(MANIFEST_ALTERED, name, f"says seq {doc.get('seq')} of {doc.get('origin')}: moved or copied")
            if seq > 1 and state["prev_sha"] is not None and doc.get("previous_sha256") != state["prev_sha"]:
                problem(CHAIN_BROKEN, name, "previous_sha256 is not the hash of the manifest before it")
            if seq > 1 and state["prev_to"] is not None and doc.get("sealed_from") != state["prev_to"]:
                problem(CHAIN_BROKEN, name, f"seals from {doc.get('sealed_from')}, the one before sealed to "
                                            f"{state['prev_to']}")
            if cr is None:
                # After a gap the tree cannot be recomputed: go on from what this manifest says (unverified),
                # still checking its checkpoint and every blob of its leaves.
                try:
                    cr = merkle.CompactRange(doc["tree_size"], [bytes.fromhex(h) for h in doc["compact_range"]])
                except (ValueError, KeyError, TypeError):
                    cr = merkle.CompactRange()
                hasher_broken.append(seq)
            else:
                if doc.get("tree_size_before") != cr.size:
                    problem(MANIFEST_ALTERED, name, f"starts at tree size {doc.get('tree_size_before')}, the log "
                                                    f"before it has {cr.size}")
                for leaf in items:
                    h = log_mod.leaf_hash(leaf)
                    cr.append(h)
                    if hasher is not None:
                        hasher.add(h)
                    if saved_size is not None and cr.size == saved_size:
                        root_at_saved.append(cr.root())
                if doc.get("tree_size") != cr.size or doc.get("root_hash") != cr.root().hex() or \
                        doc.get("compact_range") != [h.hex() for h in cr.hashes]:
                    problem(MANIFEST_ALTERED, name, f"its leaves give tree size {cr.size} and root "
                                                    f"{cr.root().hex()}, it says {doc.get('tree_size')} and "
                                                    f"{doc.get('root_hash')}")
                    try:  # judge the next manifests on their own: go on from what this one says
                        cr = merkle.CompactRange(doc["tree_size"], [bytes.fromhex(h) for h in doc["compact_range"]])
                    except (ValueError, KeyError, TypeError):
                        pass
            _check_its_checkpoint(seq, doc, sha, log, keys, checkpoint_names, problem)
            state["prev_sha"], state["prev_to"], state["size"] = sha, doc.get("sealed_to"), doc.get("tree_size", 0)
            report.sealed_to = doc.get("sealed_to") or report.sealed_to
            yield from items

    if saved_size is not None and saved_size > 0:
        total = _log_size(log, manifest_names, last_seq)
        if total is not None and total >= saved_size:
            hasher = merkle.RangeHasher(merkle.consistency_ranges(saved_size, total))

    clients: dict[str, Any] = {}
    present_before = 0
    late: dict[tuple[str, str], str] = {}  # sealed blobs created after the cut-off known so far
    disposed = _disposed_once(svc)
    for leaf, (found, created) in ordered_map(lambda lf: (lf, _leaf_problem(lf, clients, svc, disposed)), leaves(),
                                              workers):
        report.leaves += 1
        if progress is not None:
            progress.update(1)
        if found is None:
            report.blobs_ok += 1
        elif found.kind in (DISPOSED, ARCHIVED):
            report.notes.append(found)
        else:
            problem(found.kind, found.subject, found.detail)
        if created is not None and report.sealed_to:
            if iso(created) < report.sealed_to:
                present_before += 1
            else:  # sealed from the change feed beyond its run's cut-off (the feed is read ahead of it)
                late[(leaf["container"], leaf["name"])] = iso(created)
                if len(late) > LATE_PRUNE:
                    present_before += _prune(late, report.sealed_to)
    if report.sealed_to:
        present_before += _prune(late, report.sealed_to)
    if cr is not None:
        report.tree_size, report.root_hash = cr.size, cr.root().hex()

    if saved_size is not None:
        report.saved = _check_saved(saved_size, saved_root, report, root_at_saved, hasher, problem)
        if not report.saved.startswith("not"):
            # Same leaves, but is the saved checkpoint's manifest still the one it signed? (An empty later
            # manifest, deleted, changes no tree size.)
            seq = int(saved.get("seq", 0))
            data = log.read(log_mod.manifest_name(seq)) if seq in manifest_names else None
            if seq > max(manifest_names, default=0):
                problem(NOT_EXTENDED, "checkpoint FILE", f"the saved checkpoint is of manifest {seq}, the log ends at "
                                                         f"manifest {max(manifest_names, default=0)}: truncated")
                report.saved = "not extended (truncated)"
            elif data is None or hashlib.sha256(data).hexdigest() != saved.get("manifest_sha256"):
                problem(NOT_EXTENDED, "checkpoint FILE", f"manifest {seq} is not the one the saved checkpoint signed")
                report.saved = "not extended (rewritten)"

    _close_gaps(log, gaps, report)
    _unsealed(svc, report, present_before, problem, gaps, set(late))
    return report


LATE_PRUNE = 100_000


def _prune(late: dict[tuple[str, str], str], cutoff: str) -> int:
    """Drop the blobs created before ``cutoff`` (now behind the cut-off); how many."""
    gone = [key for key, created in late.items() if created < cutoff]
    for key in gone:
        del late[key]
    return len(gone)


def _close_gaps(log: log_mod.SealLog, gaps: list[dict[str, Any]], report: LogReport) -> None:
    """Missing manifests at the end of the log: their interval and size from their checkpoints, if any."""
    for gap in gaps:
        if gap["size_after"] is None:
            data = log.read(log_mod.checkpoint_name(gap["seq"]))
            try:
                cp = json.loads(data) if data else {}
                gap["size_after"], gap["to"] = int(cp["tree_size"]), cp["time"]
            except (ValueError, KeyError, TypeError):
                gap["to"] = report.sealed_to


def _disposed_once(svc: Any) -> Callable[[], Mapping[str, str]]:
    """The names the disposition records account for (archiving.retention), read once, when first needed."""
    import threading

    cache: list[Mapping[str, str]] = []
    lock = threading.Lock()

    def get() -> Mapping[str, str]:
        with lock:
            if not cache:
                from archiving.retention.dispose import disposed_names

                cache.append(disposed_names(svc))
            return cache[0]

    return get


def _log_size(log: log_mod.SealLog, manifest_names: Mapping[int, str], last_seq: int) -> int | None:
    if not last_seq or last_seq not in manifest_names:
        return None
    data = log.read(manifest_names[last_seq])
    try:
        return int(json.loads(data)["tree_size"]) if data else None
    except (ValueError, KeyError, TypeError):
        return None


def _check_its_checkpoint(seq: int, doc: Mapping[str, Any], sha: str, log: log_mod.SealLog,
                          keys: Mapping[str, bytes], checkpoint_names: Mapping[int, str], problem) -> None:
    name = log_mod.checkpoint_name(seq)
    data = log.read(name) if seq in checkpoint_names else None
    if data is None:
        problem(CHECKPOINT_MISSING, name, f"manifest {seq} has no signed checkpoint")
        return
    try:
        cp = json.loads(data)
    except ValueError:
        problem(CHECKPOINT_INVALID, name, "not JSON")
        return
    why = check_checkpoint(cp, keys)
    if why:
        problem(CHECKPOINT_INVALID, name, why)
        return
    differs = [k for k, v in (("seq", seq), ("tree_size", doc.get("tree_size")), ("root_hash", doc.get("root_hash")),
                              ("origin", doc.get("origin")), ("manifest_sha256", sha)) if cp.get(k) != v]
    if differs == ["manifest_sha256"]:
        problem(MANIFEST_ALTERED, log_mod.manifest_name(seq), "its bytes are not the ones its signed checkpoint names "
                                                               f"(sha256 {sha}, signed {cp.get('manifest_sha256')})")
    elif differs:
        problem(CHECKPOINT_INVALID, name, f"does not match its manifest ({', '.join(differs)})")


def _check_saved(size: int, root: bytes, report: LogReport, root_at_saved: list[bytes], hasher: Any, problem) -> str:
    if size > report.tree_size:
        problem(NOT_EXTENDED, "checkpoint FILE", f"the saved checkpoint has {size} leaves, the log now {report.tree_size}: "
                                                 "truncated")
        return "not extended (truncated)"
    if size == 0:
        return "extended (from the empty log)"
    proof: list[bytes] = []
    if hasher is not None:
        try:
            proof = hasher.hashes()
        except ValueError:
            proof = []
    consistent = merkle.verify_consistency(size, root, report.tree_size, bytes.fromhex(report.root_hash), proof)
    direct = bool(root_at_saved) and root_at_saved[0] == root
    if not (consistent and direct):
        problem(NOT_EXTENDED, "checkpoint FILE",
                f"the log's first {size} leaves no longer hash to the saved root {root.hex()}: history rewritten "
                f"(consistency proof of {len(proof)} hashes fails)")
        return "not extended (rewritten)"
    return f"extended: consistency proof from {size} to {report.tree_size} leaves ({len(proof)} hashes) holds"


def _unsealed(svc: Any, report: LogReport, present_before: int, problem, gaps: list[dict[str, Any]] = (),
              sealed_late: set[tuple[str, str]] = frozenset()) -> None:
    """List every source; blobs in no manifest are unsealed (a finding if created before the last cut-off)."""
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.store.listing import list_blobs

    cutoff = report.sealed_to
    listed_before = 0
    for source in sources(svc.settings):
        client = svc.blob_service.get_container_client(source.container)
        try:
            for blob in list_blobs(client, "", include=(), page=LIST_PAGE):
                created = iso(_created(blob))
                if cutoff is not None and created < cutoff:
                    listed_before += 1
                elif (source.container, blob.name) not in sealed_late:
                    report.unsealed.append((source.container, blob.name, created))
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
    if (listed_before == present_before and not gaps) or cutoff is None:
        return
    # Rare: name them (this pass holds the sealed names in memory).
    sealed: Counter = Counter()
    for _, data in svc.seal_log.manifests():
        try:
            for leaf in json.loads(data or b"{}").get("leaves", []):
                sealed[(leaf["container"], leaf["name"])] += 1
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    for key, n in sealed.items():
        if n > 1:
            problem(DUPLICATE_LEAF, "/".join(key), f"sealed {n} times")
    in_gap: Counter = Counter()
    for source in sources(svc.settings):
        client = svc.blob_service.get_container_client(source.container)
        try:
            for blob in list_blobs(client, "", include=(), page=LIST_PAGE):
                created = iso(_created(blob))
                if created < cutoff and (source.container, blob.name) not in sealed:
                    gap = _gap_of(gaps, created)
                    if gap is not None:
                        in_gap[gap["seq"]] += 1
                        problem(IN_MISSING, f"{source.container}/{blob.name}",
                                f"created {created}, in the interval of the missing {gap['name']}: its leaf went "
                                "with it")
                    else:
                        problem(UNSEALED_OLD, f"{source.container}/{blob.name}",
                                f"created {created}, before the last seal's cut-off {cutoff}, but in no manifest")
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
    for gap in gaps:
        held = (gap["size_after"] - gap["size_before"]) if isinstance(gap["size_after"], int) else None
        if held is None:
            continue
        gone = held - in_gap[gap["seq"]]
        if gone > 0:
            problem(LEAVES_LOST, gap["name"],
                    f"it sealed {held} blobs (tree size {gap['size_before']} to {gap['size_after']}); "
                    f"{in_gap[gap['seq']]} are still in the archive (in-missing-manifest), {gone} are gone as well: "
                    "the storage account's logs or its change feed (BlobDeleted records) name them")


def _gap_of(gaps: list[dict[str, Any]], created: str) -> dict[str, Any] | None:
    for gap in gaps:
        if (gap["from"] is None or created >= gap["from"]) and (gap["to"] is None or created < gap["to"]):
            return gap
    return None


def log_pieces(log: log_mod.SealLog) -> list[Problem]:
    """The pieces missing from the log's sequence, from the names alone (two list calls, no download), so that a
    command names them before anything else: manifests and checkpoints absent below the highest sequence number."""
    manifests = {s for n in log.names(log_mod.MANIFESTS) if (s := log_mod.seq_of(n)) is not None}
    checkpoints = {s for n in log.names(log_mod.CHECKPOINTS) if (s := log_mod.seq_of(n)) is not None}
    last = max(manifests | checkpoints, default=0)
    out = []
    for seq in range(1, last + 1):
        if seq not in manifests:
            out.append(Problem(MANIFEST_MISSING, log_mod.manifest_name(seq),
                               f"manifest {seq} of {last} is gone: the log has a gap here"))
        if seq not in checkpoints:
            newest = max(checkpoints, default=None)
            out.append(Problem(CHECKPOINT_MISSING, log_mod.checkpoint_name(seq),
                               f"manifest {seq} has no signed checkpoint" + (
                                   f" (the newest: the latest checkpoint, of manifest {newest}, is stale)"
                                   if seq == last else "")))
    return out


def parse_saved(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict) or "tree_size" not in doc or "root_hash" not in doc:
        raise ValueError("not a checkpoint (no tree_size and root_hash)")
    parse_time(doc.get("time", "1970-01-01T00:00:00Z"), "time")
    return doc
