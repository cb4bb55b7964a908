"""The seal: RFC 6962 hashing and proofs, and every tampering case of issue 14 on a real Azurite.

The Merkle module is checked against the RFC's recursive definitions (MTH, PATH, SUBPROOF) written out here
independently; the seal, verify, checkpoint and prove run against Azurite through the same Services as the app.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from archiving import bootstrap
from archiving.cli.main import main
from archiving.integrity import log as log_mod
from archiving.integrity import merkle
from archiving.integrity.seal import seal
from archiving.integrity.signing import FileSigner, generate
from archiving.integrity.verify import verify_log
from archiving.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "conversation.json"


# -- 1. Merkle hashing and proofs against the RFC's recursive definitions ---------------------------------


def _mth(d: list[bytes]) -> bytes:
    """RFC 6962 2.1: MTH({}) = SHA-256(), MTH({d0}) = SHA-256(0x00 || d0), MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    return _path(m, d[:k]) + [_mth(d[k:])] if m < k else _path(m - k, d[k:]) + [_mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = _k(n)
    if m <= k:
        return _subproof(m, d[:k], b) + [_mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() * (i % 3 + 1) for i in range(n)]


@pytest.mark.parametrize("n", list(range(0, 34)) + [63, 64, 65, 100])
def test_root_matches_the_rfc_definition(n):
    d = _data(n)
    assert merkle.root_of(merkle.leaf_hash(x) for x in d) == _mth(d)


def test_known_rfc6962_roots():
    # The test tree of the Certificate Transparency reference implementations (8 leaves, sizes 1..8).
    leaves = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f")]
    roots = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
             "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
             "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
             "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
             "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
             "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
    for size in range(1, 9):
        assert _mth(leaves[:size]).hex() == roots[size - 1]
        assert merkle.root_of(merkle.leaf_hash(x) for x in leaves[:size]).hex() == roots[size - 1]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33])
def test_inclusion_proofs_match_and_verify(n):
    d = _data(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    root = _mth(d)
    for m in range(n):
        proof = merkle.hashes_of_ranges(hashes, merkle.inclusion_ranges(m, n))
        assert proof == _path(m, d)
        assert merkle.verify_inclusion(hashes[m], m, n, proof, root)
        # Wrong leaf, wrong index, a flipped proof hash, a wrong root: each fails.
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), m, n, proof, root)
        if n > 1:
            assert not merkle.verify_inclusion(hashes[m], (m + 1) % n, n, proof, root)
            bad = list(proof)
            bad[0] = bytes(32)
            assert not merkle.verify_inclusion(hashes[m], m, n, bad, root)
        assert not merkle.verify_inclusion(hashes[m], m, n, proof, bytes(32))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 33])
