"""``keygen``, ``seal``, ``checkpoint``, ``prove``: the seal log of the archive (docs/integrity.md).  ``verify``
(in cli/main.py) checks the log with :func:`verify_log_command`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from archiving.cli.common import FINDINGS, NOT_FOUND, OK, USAGE, add_command, cli_services


def cmd_keygen(args) -> int:
    from archiving.integrity.signing import generate, public_key_id

    try:
        public_pem = generate(args.path)
    except FileExistsError:
        print(f"{args.path} exists: not overwritten (a signing key is never replaced silently)", file=sys.stderr)
        return USAGE
    sys.stdout.write(public_pem.decode("ascii"))
    print(f"wrote the private key to {args.path} (key id {public_key_id(public_pem)}); "
          f"set ARCHIVE_SEAL_KEY_FILE={args.path} to seal with it", file=sys.stderr)
    return OK


def cmd_seal(args) -> int:
    from archiving.integrity.seal import seal
    from archiving.read.safe import terminal

    svc = cli_services(args)
    result = seal(svc, audit=not args.no_audit)
    if result.status == "raced":
        print(f"another seal run wrote manifest {result.seq} first; nothing written (run again to seal what it "
              "left)", file=sys.stderr)
        return OK
    if result.status == "idle":
        print(f"nothing new in the change feed since manifest {result.seq} (cut-off {result.sealed_to})")
        return OK
    if result.source == "listing":
        print("this storage account has no change feed (Azurite, or the feed is off): listed every container",
              file=sys.stderr)
    print(f"sealed {result.leaves} blobs ({result.source}), every blob created before {result.sealed_to} is sealed: "
          f"manifest {result.seq}, tree size {result.tree_size}, root {result.root_hash}")
    if result.missed:
        print(f"AUDIT: {len(result.missed)} blobs created before the cut-off were never brought by the change feed; "
              f"sealed now, late (manifest {result.seq}, 'audit'). Find out who wrote them:", file=sys.stderr)
        for name in result.missed[:20]:
            print(f"  {terminal(name)}", file=sys.stderr)
        return FINDINGS
    return OK


def _pieces(svc, out=None) -> list:
    """The missing pieces of the log, printed first: what an auditor must know before anything else."""
    from archiving.integrity.verify import log_pieces

    pieces = log_pieces(svc.seal_log)
    for p in pieces:
        print(p.line(), file=out or sys.stderr, flush=True)
    return pieces


def cmd_checkpoint(args) -> int:
    from archiving.integrity.status import latest_checkpoint
    from archiving.integrity.verify import CHECKPOINT_MISSING

    svc = cli_services(args)
    pieces = _pieces(svc)
    newest = max((log_seq(p.subject) for p in pieces if p.kind == CHECKPOINT_MISSING), default=None)
    if newest is not None and newest >= max_seq(svc):
        print(f"the newest manifest ({newest}) has no signed checkpoint: the latest one would be stale, so none is "
              "printed. `python -m archiving seal` signs it (if the manifest is intact); then save the checkpoint. "
              "If nobody stopped a seal run, someone deleted it: run `python -m archiving verify`.", file=sys.stderr)
        return FINDINGS
    cp = latest_checkpoint(svc)
    if cp is None:
        print(f"no checkpoint in container {svc.settings.seal_container}: run `python -m archiving seal`",
              file=sys.stderr)
        return NOT_FOUND
    text = json.dumps(cp, indent=2, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: tree size {cp['tree_size']}, root {cp['root_hash']}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return FINDINGS if pieces else OK


def log_seq(name: str) -> int:
    from archiving.integrity.log import seq_of

    return seq_of(name) or 0


def max_seq(svc) -> int:
    from archiving.integrity.log import CHECKPOINTS, MANIFESTS

    log = svc.seal_log
    return max((log_seq(n) for n in log.names(MANIFESTS) + log.names(CHECKPOINTS)), default=0)


def cmd_prove(args) -> int:
    from archiving.integrity.prove import prove
    from archiving.integrity.verify import MANIFEST_MISSING

    svc = cli_services(args)
    gaps = [p for p in _pieces(svc) if p.kind == MANIFEST_MISSING]
    if gaps:
        print(f"no proof: {len(gaps)} manifests of the log are gone ({gaps[0].subject} first), so the leaves after "
              "them cannot be hashed into the signed root. Run `python -m archiving verify`.", file=sys.stderr)
        return FINDINGS
    try:
        proof = prove(svc, args.blob_name, args.container)
    except ValueError as exc:  # the manifests hold fewer leaves than the checkpoint signs
        print(f"no proof: the log is broken: {exc}. Run `python -m archiving verify`.", file=sys.stderr)
        return FINDINGS
    if proof is None:
        print(f"{args.blob_name} is in no signed checkpoint yet (not sealed, or not a blob of the archive)",
              file=sys.stderr)
        return NOT_FOUND
    sys.stdout.write(json.dumps(proof, indent=2, sort_keys=True) + "\n")
    return OK


def log_arguments(args) -> tuple[dict | None, list[bytes]]:
    """--checkpoint and --public-key, read and checked before any blob is (a usage error: exit 2)."""
    from archiving.integrity.verify import parse_saved

    saved = None
    if getattr(args, "checkpoint", None):
        try:
            saved = parse_saved(Path(args.checkpoint).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--checkpoint {args.checkpoint}: {exc}") from None
    extra = []
    for p in getattr(args, "public_key", None) or []:
        try:
            extra.append(Path(p).read_bytes())
        except OSError as exc:
            raise ValueError(f"--public-key {p}: {exc.strerror or exc}") from None
    return saved, extra


def verify_log_command(args, svc, parsed: tuple[dict | None, list[bytes]] | None = None,
                       printed: set | None = None) -> int:
    """The log part of ``verify``: prints problems and unsealed blobs; OK, FINDINGS or NOT_FOUND (no log).
    ``printed``: (kind, subject) of problems already printed (the missing pieces, named first)."""
    from archiving.cli.common import progress_bar
    from archiving.integrity.verify import trusted_keys, verify_log

    saved, extra = parsed or log_arguments(args)
    keys = trusted_keys(svc, extra)
    printed = printed or set()

    def show(p) -> None:
        if (p.kind, p.subject) not in printed:
            print(p.line(), flush=True)

    with progress_bar(args, unit="leaf", desc="seal log") as bar:
        report = verify_log(svc, keys or None, saved, on_problem=show, progress=bar)
    for note in report.notes:  # disposed by the product, or in the Archive tier: named, not findings
        print(note.line())
    archived = [n.subject.split("/", 1)[1] for n in report.notes if n.kind == "archived"]
    if archived:
        from archiving.cli.retention import print_rehydrate_hint

        print_rehydrate_hint(len(archived), archived, "sealed blob(s) in the Archive tier: bytes not checked")
    for container, name, created in report.unsealed:
        print(f"unsealed\t{container}/{name}\tcreated {created}, after the last seal's cut-off "
              f"{report.sealed_to or '(never sealed)'}")
    if report.manifests == 0 and not report.problems:
        print(f"no seal log in container {svc.settings.seal_container}: nothing proves the archive complete "
              "(run `python -m archiving seal`)", file=sys.stderr)
        return NOT_FOUND
    trust = "" if report.trust == "configured" else (
        " (no signing key configured: signatures checked against the keys published in the seal container; "
        "give --public-key)")
    print(f"seal log: {report.manifests} manifests, {report.leaves} sealed blobs ({report.blobs_ok} intact), tree size "
          f"{report.tree_size}, root {report.root_hash}, sealed to {report.sealed_to}; {len(report.unsealed)} "
          f"unsealed; {len(report.problems)} problems{trust}"
          + "".join(f"; {sum(1 for n in report.notes if n.kind == k)} {k}" for k in ("disposed", "archived")
                    if any(n.kind == k for n in report.notes)))
    if report.saved:
        print(f"saved checkpoint: {report.saved}")
    return FINDINGS if report.problems else OK


def register(sub) -> None:
    p = add_command(
        sub, "keygen", "write a new local signing key (ECDSA P-256 PEM) for the seal and print its public key",
        "Write a new ECDSA P-256 private key (PKCS#8 PEM, readable by its owner only) to PATH, never overwriting a "
        "file, and print its public key (PEM) on stdout: give that to the auditors. Set ARCHIVE_SEAL_KEY_FILE=PATH "
        "to make `seal` sign with it. In Azure, a Key Vault key (ARCHIVE_SEAL_KEY_ID) signs instead.",
        ["python -m archiving keygen seal-key.pem > seal-key.pub.pem"],
        "  0 written; 2 PATH exists\n",
    )
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_keygen)

    p = add_command(
        sub, "seal", "seal the blobs created since the last seal into the signed Merkle log",
        "Append one leaf (container, name, sha256 and size of the stored bytes, creation time) per blob created "
        "since the last seal, in every container the archive writes, to the Merkle log in ARCHIVE_SEAL_CONTAINER; "
        "write the manifest and a signed checkpoint. New blobs come from the storage account's change feed (the "
        "seal_archive timer does the same); without one (Azurite) every container is listed. By hand the command "
        "also runs the listing audit (as the weekly seal_audit timer does): every container is listed and a blob "
        "created before the cut-off that no manifest holds, which the change feed never brought, is sealed late "
        "and named. --no-audit reads the feed only.",
        ["python -m archiving seal", "python -m archiving seal --no-audit"],
        "  0 sealed (or nothing new, or another run sealed first); 1 the audit found blobs the change feed never "
        "brought (sealed now); 2 usage or setting error (no signing key); 4 storage failed\n",
    )
    p.add_argument("--no-audit", action="store_true",
                   help="read the change feed only, as the seal_archive timer does; do not list every container")
    p.set_defaults(func=cmd_seal)

    p = add_command(
        sub, "checkpoint", "print the latest signed checkpoint (JSON) to keep outside the customer's storage",
        "Print the latest signed checkpoint as JSON (tree_size, root_hash, time, signature, ...). Keep it: "
        "`verify --checkpoint FILE` later proves that the log still extends it.",
        ["python -m archiving checkpoint > checkpoint-2026-12-01.json"],
        "  0 printed; 1 the log is missing pieces (named first, on stderr; none printed when the newest manifest has "
        "no checkpoint: the latest would be stale); 2 usage or setting error; 3 never sealed; 4 storage failed\n",
    )
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_checkpoint)

    p = add_command(
        sub, "prove", "print a sealed blob's leaf, inclusion proof and the signed checkpoint",
        "Print, as JSON, the leaf of a sealed blob, its index, its inclusion proof (RFC 9162) against the latest "
        "signed checkpoint, that checkpoint and its public key. docs/integrity.md shows how to check it with "
        "Python's standard library.",
        ["python -m archiving prove 'chat/202611/19:abc@thread.v2/messages/1700000000000/1700000000000-received.json.lz4'"],
        "  0 printed; 1 the log is broken (a missing manifest, named first): no proof; 2 usage or setting error; "
        "3 not sealed; 4 storage failed\n",
    )
    p.add_argument("blob_name", metavar="BLOB_NAME")
    p.add_argument("--container", help="the blob's container (default: ARCHIVE_CONTAINER)")
    p.set_defaults(func=cmd_prove)

    # `verify` is defined in cli/main.py (its content checks); the seal log's checks are added to it here, so the
    # two can change apart: the log is checked when the whole archive is verified, or with --checkpoint.
    p = sub.choices["verify"]
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a checkpoint saved earlier (`checkpoint`): prove that the log still extends it")
    p.add_argument("--public-key", action="append", metavar="PEM",
                   help="trust this public key for checkpoint signatures too (repeatable; e.g. a rotated key)")
    p.epilog = (p.epilog or "") + (
        "\nseal log (docs/integrity.md): without --prefix or --rejected, or with --checkpoint, verify also checks\n"
        "every manifest, checkpoint signature and sealed blob, and lists unsealed blobs; 1 if anything sealed\n"
        "was deleted or altered, a manifest or checkpoint is missing or altered, or the log does not extend FILE.\n")
    p.set_defaults(func=cmd_verify_sealed)

    p = sub.choices["export"]
    p.add_argument("--proofs", action="store_true",
                   help="also write PATH.proofs.jsonl: the inclusion proof of each source blob (as `prove` prints it)")
    p.set_defaults(func=cmd_export_with_proofs)


def cmd_export_with_proofs(args) -> int:
    """``export``, then (--proofs) one inclusion proof per source blob of the export, beside it."""
    import csv

    from archiving.cli.records import cmd_export
    from archiving.integrity.prove import prove_many

    code = cmd_export(args)
    if not args.proofs or code != OK:
        return code
    sources: set[str] = set()
    with open(args.out, encoding="utf-8", newline="") as f:
        if args.format == "csv":
            sources.update(row["source"] for row in csv.DictReader(f))
        else:
            sources.update(json.loads(line)["source"] for line in f if line.strip())
    svc = cli_services(args)
    container = svc.settings.container
    _, proofs = prove_many(svc, {(container, s) for s in sources})
    path = Path(args.out + ".proofs.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(proofs[key], sort_keys=True) + "\n" for key in sorted(proofs))
    print(f"proofs: {path} ({len(proofs)} of {len(sources)} source blobs; check each line with docs/integrity.md)")
    if len(proofs) < len(sources):
        print(f"{len(sources) - len(proofs)} source blobs are not sealed yet: run `python -m archiving seal`, then "
              "export again", file=sys.stderr)
    return code


def cmd_verify_sealed(args) -> int:
    from archiving.cli.records import cmd_verify

    whole = not ((args.rejected or args.prefix is not None) and not args.checkpoint)
    parsed = log_arguments(args) if whole else None  # usage errors before any blob is read
    printed: set = set()
    if whole:
        for p in _pieces(cli_services(args), sys.stdout):  # the missing pieces of the log first
            printed.add((p.kind, p.subject))
    code = cmd_verify(args)
    if not whole:
        return code  # a partial verification: the log is about the whole archive
    log_code = verify_log_command(args, cli_services(args), parsed, printed)
    if FINDINGS in (code, log_code):
        return FINDINGS
    if log_code == OK and code == NOT_FOUND:
        return OK  # nothing under chat/, and the log accounts for everything it sealed
    return code
