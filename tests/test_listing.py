"""archiving/store/listing.py against the SDK's own listing of the same blobs, on Azurite.

The read side and retention list with their own reading of the List Blobs XML (for speed,
docs/performance.md issue 19); these tests hold it to what ``ContainerClient.list_blobs(include=[...])``
returns: names, tags and metadata the archive writes and stranger ones, tiers, legal holds, across pages,
and its errors.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from archiving.read.scan import list_indexed
from archiving.store.archive import ArchiveStore
from archiving.store.listing import list_blobs

NAMES = [
    "chat/202611/19_abc@thread.v2/messages/1/2-created.json.lz4",
    "chat/202611/19:odd thread@thread.v2/messages/1/3-edited.json.lz4",
    "chat/ä ö ü/ï & <x> 'q' \"d\" %41 +plus.json.lz4",
    "chat/untagged.json.lz4",
    "chat/no-metadata.json.lz4",
    "chat/z/last.json.lz4",
    "sms/202611/other-root.json.lz4",
]
TAGS = {"kind": "message", "thread": "19_abc_thread.v2", "at": "2026-11-10T09:00:00.000Z",
        "sender": "+ - . / : = _ 0aZ"}


@pytest.fixture
def container(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.create_container(f"listing-{uuid.uuid4().hex[:12]}")
    for i, name in enumerate(NAMES):
        metadata = None if name.endswith("no-metadata.json.lz4") else {"sha256": f"{i:064x}", "hash_key_id": "k1"}
        tags = None if name.endswith("untagged.json.lz4") else {**TAGS, "message": str(i)}
        client.upload_blob(name, b"x", metadata=metadata, tags=tags)
    client.get_blob_client(NAMES[1]).set_standard_blob_tier("Cool")
    client.get_blob_client(NAMES[2]).set_standard_blob_tier("Archive")
    yield client
    client.delete_container()


def sdk(container, prefix: str, include=("tags", "metadata")) -> list[tuple]:
    return [(b.name, dict(b.tags) if b.tags else None, dict(b.metadata or {}), b.blob_tier, b.archive_status,
             bool(b.has_legal_hold), b.immutability_policy.expiry_time, b.creation_time)
            for b in container.list_blobs(name_starts_with=prefix, include=list(include))]


def ours(container, prefix: str, include=("tags", "metadata"), page: int = 5000) -> list[tuple]:
    return [(b.name, b.tags, b.metadata, b.tier, b.archive_status, b.legal_hold, b.immutable_until, b.creation_time)
            for b in list_blobs(container, prefix, tuple(include), page=page)]


@pytest.mark.parametrize("page", [5000, 2, 1])
def test_the_listing_is_the_sdks_listing_page_by_page(container, page):
    listed = ours(container, "chat/", page=page)
    assert listed == sdk(container, "chat/")
    assert [b[0] for b in listed] == sorted(n for n in NAMES if n.startswith("chat/"))
    by_name = {b[0]: b[1:] for b in listed}
    assert by_name["chat/untagged.json.lz4"][0] is None  # no tags: None, as the SDK says it
    assert by_name["chat/no-metadata.json.lz4"][1] == {}
    assert by_name[NAMES[0]][:2] == ({**TAGS, "message": "0"}, {"sha256": f"{0:064x}", "hash_key_id": "k1"})
    assert (by_name[NAMES[1]][2], by_name[NAMES[2]][2]) == ("Cool", "Archive")


def test_the_whole_container_and_an_empty_prefix(container):
    assert ours(container, "") == sdk(container, "")
    assert ours(container, "", include=()) == sdk(container, "", include=())
    assert ours(container, "nothing/") == []


def test_legal_holds_list_as_the_sdk_lists_them(azurite, container):
    from azure.storage.blob import ContainerClient

    from .legalhold import LegalHoldStorage

    with LegalHoldStorage(azurite) as storage:
        through = ContainerClient.from_connection_string(storage.connection_string(), container.container_name)
        through.get_blob_client(NAMES[0]).set_legal_hold(True)
        include = ("tags", "metadata", "immutabilitypolicy", "legalhold")
        listed = ours(through, "chat/", include=include)
        assert listed == sdk(through, "chat/", include=include)
        assert [b[0] for b in listed if b[5]] == [NAMES[0]]


def test_the_read_sides_listings_give_what_the_sdk_lists(container):
    listed = list(list_indexed(ArchiveStore(container), "chat/"))
    assert [(x.name, x.tags, dict(x.metadata)) for x in listed] == [b[:3] for b in sdk(container, "chat/")]
    assert [x.indexed for x in listed].count(False) == 1  # the untagged blob
    assert list(ArchiveStore(container).list_names("chat/")) == [b[0] for b in sdk(container, "chat/")]


def test_a_missing_container_fails_as_the_sdk_fails_and_lists_as_empty_for_the_read_side(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    missing = service.get_container_client(f"missing-{uuid.uuid4().hex[:12]}")
    with pytest.raises(ResourceNotFoundError) as mine:
        ours(missing, "chat/")
    with pytest.raises(ResourceNotFoundError) as theirs:
        list(missing.list_blobs(include=["tags", "metadata"]))
    assert mine.value.error_code == theirs.value.error_code == "ContainerNotFound"
    assert list(list_indexed(ArchiveStore(missing), "chat/")) == []
    assert list(ArchiveStore(missing).list_names("chat/")) == []


def test_a_credential_without_list_permission_fails_with_the_services_error_code(azurite, container):
    from azure.storage.blob import ContainerClient

    sas = generate_container_sas(container.account_name, container.container_name,
                                 account_key=container.credential.account_key,
                                 permission=ContainerSasPermissions(read=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    read_only = ContainerClient.from_container_url(container.url, credential=sas)
    with pytest.raises(HttpResponseError) as mine:
        ours(read_only, "chat/")
    with pytest.raises(HttpResponseError) as theirs:
        list(read_only.list_blobs(include=["tags", "metadata"]))
    assert mine.value.status_code == theirs.value.status_code == 403
    assert mine.value.error_code == theirs.value.error_code and mine.value.error_code
    assert type(mine.value) is type(theirs.value)


# A page as Azure writes it (List Blobs reference), with what Azurite cannot store: a name with characters
# XML cannot carry, which the service sends percent-encoded with Encoded="true".
PAGE = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="archive">
  <Prefix>chat/</Prefix><MaxResults>3</MaxResults>
  <Blobs>
    <Blob><Name Encoded="true">chat/a%01b%EF%BF%BE.json.lz4</Name>
      <Properties><Creation-Time>Wed, 09 Sep 2026 09:20:01 GMT</Creation-Time>
        <Last-Modified>Wed, 09 Sep 2026 09:20:02 GMT</Last-Modified><Etag>0x8D</Etag>
        <Content-Length>1</Content-Length><BlobType>BlockBlob</BlobType><AccessTier>Archive</AccessTier>
        <ArchiveStatus>rehydrate-pending-to-hot</ArchiveStatus>
        <ImmutabilityPolicyUntilDate>Fri, 31 Dec 2032 23:59:59 GMT</ImmutabilityPolicyUntilDate>
        <ImmutabilityPolicyMode>Unlocked</ImmutabilityPolicyMode><LegalHold>true</LegalHold></Properties>
      <Metadata><sha256>ab</sha256><hash_key_id>k1</hash_key_id></Metadata>
      <Tags><TagSet><Tag><Key>kind</Key><Value>message</Value></Tag><Tag><Key>at</Key><Value></Value></Tag></TagSet></Tags>
    </Blob>
    <Blob><Name>chat/plain &amp; %41.json.lz4</Name><Properties><BlobType>BlockBlob</BlobType></Properties><Metadata /></Blob>
    <Blob><Name Encoded="false">chat/%41</Name><Properties><BlobType>BlockBlob</BlobType></Properties></Blob>
  </Blobs>
  <NextMarker>2!84!MDAwMDE3IWNoYXQvJTQxITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker>
</EnumerationResults>"""


