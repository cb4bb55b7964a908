"""Azure's blob legal hold in front of the test Azurite, which does not implement it.

A loopback HTTP/1.1 server (a :class:`~tests.faultproxy.FaultProxy` without faults) that answers three things
itself, as the published Blob service REST reference says, and forwards every other request to Azurite
unchanged:

1. **Set Blob Legal Hold** (https://learn.microsoft.com/rest/api/storageservices/set-blob-legal-hold, version
   2020-04-08 and later): ``PUT /<account>/<container>/<blob>?comp=legalhold`` with ``x-ms-legal-hold: true`` or
   ``false``; 200 OK with ``x-ms-legal-hold`` (the state now), ``x-ms-request-id``, ``x-ms-version``, ``Date`` and
   ``x-ms-client-request-id`` when the request had one; no body; the blob's ETag is not changed.  A blob that
   does not exist: 404 ``BlobNotFound``; a value other than true/false: 400 ``InvalidHeaderValue``.
2. **List Blobs** with ``include=legalhold``
   (https://learn.microsoft.com/rest/api/storageservices/list-blobs): ``<LegalHold>true</LegalHold>`` in the
   ``<Properties>`` of each blob under legal hold (Azurite's listing, with that element added).
3. **Delete Blob** of a blob under legal hold: refused with 409 ``BlobImmutableDueToLegalHold``, "This operation
   is not permitted as the blob is immutable due to one or more legal holds."
   (https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes); Azurite never sees it.

Errors are the service's XML error body with the ``x-ms-error-code`` header.  The names under legal hold are
kept in memory (``held``), per server.  Authorization: Shared Key signs the verb, the standard headers, the
``x-ms-*`` headers and the path and query, not the Host
(https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key), so a forwarded request still
verifies at Azurite (path-style account, same path); a Set Blob Legal Hold request answered here is verified
here with the emulator's well-known key (403 ``AuthenticationFailed`` otherwise).

``refuse(status, code)`` makes Set Blob Legal Hold answer that error instead (an identity without the permission:
403 ``AuthorizationPermissionMismatch``).  The server binds 127.0.0.1 on a free port and stops by itself after
``lifetime`` seconds if nobody stopped it::

    with LegalHoldStorage(azurite) as storage:
        conn = storage.connection_string()          # Azurite's, with the blob endpoint through this server
        ...
        storage.held                                # {(container, blob name), ...}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import threading
import uuid
from collections import Counter
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from .faultproxy import ACCOUNT, KEY, FaultProxy

ERRORS = {  # code: (status, message), as the error codes reference gives them
    "BlobImmutableDueToLegalHold": (409, ("This operation is not permitted as the blob is immutable due to one or "
                                          "more legal holds.")),
    "BlobNotFound": (404, "The specified blob does not exist."),
    "InvalidHeaderValue": (400, "The value for one of the HTTP headers is not in the correct format."),
    "AuthenticationFailed": (403, ("Server failed to authenticate the request. Make sure the value of "
                                   "Authorization header is formed correctly including the signature.")),
    "AuthorizationPermissionMismatch": (403, ("This request is not authorized to perform this operation using "
                                              "this permission.")),
}
_SIGNED = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
           "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")
_BLOB = re.compile(rb"<Blob>.*?</Blob>", re.DOTALL)
_NAME = re.compile(rb"<Name>(.*?)</Name>", re.DOTALL)


def _response(status: int, reason: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items()),
             f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _dechunk(body: bytes) -> bytes:
    out, i = bytearray(), 0
    while True:
        end = body.index(b"\r\n", i)
        size = int(body[i:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        i = end + 2 + size + 2


class LegalHoldStorage(FaultProxy):
    def __init__(self, azurite, lifetime: float = 900.0):
        super().__init__(("127.0.0.1", azurite.blob_port))
        self.azurite = azurite
        self.held: set[tuple[str, str]] = set()
        self.calls: Counter[str] = Counter()  # "set true", "set false", "refused", "delete refused", "listed"
        self.refusal: tuple[int, str] | None = None
        self._held_lock = threading.Lock()
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def start(self) -> LegalHoldStorage:
        self._timer.start()
        return super().start()  # type: ignore[return-value]

    def stop(self) -> None:
        self._timer.cancel()
        super().stop()

    def connection_string(self, account: str = ACCOUNT, key: str = KEY) -> str:
        """Azurite's connection string with the blob endpoint through this server (queues stay direct)."""
        return re.sub(r"BlobEndpoint=[^;]*;", f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};",
                      self.azurite.connection_string)

    def held_names(self) -> set[str]:
        """The blob names under legal hold (every container)."""
        with self._held_lock:
            return {name for _, name in self.held}

    def refuse(self, status: int | None, code: str | None = None) -> None:
        """Answer Set Blob Legal Hold with this error from now on (None: accept again)."""
        self.refusal = (status, code) if status else None

    # -- the three behaviours ------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes | None:
        path, query = self._parse(target)
        parts = path.split("/", 3)  # "", account, container, blob
        if len(parts) < 4 or not parts[3]:
            return None
        container, blob = parts[2], parts[3]
        comp = query.get("comp", [None])[0]
        if method == "PUT" and comp == "legalhold":
            return self._set_legal_hold(target, headers, container, blob)
        if method == "DELETE" and comp is None and "snapshot" not in query and "versionid" not in query:
            with self._held_lock:
                held = (container, blob) in self.held
            if held:
                self.calls["delete refused"] += 1
                return self._error("BlobImmutableDueToLegalHold", headers)
        return None

    def rewrite(self, method: str, target: str, r_head: bytes, r_body: bytes) -> tuple[bytes, bytes]:
        path, query = self._parse(target)
        include = ",".join(query.get("include", [])).lower().split(",")
        if not (method == "GET" and query.get("comp") == ["list"] and query.get("restype") == ["container"]
                and "legalhold" in include and r_head.startswith(b"HTTP/1.1 200")):
            return r_head, r_body
        container = path.split("/")[2]
        lines = r_head.split(b"\r\n")
        chunked = any(line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower() for line in lines)
        xml = _dechunk(r_body) if chunked else r_body
        with self._held_lock:
            held = {name for c, name in self.held if c == container}

        def mark(m: re.Match) -> bytes:
            found = _NAME.search(m.group(0))
            name = html.unescape(found.group(1).decode("utf-8")) if found else None
            if name in held:
                return m.group(0).replace(b"</Properties>", b"<LegalHold>true</LegalHold></Properties>", 1)
            return m.group(0)

        xml = _BLOB.sub(mark, xml)
        self.calls["listed"] += 1
        kept = [line for line in lines if line and not line.lower().startswith((b"transfer-encoding:", b"content-length:"))]
        return b"\r\n".join([*kept, b"Content-Length: " + str(len(xml)).encode(), b"", b""]), xml

    def _set_legal_hold(self, target: str, headers: dict[str, str], container: str, blob: str) -> bytes:
        if not self._signed(target, headers):
            return self._error("AuthenticationFailed", headers)
        if self.refusal is not None:
            self.calls["refused"] += 1
            status, code = self.refusal
            return self._error(code or "AuthorizationPermissionMismatch", headers, status)
        value = headers.get("x-ms-legal-hold", "").lower()
        if value not in ("true", "false"):
            return self._error("InvalidHeaderValue", headers)
        if not self._exists(container, blob):
            return self._error("BlobNotFound", headers)
        with self._held_lock:
            (self.held.add if value == "true" else self.held.discard)((container, blob))
        self.calls[f"set {value}"] += 1
        return _response(200, "OK", {**self._common(headers), "x-ms-legal-hold": value})

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _parse(target: str) -> tuple[str, dict[str, list[str]]]:
        split = urlsplit(target)
        return unquote(split.path), parse_qs(split.query, keep_blank_values=True)

    def _exists(self, container: str, blob: str) -> bool:
        from azure.storage.blob import BlobClient

        return BlobClient.from_connection_string(self.azurite.connection_string, container, blob).exists()

    @staticmethod
    def _signed(target: str, headers: dict[str, str]) -> bool:
        """The Shared Key signature of the request, computed with the emulator's key, is the one it carries."""
        auth = headers.get("authorization", "")
        if not auth.startswith(f"SharedKey {ACCOUNT}:"):
            return False
        split = urlsplit(target)
        standard = [headers.get(h, "") for h in _SIGNED]
        if standard[2] == "0":
            standard[2] = ""  # Content-Length: empty when zero (version 2015-02-21 and later)
        x_ms = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
        resource = f"/{ACCOUNT}{split.path}" + "".join(
            f"\n{k.lower()}:{','.join(sorted(v))}" for k, v in sorted(parse_qs(split.query).items()))
        text = "\n".join(["PUT", *standard]) + "\n" + x_ms + resource
        digest = hmac.new(base64.b64decode(KEY), text.encode("utf-8"), hashlib.sha256).digest()
        return hmac.compare_digest(auth.split(":", 1)[1], base64.b64encode(digest).decode())

    @staticmethod
    def _common(headers: dict[str, str]) -> dict[str, str]:
        out = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": headers.get("x-ms-version", "2020-04-08"),
               "Date": formatdate(usegmt=True)}
        if "x-ms-client-request-id" in headers:
            out["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        return out

    def _error(self, code: str, headers: dict[str, str], status: int | None = None) -> bytes:
        known_status, message = ERRORS.get(code, (status or 400, code))
        status = status or known_status
        common = self._common(headers)
        body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
                f"RequestId:{common['x-ms-request-id']}\nTime:{common['Date']}</Message></Error>").encode()
        return _response(status, HTTPStatus(status).phrase, {**common, "Content-Type": "application/xml",
                                                          "x-ms-error-code": code}, body)
