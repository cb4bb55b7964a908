"""The seal fed by the storage account's change feed (issue 20), and the hot path it frees: one create per record.

Azurite has no change feed (Azure/Azurite issue 1349), so the tests write one in the format Azure writes it
(tests/changefeed.py names the format's source), from the blobs they create, into Azurite's ``$blobchangefeed``
container, and run the production reader (archiving/integrity/feed.py) over it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from archiving.bootstrap import Services
from archiving.cli.main import main
from archiving.integrity import feed as feed_mod
from archiving.integrity.seal import seal
from archiving.integrity.verify import verify_log
from archiving.settings import Settings

from .changefeed import FeedWriter
from .faultproxy import FaultProxy
from .test_integrity import _archive, _events, _kinds, _names, seal_env, svc, three_seals  # noqa: F401 (fixtures)
from .test_reliability import STORM_PROFILE, _one_event, install_app_services

# -- 1. One create per record --------------------------------------------------------------------------------------


@pytest.fixture
def counting_proxy(azurite):
    server = FaultProxy(("127.0.0.1", azurite.blob_port), seed=20).start()
    yield server
    server.stop()


def _every_blob(svc: Services) -> set[tuple[str, str]]:
    out = set()
    for c in svc.blob_service.list_containers():
        out.update((c.name, b.name) for b in svc.blob_service.get_container_client(c.name).list_blobs())
    return out


def test_a_new_event_is_one_create_and_its_redelivery_creates_nothing(archive_env, monkeypatch, counting_proxy,
                                                                      app_functions):
    from .host import Out, grid_event

    direct = Services(settings=Settings.from_env(archive_env))
    app = install_app_services(monkeypatch, counting_proxy.connection_string(), STORM_PROFILE)
    app.store.ensure_container()  # as in a deployment: the container exists before the first event
    fn = app_functions["archive_event"].get_user_function()
    raw = _one_event()
    before = _every_blob(direct)

    counting_proxy.counts.clear(), counting_proxy.by_method.clear()
    out = Out()
    fn(event=grid_event(raw), rejected=out)
    assert out.get() is None
    # One request in all, a Put Blob, and one blob more in the whole account.
    assert counting_proxy.counts["requests"] == 1 and counting_proxy.by_method == {("ok", "PUT"): 1}
    after = _every_blob(direct)
    assert len(after - before) == 1 and next(iter(after - before))[0] == archive_env["ARCHIVE_CONTAINER"]

    counting_proxy.counts.clear(), counting_proxy.by_method.clear()
    fn(event=grid_event(raw), rejected=Out())
    # The redelivery: its one create-only attempt answers "exists" (then the stored copy is read to compare it).
    assert counting_proxy.by_method[("ok", "PUT")] == 1
    assert set(counting_proxy.by_method) <= {("ok", "PUT"), ("ok", "GET")}
    assert _every_blob(direct) == after
    direct.close()


# -- 2. Change-feed data in Azure's format (tests/changefeed.py), written into Azurite's $blobchangefeed ------------


@pytest.fixture
def feed(svc):
    """An empty change feed in Azurite (the account's one $blobchangefeed: removed afterwards, so that the other
    tests of the run see an account without a change feed)."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    container = svc.blob_service.get_container_client(feed_mod.FEED_CONTAINER)
    try:
        container.create_container()
    except ResourceExistsError:
        for blob in list(container.list_blobs()):
            container.delete_blob(blob.name)
    yield FeedWriter(svc.blob_service)
    try:
        container.delete_container()
    except ResourceNotFoundError:
        pass


def _hour0() -> datetime:
    """The first segment a seal run after an empty first seal reads (its cut-off is the service's clock, now)."""
    now = datetime.now(UTC)
    return (now - feed_mod.SEGMENT - feed_mod.SLACK).replace(minute=0, second=0, microsecond=0)


def test_without_a_change_feed_the_seal_lists_and_says_so(svc, caplog):
    _archive(svc, _events(2))
    with caplog.at_level("WARNING", logger="archiving.integrity.seal"):
        first = seal(svc)
        second = seal(svc)
    assert first.source == second.source == "listing" and first.leaves == 2 and second.leaves == 0
    assert "no change feed" in caplog.text


