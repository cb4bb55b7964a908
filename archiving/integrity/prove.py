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