def test_consistency_proofs_match_and_verify(n):
    d = _data(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    for m in range(1, n + 1):
        proof = merkle.hashes_of_ranges(hashes, merkle.consistency_ranges(m, n))
        assert proof == (_subproof(m, d, True) if m < n else [])
        assert merkle.verify_consistency(m, _mth(d[:m]), n, _mth(d), proof)
        if m < n:
            # A rewritten old tree, or a proof with a changed hash, does not verify.
            assert not merkle.verify_consistency(m, _mth([b"x"] + d[1:m]), n, _mth(d), proof)
            bad = list(proof)
            bad[-1] = bytes(32)
            assert not merkle.verify_consistency(m, _mth(d[:m]), n, _mth(d), bad)


def test_compact_range_continues_across_runs():
    d = _data(21)
    hashes = [merkle.leaf_hash(x) for x in d]
    cr = merkle.CompactRange()
    for h in hashes[:13]:
        cr.append(h)
    resumed = merkle.CompactRange(cr.size, list(cr.hashes))  # what a manifest stores
    for h in hashes[13:]:
        resumed.append(h)
    assert resumed.root() == _mth(d)
    assert len(resumed.hashes) == bin(21).count("1")


# -- 2. the seal on Azurite ---------------------------------------------------------------------------------


@pytest.fixture
def seal_env(archive_env, monkeypatch, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    key = tmp_path / "seal-key.pem"
    generate(key)
    values = dict(archive_env, ARCHIVE_SEAL_CONTAINER=f"seal-{suffix}",
                  ARCHIVE_SEAL_KEY_FILE=str(key))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json: the CLI reads the environment
    bootstrap.reset()
    yield values
    bootstrap.reset()


@pytest.fixture
def svc(seal_env):
    s = bootstrap.Services(settings=Settings.from_env(seal_env), profile=bootstrap.BATCH_PROFILE)
    yield s
    s.close()


def _events(count: int, start: int = 0) -> list[dict]:
    """``count`` new chat messages (the sample's first message with other ids)."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    template = next(e for e in sample if e["eventType"].endswith("ChatMessageReceivedInThread"))
    out = []
    for i in range(start, start + count):
        e = copy.deepcopy(template)
        e["id"] = str(uuid.uuid4())
        e["data"]["messageId"] = str(1761955200000 + i)
        e["data"]["version"] = 1761955200000 + i
        out.append(e)
    return out


def _archive(svc, events) -> None:
    from archiving.ingest.replay import replay

    replay(events, svc.store, svc.rejected_store, svc.settings.hash_key)


def _names(svc) -> list[str]:
    return sorted(svc.store.list_names(""))


def _kinds(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in report.problems:
        out.setdefault(p.kind, set()).add(p.subject)
    return out


def _log(svc):
    return svc.seal_log.container


def test_untouched_archive_seals_and_verifies(svc):
    _archive(svc, json.loads(SAMPLE.read_text(encoding="utf-8")))
    first = seal(svc)
    assert first.status == "sealed" and first.leaves == len(_names(svc)) == 12
    _archive(svc, _events(5))
    second = seal(svc)
    assert second.leaves == 5 and second.tree_size == 17 and second.sealed_from == first.sealed_to
    report = verify_log(svc)
    assert report.problems == [] and report.unsealed == []
    assert (report.manifests, report.leaves, report.blobs_ok, report.tree_size) == (2, 17, 17, 17)
    assert report.root_hash == second.root_hash and report.trust == "configured"
    # The public key is published beside the checkpoints.
    signer = FileSigner(svc.settings.seal_key_file)
    assert svc.seal_log.public_keys() == {signer.key_id: signer.public_pem}


def test_rejections_are_sealed_too(svc):
    # One rejection written by replay, one as the output binding writes it.
    from datetime import datetime, timezone

    seal(svc)  # an empty log first, so the next run is a later one
    bad = _events(1)[0]
    bad["data"]["threadId"] = ""
    _archive(svc, [bad])
    binding = svc.blob_service.get_container_client(svc.settings.rejected_container)
    name = f"{datetime.now(timezone.utc):%Y-%m-%dT%H-%M-%SZ}-{uuid.uuid4()}.json"
    binding.upload_blob(name, b'{"reason": "x", "event": {}, "received_at": "2026-12-01T00:00:00.000000Z"}')
    result = seal(svc)
    assert result.leaves == 2
    report = verify_log(svc)
    assert report.problems == [] and report.unsealed == []
    assert report.tree_size == 2


def test_each_tampering_is_detected_and_named(svc, tmp_path):
    _archive(svc, json.loads(SAMPLE.read_text(encoding="utf-8")))
    seal(svc)
    _archive(svc, _events(4))
    seal(svc)
    names = _names(svc)
    container = svc.store.container

    # (a) delete a sealed record
    deleted = names[0]
    container.delete_blob(deleted)
    # (b) rewrite a sealed record's bytes together with its sha256 metadata and tags
    from archiving.store import codec

    rewritten = names[1]
    doc = svc.store.read_document(rewritten)
    doc["archived_at"] = "2020-01-01T00:00:00.000000Z"
    encoded = codec.encode(doc)
    tags = container.get_blob_client(rewritten).get_blob_tags()
    container.upload_blob(rewritten, encoded.data, overwrite=True, metadata={"sha256": encoded.sha256}, tags=tags)
    # (c) insert a forged record dated in the sealed past (month 2026-10, thread of the sample)
    forged = names[2].replace("/messages/", "/messages/9").replace(".json.lz4", "-forged.json.lz4")
    container.upload_blob(forged, encoded.data, metadata={"sha256": encoded.sha256})

    report = verify_log(svc)
    kinds = _kinds(report)
    assert f"{svc.settings.container}/{deleted}" in kinds["deleted"]
    assert f"{svc.settings.container}/{rewritten}" in (kinds.get("altered", set()) | kinds.get("replaced", set()))
    # The forged record is named as unsealed, with its real creation time (now, not its month). (Azurite gives an
    # overwritten blob a new creation time, so the rewritten one is listed as unsealed too.)
    unsealed = {n for _, n, _ in report.unsealed}
    assert forged in unsealed and unsealed <= {forged, rewritten}
    assert set(kinds) <= {"deleted", "altered", "replaced"}


def _write(svc, name: str, data: bytes) -> None:
    _log(svc).upload_blob(name, data, overwrite=True)


def _read(svc, name: str) -> bytes:
    return _log(svc).download_blob(name).readall()


@pytest.fixture
def three_seals(svc):
    _archive(svc, json.loads(SAMPLE.read_text(encoding="utf-8")))
    seal(svc)
    _archive(svc, _events(3))
    seal(svc)
    _archive(svc, _events(3, start=10))
    seal(svc)
    assert verify_log(svc).problems == []
    return svc


def test_deleted_manifest_is_named(three_seals):
    svc = three_seals
    _log(svc).delete_blob(log_mod.manifest_name(2))
    kinds = _kinds(verify_log(svc))
    assert kinds["manifest-missing"] == {log_mod.manifest_name(2)}


def test_altered_manifest_is_named(three_seals):
    svc = three_seals
    doc = json.loads(_read(svc, log_mod.manifest_name(2)))
    doc["leaves"][0]["sha256"] = "0" * 64  # what a rewritten blob would need
    _write(svc, log_mod.manifest_name(2), log_mod.encode(doc))
    kinds = _kinds(verify_log(svc))
    assert kinds["manifest-altered"] == {log_mod.manifest_name(2)}  # its root, and the hash its checkpoint signed
    assert log_mod.manifest_name(3) in kinds["chain-broken"]


def test_reordered_manifests_are_named(three_seals):
    svc = three_seals
    one, two = _read(svc, log_mod.manifest_name(2)), _read(svc, log_mod.manifest_name(3))
    _write(svc, log_mod.manifest_name(2), two)
    _write(svc, log_mod.manifest_name(3), one)
    kinds = _kinds(verify_log(svc))
    assert {log_mod.manifest_name(2), log_mod.manifest_name(3)} <= kinds["manifest-altered"]


def test_checkpoint_signed_by_another_key_is_named(three_seals, tmp_path):
    svc = three_seals
    other = tmp_path / "other.pem"
    generate(other)
    intruder = FileSigner(str(other))
    manifest_bytes = _read(svc, log_mod.manifest_name(3))
    forged = log_mod.make_checkpoint(json.loads(manifest_bytes), hashlib.sha256(manifest_bytes).hexdigest(), intruder)
    _write(svc, log_mod.checkpoint_name(3), log_mod.encode(forged))
    svc.seal_log.publish_key(intruder)  # publishing the intruder's key beside ours does not help it
    problems = [p for p in verify_log(svc).problems]
    assert [(p.kind, p.subject) for p in problems] == [("checkpoint-invalid", log_mod.checkpoint_name(3))]
    assert "not a trusted key" in problems[0].detail
    # A checkpoint whose signature was copied onto other figures fails too.
    cp = json.loads(_read(svc, log_mod.checkpoint_name(2)))
    cp["tree_size"] += 1
    _write(svc, log_mod.checkpoint_name(2), log_mod.encode(cp))
    details = {p.subject: p.detail for p in verify_log(svc).problems}
    assert details[log_mod.checkpoint_name(2)] == "the signature does not verify"


def test_truncated_log_fails_against_a_saved_checkpoint(three_seals, tmp_path):
    svc = three_seals
    saved = svc.seal_log.latest_checkpoint()
    for name in (log_mod.manifest_name(3), log_mod.checkpoint_name(3)):
        _log(svc).delete_blob(name)
    report = verify_log(svc, saved=saved)
    assert [p.kind for p in report.problems] == ["not-extended"]
    assert "truncated" in report.problems[0].detail
    # Without the saved checkpoint the cut looks like blobs nobody sealed yet: they are named as unsealed.
    assert len(verify_log(svc).unsealed) == 3


def test_deleted_empty_seal_fails_against_a_checkpoint_saved_after_it(three_seals):
    svc = three_seals
    assert seal(svc).leaves == 0  # nothing new: the tree does not grow, the log does
    saved = svc.seal_log.latest_checkpoint()
    for name in (log_mod.manifest_name(4), log_mod.checkpoint_name(4)):
        _log(svc).delete_blob(name)
    report = verify_log(svc, saved=saved)
    assert [p.kind for p in report.problems] == ["not-extended"] and "truncated" in report.problems[0].detail


def test_saved_checkpoint_from_before_a_rewrite(three_seals):
    svc = three_seals
    saved = json.loads(json.dumps(svc.seal_log.latest_checkpoint()))
    # Someone holding the signing identity deletes a record and rebuilds the whole log without it: the log is
    # consistent with itself, signed by the right key, and verifies clean on its own.
    victim = _names(svc)[3]
    svc.store.container.delete_blob(victim)
    _archive(svc, _events(2, start=30))  # and the log grows past the saved size again
    for name in [*svc.seal_log.names("manifests/"), *svc.seal_log.names("checkpoints/")]:
        _log(svc).delete_blob(name)
    seal(svc)
    assert verify_log(svc).problems == []
    report = verify_log(svc, saved=saved)
    assert [p.kind for p in report.problems] == ["not-extended"]
    assert "rewritten" in report.problems[0].detail


def test_log_that_extends_a_saved_checkpoint_passes_with_a_consistency_proof(three_seals):
    svc = three_seals
    cp = json.loads(_read(svc, log_mod.checkpoint_name(2)))
    report = verify_log(svc, saved=cp)
    assert report.problems == []
    assert report.saved.startswith(f"extended: consistency proof from {cp['tree_size']} to {report.tree_size}")


def test_concurrent_writes_and_overlapping_seal_runs_seal_every_blob_once(svc):
    seal(svc)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        i = 0
        try:
            while not stop.is_set() and i < 40:
                _archive(svc, _events(1, start=offset + i))
                i += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def sealer() -> None:
        try:
            for _ in range(3):
                seal(svc)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)]
    threads += [threading.Thread(target=sealer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    assert not errors
    seal(svc)
    report = verify_log(svc)
    assert report.problems == [] and report.unsealed == []
    assert report.tree_size == len(_names(svc)) == 120
    leaves = [(leaf["container"], leaf["name"]) for _, data in svc.seal_log.manifests()
              for leaf in json.loads(data)["leaves"]]
    assert len(leaves) == len(set(leaves))  # never sealed twice
    seqs = [log_mod.seq_of(n) for n in svc.seal_log.names("manifests/")]
    assert seqs == list(range(1, len(seqs) + 1))  # one chain, no fork


# -- 3. the command line (the contract) ---------------------------------------------------------------------


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_contract_keygen_seal_verify_checkpoint(seal_env, capsys, tmp_path):
    key = tmp_path / "new-key.pem"
    code, out, _ = _cli(capsys, "keygen", str(key))
    assert code == 0 and out.startswith("-----BEGIN PUBLIC KEY-----") and key.exists()
    assert _cli(capsys, "keygen", str(key))[0] == 2  # never overwrites
    import os

    os.environ["ARCHIVE_SEAL_KEY_FILE"] = str(key)
    assert _cli(capsys, "replay", str(SAMPLE))[0] == 0
    code, out, _ = _cli(capsys, "seal")
    assert code == 0 and "sealed 12 blobs" in out
    code, out, _ = _cli(capsys, "verify")
    assert code == 0, out
    code, out, _ = _cli(capsys, "checkpoint")
    saved = json.loads(out)
    assert code == 0 and saved["tree_size"] == 12 and re.fullmatch("[0-9a-f]{64}", saved["root_hash"])
    (tmp_path / "cp.json").write_text(out)

    # A record written after the seal is named as unsealed; verify still passes.
    from archiving.ingest.replay import replay

    svc = bootstrap.Services(settings=Settings.from_env(dict(seal_env, ARCHIVE_SEAL_KEY_FILE=str(key))))
    replay(_events(1), svc.store, svc.rejected_store, svc.settings.hash_key)
    code, out, _ = _cli(capsys, "verify")
    assert code == 0 and re.search(r"^unsealed\t.*1761955200000", out, re.M)
    assert _cli(capsys, "seal")[0] == 0

    # What the later seal wrote is deleted: the log no longer extends a checkpoint saved after it.
    code, out, _ = _cli(capsys, "checkpoint", "--out", str(tmp_path / "cp2.json"))
    for name in (log_mod.manifest_name(2), log_mod.checkpoint_name(2)):
        svc.seal_log.container.delete_blob(name)
    code, out, _ = _cli(capsys, "verify", "--checkpoint", str(tmp_path / "cp2.json"))
    assert code == 1 and "not-extended" in out
    assert _cli(capsys, "verify", "--checkpoint", str(tmp_path / "cp.json"))[0] == 0

    # A deleted sealed record and an altered manifest: exit 1, each named.
    victim = sorted(svc.store.list_names("chat/"))[0]
    svc.store.container.delete_blob(victim)
    manifest = svc.seal_log.container.download_blob(log_mod.manifest_name(1)).readall()
    svc.seal_log.container.upload_blob(log_mod.manifest_name(1), manifest.replace(b'"size":', b'"size": '),
                                       overwrite=True)
    code, out, _ = _cli(capsys, "verify")
    assert code == 1
    assert f"deleted\t{svc.settings.container}/{victim}" in out
    assert f"{log_mod.manifest_name(1)}" in out
    svc.close()


def test_checkpoint_without_a_log_is_not_found(seal_env, capsys):
    code, _, err = _cli(capsys, "checkpoint")
    assert code == 3 and "seal" in err


def test_seal_without_a_key_names_the_setting(seal_env, capsys, monkeypatch):
    monkeypatch.delenv("ARCHIVE_SEAL_KEY_FILE")
    code, _, err = _cli(capsys, "seal")
    assert code == 2 and "ARCHIVE_SEAL_KEY_FILE" in err


# -- 4. proofs an auditor checks offline (docs/integrity.md) -------------------------------------------------


def _doc_blocks() -> dict[str, str]:
    text = (ROOT / "docs" / "integrity.md").read_text(encoding="utf-8")
    return dict(re.findall(r"```python\n# (check_[a-z_]+\.py)\n(.*?)```", text, re.S))


def test_offline_proof_check_of_the_docs(svc, capsys, tmp_path):
    _archive(svc, json.loads(SAMPLE.read_text(encoding="utf-8")))
    seal(svc)
    _archive(svc, _events(6))
    seal(svc)
    name = sorted(svc.store.list_names("chat/"))[5]
    code, out, _ = _cli(capsys, "prove", name)
    assert code == 0
    proof = json.loads(out)
    (tmp_path / "proof.json").write_text(out)
    blob = svc.store.container.download_blob(name).readall()
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "seal-key.pub.pem").write_text(proof["public_key"])

    blocks = _doc_blocks()
    assert set(blocks) == {"check_proof.py", "check_signature.py"}
    for file, body in blocks.items():
        (tmp_path / file).write_text(body)
    # The proof: standard library only (-I -S: no site-packages at all).
    run = subprocess.run([sys.executable, "-I", "-S", "check_proof.py", "proof.json", "blob.bin"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0 and "inclusion proof holds" in run.stdout, run.stdout + run.stderr
    # The signature: with the `cryptography` package.
    run = subprocess.run([sys.executable, "check_signature.py", "proof.json", "seal-key.pub.pem"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0 and "signature holds" in run.stdout, run.stdout + run.stderr

    # Each check fails on a tampered input.
    (tmp_path / "blob2.bin").write_bytes(blob + b" ")
    run = subprocess.run([sys.executable, "-I", "-S", "check_proof.py", "proof.json", "blob2.bin"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 1
    forged = dict(proof, leaf=dict(proof["leaf"], size=proof["leaf"]["size"] + 1))
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    run = subprocess.run([sys.executable, "-I", "-S", "check_proof.py", "forged.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 1
    bad_sig = copy.deepcopy(proof)
    bad_sig["checkpoint"]["tree_size"] += 1
    (tmp_path / "badsig.json").write_text(json.dumps(bad_sig))
    run = subprocess.run([sys.executable, "check_signature.py", "badsig.json", "seal-key.pub.pem"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 1


# -- 5. the timer function and the status figures ------------------------------------------------------------


def test_seal_archive_is_indexed_with_its_schedule_setting(indexed):
    (binding,) = indexed["seal_archive"]["bindings"]
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "%SEAL_SCHEDULE%"
    assert binding.get("runOnStartup") in (False, None)


def test_seal_archive_seals_through_the_host(seal_env, app_functions, svc):
    from azure.functions.timer import TimerRequest

    _archive(svc, _events(3))
    app_functions["seal_archive"].get_user_function()(timer=TimerRequest(past_due=False))
    assert svc.seal_log.latest_checkpoint()["tree_size"] == 3


def test_status_figures(svc):
    from archiving.integrity.status import latest_checkpoint, unsealed

    assert latest_checkpoint(svc) is None and unsealed(svc).count == 0
    _archive(svc, _events(2))
    seal(svc)
    assert latest_checkpoint(svc)["tree_size"] == 2
    assert unsealed(svc).count == 0
    _archive(svc, _events(3, start=50))
    status = unsealed(svc)
    assert status.count == 3 and status.oldest is not None and status.sealed_to is not None


def test_signature_format_is_raw_r_s(tmp_path):
    generate(tmp_path / "k.pem")
    signer = FileSigner(str(tmp_path / "k.pem"))
    sig = signer.sign(b"message")
    assert len(sig) == 64
    from archiving.integrity.signing import verify_signature

    assert verify_signature(signer.public_pem, b"message", base64.b64encode(sig).decode())
    assert not verify_signature(signer.public_pem, b"other", base64.b64encode(sig).decode())


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13, 33])
def test_many_proofs_in_one_pass_match_single_ones(n):
    d = _data(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    wanted = {m: merkle.inclusion_ranges(m, n) for m in range(n)}
    hasher = merkle.NestedRangeHasher(r for rs in wanted.values() for r in rs)
    for h in hashes:
        hasher.add(h)
    for m, rs in wanted.items():
        assert [hasher.results[r] for r in rs] == _path(m, d)


def test_export_proofs_travel_with_the_export(svc, capsys, tmp_path):
    _archive(svc, json.loads(SAMPLE.read_text(encoding="utf-8")))
    seal(svc)
    out = tmp_path / "export.jsonl"
    code, stdout, _ = _cli(capsys, "export", "--from", "2026-10-01", "--to", "2026-12-31", "--out", str(out),
                           "--proofs")
    assert code == 0 and "proofs:" in stdout
    sources = {json.loads(line)["source"] for line in out.read_text().splitlines()}
    lines = (tmp_path / "export.jsonl.proofs.jsonl").read_text().splitlines()
    assert {json.loads(line)["leaf"]["name"] for line in lines} == sources
    (tmp_path / "check_proof.py").write_text(_doc_blocks()["check_proof.py"])
    for line in lines:
        (tmp_path / "one.json").write_text(line)
        run = subprocess.run([sys.executable, "-I", "-S", "check_proof.py", "one.json"], cwd=tmp_path,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_key_vault_key_url_and_public_key(tmp_path):
    # The Key Vault signer itself needs a vault (none in tests); what it derives locally is checked here.
    from cryptography.hazmat.primitives.asymmetric import ec

    from archiving.integrity.signing import _parse_key_url, jwk_public_pem, public_key_id

    assert _parse_key_url("https://kv-arc.vault.azure.net/keys/archive-seal") == (
        "https://kv-arc.vault.azure.net", "archive-seal", None)
    assert _parse_key_url("https://kv-arc.vault.azure.net/keys/archive-seal/abc123")[2] == "abc123"
    for bad in ("http://kv/keys/a", "https://kv.vault.azure.net/secrets/a", "https://kv.vault.azure.net/keys"):
        with pytest.raises(ValueError):
            _parse_key_url(bad)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    n = key.public_numbers()
    pem = jwk_public_pem(n.x.to_bytes(32, "big"), n.y.to_bytes(32, "big"), "P-256")
    from cryptography.hazmat.primitives import serialization

    assert pem == key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert len(public_key_id(pem)) == 64
    with pytest.raises(ValueError):
        jwk_public_pem(n.x.to_bytes(32, "big"), n.y.to_bytes(32, "big"), "P-384")