def test_feed_seals_each_created_blob_once_across_segments_shards_duplicates_and_containers(svc, feed):
    first = seal(svc)  # the empty log's first seal lists (nothing yet); the feed takes over from its cut-off
    assert first.source == "listing" and first.leaves == 0
    _archive(svc, _events(6))
    names = _names(svc)
    archive = svc.store.container
    other = svc.blob_service.get_container_client(f"other-{uuid.uuid4().hex[:8]}")
    other.create_container()
    other.upload_blob("not-ours.json", b"{}")
    rejected = svc.blob_service.get_container_client(svc.settings.rejected_container)
    rejected.create_container()
    rejected.upload_blob("2026-12-06T10-00-00Z-x.json", b"{}")  # a blob written by another writer (a binding)
    rec = feed.created(archive, names)
    h0 = _hour0()
    feed.segment(h0, [
        [[rec[0], rec[1]], [feed.record("BlobCreated", other.container_name, "not-ours.json"), rec[2], rec[0]]],
        [[rec[3], feed.record("BlobPropertiesUpdated", archive.container_name, names[1])]],
    ])
    feed.segment(h0 + timedelta(hours=1), [[[rec[4], rec[5]]], [feed.created(rejected, ["2026-12-06T10-00-00Z-x.json"])]],
                 status="Publishing")
    feed.consumable(h0)  # the second segment is not final yet: not read

    one = seal(svc)
    assert one.source == "change-feed" and one.leaves == 4
    sealed = {leaf["name"] for leaf in json.loads(svc.seal_log.read("manifests/000000000002.json"))["leaves"]}
    assert sealed == set(names[:4])
    assert seal(svc).status == "idle"  # nothing final since: no manifest

    feed.segment(h0 + timedelta(hours=1), [[[rec[4], rec[5]]], [feed.created(rejected, ["2026-12-06T10-00-00Z-x.json"])]])
    feed.consumable(h0 + timedelta(hours=1))  # now it is (a segment that appears late)
    two = seal(svc)
    assert two.leaves == 3 and two.tree_size == 7
    report = verify_log(svc)
    assert report.problems == [] and report.tree_size == 7 and report.leaves == 7
    # Blobs the feed brought ahead of the cut-off are sealed, not listed as waiting.
    assert report.unsealed == []


def test_a_cursor_resumes_mid_segment_and_a_crash_repeats_never_skips(svc, feed, monkeypatch):
    seal(svc)
    _archive(svc, _events(5))
    names = _names(svc)
    rec = feed.created(svc.store.container, names)
    h0 = _hour0()
    feed.segment(h0, [[[rec[0], rec[1], rec[2]], [rec[3]]], [[rec[4]]]])
    feed.consumable(h0)

    a = seal(svc, max_leaves=2)  # stops inside the first chunk
    manifest = json.loads(svc.seal_log.read("manifests/000000000002.json"))
    assert a.leaves == 2 and manifest["feed_cursor"]["event"] == 2 and manifest["feed_cursor"]["shard"] == 0

    # A crash before the next manifest is written: nothing of that run stands, the next one repeats it.
    real_create = svc.seal_log.create

    def crash(name, data):
        if name.startswith("manifests/"):
            raise ConnectionError("the process died here")
        return real_create(name, data)

    monkeypatch.setattr(svc.seal_log, "create", crash)
    with pytest.raises(ConnectionError):
        seal(svc, max_leaves=2)
    monkeypatch.setattr(svc.seal_log, "create", real_create)

    # A crash after the manifest, before its checkpoint: the next run writes the checkpoint, goes on from the cursor.
    real_checkpoint = svc.seal_log.write_checkpoint

    def crash_after(manifest, sha, signer):
        raise ConnectionError("the process died after the manifest")

    monkeypatch.setattr(svc.seal_log, "write_checkpoint", crash_after)
    with pytest.raises(ConnectionError):
        seal(svc, max_leaves=2)
    monkeypatch.setattr(svc.seal_log, "write_checkpoint", real_checkpoint)
    c = seal(svc, max_leaves=2)
    assert c.leaves == 1 and c.tree_size == 5
    assert seal(svc).status == "idle"
    report = verify_log(svc)
    assert report.problems == [] and report.leaves == 5
    # All five were created after the cut-off (the first seal's clock): sealed ahead of it, not "unsealed".
    assert report.sealed_to <= min(leaf_created(svc)) and report.unsealed == []
    leaves = [leaf["name"] for _, data in svc.seal_log.manifests() for leaf in json.loads(data)["leaves"]]
    assert sorted(leaves) == names  # each once


def leaf_created(svc) -> list[str]:
    return [leaf["created"] for _, data in svc.seal_log.manifests() for leaf in json.loads(data)["leaves"]]


def test_overwrites_and_deletes_in_the_feed_add_no_leaf_and_verify_names_them(svc, feed):
    seal(svc)
    _archive(svc, _events(3))
    names = _names(svc)
    archive = svc.store.container
    rec = feed.created(archive, names)
    h0 = _hour0()
    feed.segment(h0, [[rec]])
    feed.consumable(h0)
    assert seal(svc).leaves == 3
    archive.upload_blob(names[0], b"rewritten", overwrite=True)
    archive.delete_blob(names[1])
    feed.segment(h0 + timedelta(hours=1), [[[feed.record("BlobCreated", archive.container_name, names[0]),
                                              feed.record("BlobDeleted", archive.container_name, names[1]),
                                              rec[2]]]])  # and a repeated record
    feed.consumable(h0 + timedelta(hours=1))
    again = seal(svc)
    assert again.leaves == 0
    kinds = _kinds(verify_log(svc))
    assert set(kinds) <= {"altered", "replaced", "deleted"}
    assert f"{archive.container_name}/{names[1]}" in kinds["deleted"]
    assert f"{archive.container_name}/{names[0]}" in kinds.get("altered", set()) | kinds.get("replaced", set())


