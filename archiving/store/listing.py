"""List Blobs, its XML read with ElementTree: names, creation time, index tags, metadata, and for retention tier
and immutability.

Every whole-archive read (verify, export, find, the outbound backfill), every retention run (hold, dispose,
rehydrate), the seal's listings and ``ArchiveStore.list_names`` list through it; the reads take each blob's
tags from it instead of one Get Blob Tags request per blob.  The SDK's ``list_blobs(include=[...])`` turns each blob into generated models
attribute by attribute, several times the CPU of reading the same page here (the "listing alone" lines of
``bench/two_way.py --only reads``, docs/performance.md issue 19).  Under the GIL that CPU is taken from the
parallel downloads that follow: it was most of what a checked read cost over a raw one.

The request goes through the container client's own pipeline (its credential, retries, user agent), with
the SDK's API version; errors are raised as the SDK raises them (``error_code`` set, ``ContainerNotFound``
a ResourceNotFoundError).  ``tests/test_listing.py`` holds the result against the SDK's listing of the same
blobs, so an SDK upgrade that changes what this relies on fails there.

Reference: List Blobs, https://learn.microsoft.com/rest/api/storageservices/list-blobs
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

PAGE = 5000  # the service's maximum per List Blobs call
INCLUDE = ("tags", "metadata")


@dataclass(frozen=True)
class ListedBlob:
    """One blob as List Blobs shows it: what the archive's commands read from a listing."""

    name: str
    tags: dict[str, str] | None  # None: the blob has no index tags
    metadata: dict[str, str] = field(default_factory=dict)
    tier: str | None = None  # Hot, Cool, Cold, Archive
    archive_status: str | None = None  # rehydrate-pending-to-hot, ...
    legal_hold: bool = False  # with include "legalhold"
    immutable_until: datetime | None = None  # a time-based retention's end, with include "immutabilitypolicy"
    creation_time: datetime | None = None  # when the blob was created (UTC)


def list_blobs(container: Any, prefix: str, include: tuple[str, ...] = INCLUDE, page: int = PAGE) -> Iterator[ListedBlob]:
    """Every blob under ``prefix`` in name order, with what ``include`` asks for (List Blobs' own words)."""
    from azure.core.rest import HttpRequest

    marker = ""
    while True:
        params = {"restype": "container", "comp": "list", "maxresults": str(page)}
        if include:
            params["include"] = ",".join(include)
        if prefix:
            params["prefix"] = prefix
        if marker:
            params["marker"] = marker
        request = HttpRequest("GET", container.url, params=params,
                              headers={"x-ms-version": container.api_version, "Accept": "application/xml"})
        response = container._client._send_request(request)  # noqa: SLF001 - the client's pipeline, see above
        if response.status_code != 200:
            _raise(response)
        blobs, marker = read_page(response.content)
        yield from blobs
        if not marker:
            return


def read_page(content: bytes) -> tuple[list[ListedBlob], str]:
    """The blobs of one List Blobs response body, and its NextMarker ("" on the last page)."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(content)
    return [_blob(b) for b in root.iterfind("Blobs/Blob")], root.findtext("NextMarker") or ""


def _blob(blob: Any) -> ListedBlob:
    properties = blob.find("Properties")
    get = properties.findtext if properties is not None else (lambda _: None)
    until, created = get("ImmutabilityPolicyUntilDate"), get("Creation-Time")
    return ListedBlob(_name(blob), _tags(blob), _metadata(blob), get("AccessTier") or None,
                      get("ArchiveStatus") or None, (get("LegalHold") or "").lower() == "true",
                      _rfc1123(until) if until else None, _rfc1123(created) if created else None)


def _rfc1123(value: str) -> datetime | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _name(blob: Any) -> str:
    element = blob.find("Name")
    text = element.text or ""
    # Names with characters XML cannot carry come percent-encoded, flagged Encoded="true".
    return unquote(text) if element.get("Encoded") == "true" else text


def _tags(blob: Any) -> dict[str, str] | None:
    tags = {tag.findtext("Key") or "": tag.findtext("Value") or "" for tag in blob.iterfind("Tags/TagSet/Tag")}
    return tags or None


def _metadata(blob: Any) -> dict[str, str]:
    element = blob.find("Metadata")
    if element is None:
        return {}
    return {item.tag: item.text or "" for item in element}


def _raise(response: Any) -> None:
    """The error the SDK's own listing raises for this response."""
    from azure.core.exceptions import (
        ClientAuthenticationError, HttpResponseError, ResourceExistsError, ResourceNotFoundError,
        ResourceNotModifiedError, map_error)
    from azure.storage.blob._shared.response_handlers import process_storage_error

    error_map = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError,
                 304: ResourceNotModifiedError}
    try:
        map_error(status_code=response.status_code, response=response, error_map=error_map)
        raise HttpResponseError(response=response)
    except HttpResponseError as error:
        process_storage_error(error)