def test_a_page_reads_as_the_sdk_reads_it_encoded_names_included():
    from xml.etree import ElementTree

    from azure.storage.blob._deserialize import get_blob_properties_from_generated_code
    from azure.storage.blob._generated import models
    from azure.storage.blob._generated._utils.serialization import Deserializer

    from archiving.store.listing import read_page

    theirs = Deserializer({k: v for k, v in vars(models).items() if isinstance(v, type)})(
        "ListBlobsFlatSegmentResponse", ElementTree.fromstring(PAGE))
    expected = [(b.name, dict(b.tags) if b.tags else None, dict(b.metadata or {}), b.blob_tier, b.archive_status,
                 bool(b.has_legal_hold), b.immutability_policy.expiry_time, b.creation_time)
                for b in map(get_blob_properties_from_generated_code, theirs.segment.blob_items)]
    blobs, marker = read_page(PAGE)
    assert [(b.name, b.tags, b.metadata, b.tier, b.archive_status, b.legal_hold, b.immutable_until, b.creation_time)
            for b in blobs] == expected
    assert blobs[0].name == "chat/a\x01b\ufffe.json.lz4" and blobs[2].name == "chat/%41"
    assert blobs[0].legal_hold and blobs[0].immutable_until.year == 2032 and blobs[0].tier == "Archive"
    assert blobs[0].creation_time.second == 1 and blobs[0].creation_time.utcoffset().total_seconds() == 0
    assert marker == theirs.next_marker
    assert read_page(PAGE.replace(theirs.next_marker.encode(), b""))[1] == ""