def test_the_listing_audit_seals_loudly_what_the_feed_never_brought(svc, feed, capsys):
    seal(svc)
    _archive(svc, _events(2))
    names = _names(svc)
    sneaked = "chat/202611/t/messages/1/1-received.json.lz4"
    svc.store.container.upload_blob(sneaked, b"x")  # the feed (here: the test) never brings it
    # A segment whose hour makes the cut-off pass the blobs' creation times.
    h1 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    feed.segment(h1, [[feed.created(svc.store.container, names)]])
    feed.consumable(h1)
    assert seal(svc).leaves == 2
    kinds = _kinds(verify_log(svc))
    assert kinds == {"unsealed-before-cutoff": {f"{svc.settings.container}/{sneaked}"}}

    # python -m archiving seal: the feed, then the audit; exit 1 and the blob named.
    assert main(["seal"]) == 1
    err = capsys.readouterr().err
    assert "AUDIT: 1 blobs" in err and sneaked in err
    assert verify_log(svc).problems == []
    assert json.loads(svc.seal_log.read("manifests/000000000003.json"))["audit"] == {
        "missed": [f"{svc.settings.container}/{sneaked}"]}
    from archiving.integrity.status import unsealed

    assert unsealed(svc).missed == 1  # status shows it until an audit finds nothing
    assert main(["seal"]) == 0  # never twice
    assert unsealed(svc).missed == 0


def test_reader_parses_subjects_paths_and_stops_at_last_consumable(svc, feed):
    assert feed_mod.parse_subject("/blobServices/default/containers/c/blobs/a/b.json") == ("c", "a/b.json")
    assert feed_mod.parse_subject("/blobServices/default/containers/c") is None
    assert feed_mod.segment_time("idx/segments/2026/12/06/1800/meta.json") == datetime(2026, 12, 6, 18, tzinfo=UTC)
    h0 = datetime(2026, 12, 6, 10, tzinfo=UTC)
    # Azure keeps a placeholder segment of 1601; then two final segments and one being written.
    feed.container.upload_blob("idx/segments/1601/01/01/0000/meta.json", b'{"chunkFilePaths": []}')
    for k in range(3):
        feed.segment(h0 + timedelta(hours=k), [[[feed.record("BlobCreated", "c", f"b{k}")]]])
    feed.consumable(h0 + timedelta(hours=1))
    reader = feed_mod.open_feed(svc.blob_service)
    got = [(ch.name if ch else None, pos.segment[13:26], done)
           for ch, pos, done in reader.read(feed_mod.Cursor(feed_mod.segment_path(h0)))]
    assert got == [("b0", "2026/12/06/10", False), (None, "2026/12/06/10", True),
                   ("b1", "2026/12/06/11", False), (None, "2026/12/06/11", True)]


def test_the_seal_lag_alert_reads_the_seals_line(svc, feed, caplog):
    from .test_alerts import extracted_fields, queries_reading

    seal(svc)
    h0 = _hour0()
    feed.segment(h0, [[[]]])
    feed.consumable(h0)
    caplog.clear()
    with caplog.at_level("INFO", logger="archiving.integrity.seal"):
        seal(svc)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("seal outcome=sealed")]
    assert "source=change-feed" in line
    queries = queries_reading("seal outcome=")
    assert list(queries) == ["queries/seal-lag.kql"]
    ((field, pattern),) = extracted_fields(queries["queries/seal-lag.kql"])
    # The cut-off never moves back: here it is the first seal's (the clock, a moment ago).
    assert field == "lag_minutes" and int(pattern.search(line).group(1)) <= 1


# -- 3. Deployment: the change feed on, the journal gone, the audit timer bound -------------------------------------


def test_bicep_turns_the_change_feed_on_and_has_no_journal():
    from .test_infra import INFRA, parse, resources

    tree = parse(INFRA / "modules" / "archive-storage.bicep")
    (blob,) = resources(tree, "Microsoft.Storage/storageAccounts/blobServices")
    assert blob["properties"]["changeFeed"]["enabled"] is True
    assert blob["properties"]["changeFeed"]["retentionInDays"] == "changeFeedRetentionDays"
    assert tree["parameters"]["changeFeedRetentionDays"]["default"] == 30
    main_tree = parse(INFRA / "main.bicep")
    assert main_tree["parameters"]["changeFeedRetentionDays"]["default"] == 30
    text = "\n".join(p.read_text(encoding="utf-8") for p in INFRA.rglob("*.bicep"))
    assert "journalContainer" not in text and "seal-journal-expiry" not in text


