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
from urllib.parse import quote, unquote

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


def list_blobs(container: Any, prefix: str, include: tuple[str, ...] = INCLUDE, page: int = PAGE,
               ahead: bool = False) -> Iterator[ListedBlob]:
    """Every blob under ``prefix`` in name order, with what ``include`` asks for (List Blobs' own words).

    ``ahead``: for a caller that reads the blobs as they come (the checked reads): the first page is small
    (FIRST_PAGE) so the reads start at once, and the next pages are fetched in a thread while the blobs of
    the last one are read (three pages at most held: the one read, one ready, one fetched)."""
    pages = _pages(container, prefix, include, page, min(FIRST_PAGE, page) if ahead else page)
    if ahead:
        pages = _read_ahead(pages)
    for blobs in pages:
        yield from blobs


FIRST_PAGE = 500


def _pages(container: Any, prefix: str, include: tuple[str, ...], page: int, first: int) -> Iterator[list[ListedBlob]]:
    from azure.core.rest import HttpRequest

    marker, size = "", first
    while True:
        params = {"restype": "container", "comp": "list", "maxresults": str(size)}
        if include:
            params["include"] = ",".join(include)
        if prefix:
            params["prefix"] = prefix
        if marker:
            params["marker"] = marker
        # azure-core takes query values as already quoted: a prefix or marker with & + = # or % must be.
        params = {k: quote(v, safe=",") for k, v in params.items()}
        request = HttpRequest("GET", container.url, params=params,
                              headers={"x-ms-version": container.api_version, "Accept": "application/xml"})
        response = container._client._send_request(request)  # noqa: SLF001 - the client's pipeline, see above
        if response.status_code != 200:
            _raise(response)
        try:
            blobs, marker = read_page(response.content)
        except (SyntaxError, AttributeError) as exc:  # not List Blobs XML (a proxy's page): as the SDK says it
            from azure.core.exceptions import DecodeError

            raise DecodeError(f"the List Blobs answer is not the service's XML ({exc})", response=response) from None
        yield blobs
        if not marker:
            return
        size = page


def _read_ahead(pages: Iterator[list[ListedBlob]]) -> Iterator[list[ListedBlob]]:
    """The pages, each fetched in a thread while the caller works on the one before; an error is raised to the
    caller where the page would have been; a caller that stops early stops the thread."""
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for blobs in pages:
                if not put(blobs):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put(exc)

    thread = threading.Thread(target=fetch, name="list-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def missing_is_empty(items: Iterator[Any]) -> Iterator[Any]:
    """A container that does not exist (yet) lists as empty."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        yield from items
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise


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