def test_listing_ahead_gives_the_same_blobs_raises_where_it_would_and_stops_with_its_reader(azurite, container):
    """``ahead`` (the checked reads' listing) fetches the next page in a thread while the last one is read."""
    import threading
    import time

    assert [b.name for b in list_blobs(container, "chat/", ahead=True, page=2)] == [b[0] for b in ours(container, "chat/")]
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    missing = service.get_container_client(f"missing-{uuid.uuid4().hex[:12]}")
    with pytest.raises(ResourceNotFoundError):
        list(list_blobs(missing, "chat/", ahead=True))
    reader = list_blobs(container, "", ahead=True, page=1)
    assert next(reader).name == "chat/202611/19:odd thread@thread.v2/messages/1/3-edited.json.lz4"
    reader.close()  # the reader stops after one blob: the thread fetching ahead ends too
    deadline = time.monotonic() + 5
    while any(t.name == "list-ahead" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "list-ahead" for t in threading.enumerate())


ODD = ["p/a&b/1", "p/a+b/1", "p/a=b/1", "p/a#b/1", "p/a%41/1", "p/aA/1", "p/ä ö/1", "p/a b/1", "p/a?b/1", "p/a;b/1"]


@pytest.fixture
def odd_container(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.create_container(f"listing-odd-{uuid.uuid4().hex[:8]}")
    for name in ODD:
        client.upload_blob(name, b"x", tags={"kind": "message"})
    yield client
    client.delete_container()


@pytest.mark.parametrize("page", [5000, 1])
def test_prefixes_and_page_ends_with_characters_a_url_gives_meaning_to(odd_container, page):
    """A prefix, or a page that ends on a name (the next marker), with & + = # % ? ; or a space is sent quoted:
    the same blobs as the SDK lists, never another folder's, never a refused signature or an endless loop."""
    assert ours(odd_container, "p/", page=page) == sdk(odd_container, "p/")
    for name in ODD:
        folder = name.rsplit("/", 1)[0] + "/"
        assert [b[0] for b in ours(odd_container, folder, page=page)] == [name], folder
    assert [b.name for b in list_blobs(odd_container, "p/", ahead=True, page=page)] == sorted(ODD)


def test_an_answer_that_is_not_the_services_xml_is_a_decode_error_not_a_traceback(azurite, container):
    """A captive portal or an inspecting proxy answering 200 with its own page: the SDK's DecodeError (exit 4)."""
    from azure.core.exceptions import DecodeError
    from azure.storage.blob import ContainerClient

    from .faultproxy import FaultProxy

    class Portal(FaultProxy):
        def answer(self, method, target, headers, body):
            if "comp=list" not in target:
                return None
            page = b"<html><body>Sign in to continue<br></body></html>"
            return (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page)) + page

    portal = Portal(("127.0.0.1", azurite.blob_port)).start()
    try:
        through = ContainerClient.from_connection_string(portal.connection_string(), container.container_name)
        with pytest.raises(DecodeError):
            ours(through, "chat/")
    finally:
        portal.stop()