def test_seal_audit_is_a_weekly_timer(indexed):
    (binding,) = indexed["seal_audit"]["bindings"]
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "%SEAL_AUDIT_SCHEDULE%"
    assert binding.get("runOnStartup") in (False, None)


# -- 4. Tamper reports an auditor can act on (issue 20, item 6) ----------------------------------------------------


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_deleted_manifest_is_named_first_and_its_blobs_are_accounted_for(three_seals, capsys):
    svc = three_seals
    from archiving.integrity import log as log_mod

    m2 = json.loads(svc.seal_log.read(log_mod.manifest_name(2)))
    victim = m2["leaves"][0]["name"]
    svc.store.container.delete_blob(victim)  # a record deleted, and the manifest that sealed it
    svc.seal_log.container.delete_blob(log_mod.manifest_name(2))
    later = json.loads(svc.seal_log.read(log_mod.manifest_name(3)))["leaves"][0]["name"]

    code, out, err = _cli(capsys, "prove", later)
    assert code == 1 and err.startswith(f"manifest-missing\t{log_mod.manifest_name(2)}")
    assert "no proof" in err

    code, out, err = _cli(capsys, "verify")
    assert code == 1
    assert out.startswith(f"manifest-missing\t{log_mod.manifest_name(2)}")
    assert out.count("manifest-missing") == 1
    assert "unsealed-before-cutoff" not in out and "chain-broken" not in out
    assert out.count("in-missing-manifest\t") == 2  # the two records of manifest 2 still there
    assert re.search(rf"^leaves-lost\t{re.escape(log_mod.manifest_name(2))}\tit sealed 3 blobs .* 1 are gone", out, re.MULTILINE)


def test_a_deleted_newest_checkpoint_is_not_replaced_by_a_stale_one(three_seals, capsys):
    svc = three_seals
    from archiving.integrity import log as log_mod

    svc.seal_log.container.delete_blob(log_mod.checkpoint_name(3))
    code, out, err = _cli(capsys, "checkpoint")
    assert code == 1 and out == ""
    assert err.startswith(f"checkpoint-missing\t{log_mod.checkpoint_name(3)}") and "stale" in err
    assert _cli(capsys, "seal", "--no-audit")[0] == 0  # signs the intact manifest 3 first (then seals on)
    assert svc.seal_log.read(log_mod.checkpoint_name(3)) is not None
    code, out, _ = _cli(capsys, "checkpoint")
    assert code == 0 and json.loads(out)["seq"] >= 3


def test_verify_checks_its_arguments_before_reading_any_blob(three_seals, capsys, tmp_path):
    import time

    started = time.monotonic()
    code, out, err = _cli(capsys, "verify", "--checkpoint", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in err and out == ""
    code, out, err = _cli(capsys, "verify", "--public-key", str(tmp_path / "nokey.pem"))
    assert code == 2 and "nokey.pem" in err and out == ""
    assert time.monotonic() - started < 5


def test_a_run_out_of_time_stops_after_the_last_blob_it_read(svc, feed):
    seal(svc)
    _archive(svc, _events(40))
    names = _names(svc)
    h0 = _hour0()
    feed.segment(h0, [[feed.created(svc.store.container, names)]])
    feed.consumable(h0)
    first = seal(svc, budget=0)  # the deadline passes at once: the first window of reads counts
    assert 0 < first.leaves < 40
    manifest = json.loads(svc.seal_log.read("manifests/000000000002.json"))
    assert manifest["feed_cursor"]["event"] == first.leaves
    rest = seal(svc)
    assert first.leaves + rest.leaves == 40
    report = verify_log(svc)
    assert report.problems == [] and report.leaves == 40


def test_segments_gone_before_the_seal_read_them_are_reported(svc, feed, caplog):
    h0 = datetime(2026, 12, 6, 10, tzinfo=UTC)
    feed.segment(h0 + timedelta(hours=5), [[[feed.record("BlobCreated", "c", "b")]]])
    feed.consumable(h0 + timedelta(hours=5))
    reader = feed_mod.open_feed(svc.blob_service)
    with caplog.at_level("ERROR", logger="archiving.integrity.feed"):
        assert [c.name for c, _, _ in reader.read(feed_mod.Cursor(feed_mod.segment_path(h0))) if c] == ["b"]
    assert "are gone" in caplog.text
    caplog.clear()
    with caplog.at_level("ERROR", logger="archiving.integrity.feed"):
        list(reader.read(feed_mod.Cursor(feed_mod.segment_path(h0 + timedelta(hours=4)))))
    assert "are gone" not in caplog.text  # one hour before the first segment: nothing lost
