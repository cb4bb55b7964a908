"""Records management for the whole retention period: legal holds by matter, rehydration of Archive-tier
blobs, and disposition by the product (not by a lifecycle delete) with a signed record of what was disposed.

Owns: hold scopes and what they cover (scope), the audit records of holds, dispositions and rehydrations in the
archive container (audit: create-only, sealed like every blob the archive writes), holds (holds), the dispose
run (dispose) and rehydration (rehydrate).  Depends on archiving.store, archiving.read.scan, the signer of
archiving.integrity.signing and archiving.outbound.layout (the thread of an outbound chat message); nothing outside this package depends on it except the CLI, the dispose blueprint,
``status`` and one hook in archiving.integrity.verify (:func:`archiving.retention.dispose.disposed_names`).
See docs/operations.md ("Records management").
"""
