"""Integrity of the whole archive: a sealed, append-only Merkle log (RFC 6962/9162 hashing) of every blob the
archive writes, signed checkpoints, inclusion and consistency proofs, and the verification of completeness.

Owns: Merkle hashing and proofs (merkle), the list of sealed sources and how new blobs are found (sources, and
feed: the storage account's change feed), the seal log in its own container (log, seal), signing keys (signing), and verification (verify).
Depends on archiving.store and the top-level modules only; nothing outside this package depends on it except the
CLI and the seal blueprint.  See docs/integrity.md.
"""
