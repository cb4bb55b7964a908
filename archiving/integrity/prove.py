"""Inclusion proofs: a blob's leaf, its index, the proof and the signed checkpoint it is proven against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from archiving.integrity import log as log_mod
from archiving.integrity import merkle


def _leaves(log: log_mod.SealLog, limit: int) -> Iterator[dict[str, Any]]:
    count = 0
    for _, data in log.manifests():
        for leaf in json.loads(data or b"{}").get("leaves", []):
            if count >= limit:
                return
            count += 1
            yield leaf


def prove_many(svc: Any, blobs: set[tuple[str, str]]) -> tuple[dict[str, Any] | None, dict[tuple[str, str], dict[str, Any]]]:
    """Proofs for many (container, name) against the latest checkpoint, in two passes over the manifests:
    (checkpoint, {blob: proof}); blobs not sealed yet have no proof."""
    log: log_mod.SealLog = svc.seal_log
    checkpoint = log.latest_checkpoint()
    if checkpoint is None or not blobs:
        return checkpoint, {}
    size = int(checkpoint["tree_size"])
    found: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for i, leaf in enumerate(_leaves(log, size)):
        key = (leaf["container"], leaf["name"])
        if key in blobs:
            found[key] = (i, leaf)
    ranges = {key: merkle.inclusion_ranges(i, size) for key, (i, _) in found.items()}
    hasher = merkle.NestedRangeHasher(r for rs in ranges.values() for r in rs)
    for leaf in _leaves(log, size):
        hasher.add(log_mod.leaf_hash(leaf))
    key_pem = log.public_keys().get(checkpoint["key_id"])
    out = {}
    for key, (i, leaf) in found.items():
        out[key] = {
            "leaf": {k: leaf[k] for k in log_mod.LEAF_FIELDS},
            "leaf_index": i,
            "tree_size": size,
            "inclusion_proof": [hasher.results[r].hex() for r in ranges[key]],
            "checkpoint": checkpoint,
            "public_key": key_pem.decode("ascii") if key_pem else None,
        }
    return checkpoint, out


def prove(svc: Any, name: str, container: str | None = None) -> dict[str, Any] | None:
    """The proof for a blob (of the records container unless ``container``), or None if it is not sealed.

    Two passes over the manifests (find the leaf, then hash the proof's ranges); memory: one manifest."""
    log: log_mod.SealLog = svc.seal_log
    container = container or svc.settings.container
    checkpoint = log.latest_checkpoint()
    if checkpoint is None:
        return None
    size = int(checkpoint["tree_size"])
    index, found = None, None
    for i, leaf in enumerate(_leaves(log, size)):
        if leaf["name"] == name and leaf["container"] == container:
            index, found = i, leaf  # the latest, should a name ever be sealed twice
    if found is None:
        return None
    proof = merkle.hashes_of_ranges((log_mod.leaf_hash(lf) for lf in _leaves(log, size)),
                                    merkle.inclusion_ranges(index, size))
    key = log.public_keys().get(checkpoint["key_id"])
    return {
        "leaf": {k: found[k] for k in log_mod.LEAF_FIELDS},
        "leaf_index": index,
        "tree_size": size,
        "inclusion_proof": [h.hex() for h in proof],
        "checkpoint": checkpoint,
        "public_key": key.decode("ascii") if key else None,
    }
