"""The REST surface: routing, authentication, validation and JSON for the Identity and Chat APIs.

Chat follows the data-plane spec api-version 2024-03-07 (tests/vectors/chat-rest/2024-03-07); Identity
follows what azure-communication-identity 1.5.0 sends (api-version 2023-10-01, HMAC-SHA256 signed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, quote, unquote

import orjson

from .state import (
    MESSAGE_TYPES,
    TOKEN_SCOPES,
    UTC,
    ApiError,
    Participant,
    bad_request,
    fmt_time,
    forbidden,
    not_found,
    parse_time,
    to_us,
)

if TYPE_CHECKING:
    from .server import AcsTestServer

DEFAULT_PAGE_SIZE = 100  # not documented; what the server uses when maxPageSize is absent
MAX_PAGE_SIZE = 200  # ListMessages page limit (service-limits.md); applied to every list
CHAT_API_VERSION = "2024-03-07"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, percent-encoded, without query
    raw_query: str
    segments: list[str]  # decoded path segments
    headers: Any  # email.message.Message (case-insensitive get)
    body: bytes
    query: dict[str, list[str]] = field(default_factory=dict)
    user: str | None = None

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE), *(headers or [])])


def error_response(err: ApiError) -> Response:
    return json_response(err.status, err.body(), err.headers)


def unauthorized(message: str = "Request is not authorized.") -> ApiError:
    return ApiError(401, "Unauthorized", message)


class RestApi:
    def __init__(self, server: "AcsTestServer") -> None:
        self.s = server

    # ------------------------------------------------------------------------------------------ routing

    def route(self, req: Request) -> tuple[Callable[..., Response], str, tuple]:
        """(handler, auth kind "hmac"|"bearer", extra args) or ApiError 404/405."""
        segs = req.segments
        m = req.method
        n = len(segs)
        table: dict[str, tuple[Callable, str, tuple]] = {}
        if n >= 1 and segs[0] == "identities":
            if n == 1:
                table = {"POST": (self.create_identity, "hmac", ())}
            elif n == 2:
                table = {"DELETE": (self.delete_identity, "hmac", (segs[1],))}
            elif n == 3 and segs[2] == ":issueAccessToken":
                table = {"POST": (self.issue_access_token, "hmac", (segs[1],))}
            elif n == 3 and segs[2] == ":revokeAccessTokens":
                table = {"POST": (self.revoke_access_tokens, "hmac", (segs[1],))}
        elif n >= 2 and segs[0] == "chat" and segs[1] == "threads":
            rest = segs[2:]
            k = len(rest)
            if k == 0:
                table = {"GET": (self.list_threads, "bearer", ()), "POST": (self.create_thread, "bearer", ())}
            elif k == 1:
                a = (rest[0],)
                table = {
                    "GET": (self.get_thread, "bearer", a),
                    "PATCH": (self.update_thread, "bearer", a),
                    "DELETE": (self.delete_thread, "bearer", a),
                }
            elif rest[1] == "messages" and k == 2:
                a = (rest[0],)
                table = {"GET": (self.list_messages, "bearer", a), "POST": (self.send_message, "bearer", a)}
            elif rest[1] == "messages" and k == 3:
                a = (rest[0], rest[2])
                table = {
                    "GET": (self.get_message, "bearer", a),
                    "PATCH": (self.update_message, "bearer", a),
                    "DELETE": (self.delete_message, "bearer", a),
                }
            elif rest[1] == "participants" and k == 2:
                table = {"GET": (self.list_participants, "bearer", (rest[0],))}
            elif rest[1] == "participants" and k == 3 and rest[2] == ":add":
                table = {"POST": (self.add_participants, "bearer", (rest[0],))}
            elif rest[1] == "participants" and k == 3 and rest[2] == ":remove":
                table = {"POST": (self.remove_participant, "bearer", (rest[0],))}
            elif rest[1] == "readReceipts" and k == 2:
                a = (rest[0],)
                table = {"GET": (self.list_read_receipts, "bearer", a), "POST": (self.send_read_receipt, "bearer", a)}
            elif rest[1] == "typing" and k == 2:
                table = {"POST": (self.send_typing, "bearer", (rest[0],))}
        if not table:
            from .media import route as media_route  # Advanced Messaging media (media.py)
            from .recordings import route as recording_route  # Call Automation recordings (recordings.py)
            from .sending import route as sending_route  # SMS, Email, Advanced Messages (sending.py)

            table = media_route(self, req) or sending_route(self, req) or recording_route(self, req) or {}
        if not table:
            raise not_found(f"No resource at {req.path}.")
        entry = table.get(m)
        if entry is None:
            allow = [("Allow", ", ".join(table))]
            raise ApiError(405, "MethodNotAllowed", f"{m} is not allowed on {req.path}.", headers=allow)
        return entry

    def handle(self, req: Request) -> Response:
        handler, auth, args = self.route(req)
        if auth != "hmac-raw":  # recording storage takes no api-version (recordings.py)
            self.require_api_version(req)
        if auth == "hmac-raw":
            # Recording storage is another host: the signature covers the resource's host, which the
            # SDK names in x-ms-host (recordings.py).
            if req.headers.get("x-ms-host") != self.s.host:
                raise unauthorized("x-ms-host must name the ACS resource.")
            self.check_hmac(req, signed_host=f"{self.s.host}:{self.s.port}")
        elif auth == "hmac":
            self.check_hmac(req)
        else:
            req.user = self.check_bearer(req)
        return handler(req, *args)

    # ------------------------------------------------------------------------------------------ helpers

    @staticmethod
    def require_api_version(req: Request) -> str:
        values = req.query.get("api-version")
        if not values or not values[-1]:
            message = "The api-version query parameter is required."
            raise ApiError(400, "MissingApiVersionParameter", message, "api-version")
        return values[-1]

    @staticmethod
    def q_int(req: Request, name: str, default: int, minimum: int) -> int:
        values = req.query.get(name)
        if not values:
            return default
        try:
            value = int(values[-1])
        except ValueError:
            raise bad_request(f"The value '{values[-1]}' is not valid for {name}.", name) from None
        if value < minimum:
            raise bad_request(f"{name} must be at least {minimum}.", name)
        return value

    def page_size(self, req: Request) -> int:
        return min(self.q_int(req, "maxPageSize", DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)

    @staticmethod
    def q_time(req: Request, name: str) -> int | None:
        values = req.query.get(name)
        if not values:
            return None
        try:
            return to_us(parse_time(values[-1]))
        except ValueError:
            raise bad_request(f"The value '{values[-1]}' is not a valid RFC 3339 date-time for {name}.", name) from None

    @staticmethod
    def body(req: Request, required: bool = True) -> dict:
        if not req.body.strip():
            if required:
                raise bad_request("A request body is required.")
            return {}
        try:
            obj = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(obj, dict):
            raise bad_request("The request body must be a JSON object.")
        return obj

    @staticmethod
    def raw_id(obj: Any, target: str) -> str:
        """The raw id of a CommunicationIdentifierModel."""
        if not isinstance(obj, dict):
            raise bad_request("A communication identifier must be an object.", target)
        raw = obj.get("rawId")
        if not raw:
            user = obj.get("communicationUser")
            if isinstance(user, dict):
                raw = user.get("id")
        if not raw and isinstance(obj.get("phoneNumber"), dict):
            raw = "4:" + str(obj["phoneNumber"].get("value", ""))
        if not isinstance(raw, str) or not raw:
            raise bad_request("The communication identifier has no rawId.", target)
        return raw

    @staticmethod
    def optional_str(body: dict, name: str) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} must be a string.", name)
        return value

    @staticmethod
    def metadata(body: dict) -> dict | None:
        value = body.get("metadata")
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad_request("metadata must be an object of strings.", "metadata")
        return value

    @staticmethod
    def sync_encode(*parts: Any) -> str:
        return "|".join(str(p) for p in parts).encode("utf-8").hex()

    @staticmethod
    def sync_decode(req: Request, kind: str, count: int) -> list[str] | None:
        values = req.query.get("syncState")
        if not values:
            return None
        try:
            parts = bytes.fromhex(values[-1]).decode("utf-8").split("|")
        except (ValueError, UnicodeDecodeError):
            parts = []
        if len(parts) != count or parts[0] != kind:
            raise bad_request("The syncState is not valid.", "syncState")
        return parts

    def link(self, path: str, query: str) -> str:
        return f"{self.s.endpoint}{path}?{query}"

    def thread_location(self, thread_id: str) -> str:
        return f"{self.s.endpoint}chat/threads/{quote(thread_id, safe='@')}"

    # ------------------------------------------------------------------------------------------ auth

    def check_bearer(self, req: Request) -> str:
        auth = req.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        info = self.s.token_info(token.strip())
        if info is None:
            raise unauthorized()
        if not any(scope.startswith("chat") for scope in info.scopes):
            raise unauthorized("The access token has no chat scope.")
        return info.user_id

    def check_hmac(self, req: Request, signed_host: str | None = None) -> None:
        """Verify the signature of HMACCredentialsPolicy (azure-communication-identity 1.5.0); ``signed_host``
        stands for the Host header when the request goes to another host than the resource's."""
        auth = req.headers.get("Authorization") or ""
        prefix = "HMAC-SHA256 "
        if not auth.startswith(prefix):
            raise unauthorized("HMAC-SHA256 authorization is required.")
        params: dict[str, str] = {}
        for part in auth[len(prefix) :].split("&"):
            name, _, value = part.partition("=")
            params[name.strip()] = value.strip()
        signed = [h.strip().lower() for h in params.get("SignedHeaders", "").split(";") if h.strip()]
        signature = params.get("Signature", "")
        if not signature or not {"x-ms-date", "host", "x-ms-content-sha256"} <= set(signed):
            raise unauthorized("SignedHeaders must include x-ms-date, host and x-ms-content-sha256.")
        values = []
        for name in signed:
            value = signed_host if name == "host" and signed_host else req.headers.get(name)
            if value is None:
                raise unauthorized(f"Signed header {name} is missing.")
            values.append(value)
        content_hash = base64.b64encode(hashlib.sha256(req.body).digest()).decode("ascii")
        if not hmac.compare_digest(content_hash, req.headers.get("x-ms-content-sha256") or ""):
            raise unauthorized("x-ms-content-sha256 does not match the body.")
        skew = self.s.hmac_max_skew
        if skew is not None:
            try:
                sent = parsedate_to_datetime(req.headers.get("x-ms-date") or "")
            except (TypeError, ValueError):
                raise unauthorized("x-ms-date is not a valid HTTP date.") from None
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=UTC)
            if abs(datetime.now(UTC) - sent) > skew:
                raise unauthorized("x-ms-date is too far from the server's time.")
        try:
            key = base64.b64decode(self.s.access_key)
        except binascii.Error:  # pragma: no cover - the key is ours
            raise unauthorized() from None
        path_query = req.raw_path + ("?" + req.raw_query if req.raw_query else "")
        for candidate in dict.fromkeys((path_query, unquote(path_query))):
            string_to_sign = f"{req.method}\n{candidate}\n{';'.join(values)}"
            expected = base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest())
            if hmac.compare_digest(expected.decode("ascii"), signature):
                return
        raise unauthorized("The HMAC signature is not valid for this resource's access key.")

    # ------------------------------------------------------------------------------------------ identity

    @staticmethod
    def token_request(body: dict, scopes_key: str) -> tuple[list[str] | None, timedelta]:
        scopes = body.get(scopes_key)
        if scopes is not None:
            if not isinstance(scopes, list) or not scopes or not all(isinstance(x, str) for x in scopes):
                raise bad_request(f"{scopes_key} must be a non-empty list of scopes.", scopes_key)
            unknown = [x for x in scopes if x not in TOKEN_SCOPES]
            if unknown:
                raise bad_request(f"Unknown scope(s): {', '.join(unknown)}.", scopes_key)
        minutes = body.get("expiresInMinutes")
        if minutes is None:
            minutes = 1440
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 60 <= minutes <= 1440:
            raise bad_request("expiresInMinutes must be an integer from 60 to 1440.", "expiresInMinutes")
        return scopes, timedelta(minutes=minutes)

    def token_json(self, user_id: str, scopes: list[str], expires_in: timedelta) -> dict:
        token = self.s.issue_token(user_id, scopes, expires_in)
        info = self.s.token_info(token)
        return {"token": token, "expiresOn": fmt_time(datetime.fromtimestamp(info.expires_on, UTC))}

    def create_identity(self, req: Request) -> Response:
        body = self.body(req, required=False)
        key = "createTokenWithScopes" if "createTokenWithScopes" in body else "createTokenFor"
        scopes, expires_in = self.token_request(body, key)
        user_id = self.s.create_user()
        out: dict[str, Any] = {"identity": {"id": user_id}}
        if scopes:
            out["accessToken"] = self.token_json(user_id, scopes, expires_in)
        return json_response(201, out)

    def issue_access_token(self, req: Request, user_id: str) -> Response:
        body = self.body(req)
        scopes, expires_in = self.token_request(body, "scopes")
        if scopes is None:
            raise bad_request("scopes is required.", "scopes")
        if not self.s.user_exists(user_id):
            raise ApiError(404, "IdentityNotFound", f"Identity {user_id} was not found.")
        return json_response(200, self.token_json(user_id, scopes, expires_in))

    def delete_identity(self, req: Request, user_id: str) -> Response:
        self.s.delete_user(user_id)
        return Response(204)

    def revoke_access_tokens(self, req: Request, user_id: str) -> Response:
        if not self.s.user_exists(user_id):
            raise ApiError(404, "IdentityNotFound", f"Identity {user_id} was not found.")
        self.s.revoke_tokens(user_id)
        return Response(204)

    # ------------------------------------------------------------------------------------------ threads

    def list_threads(self, req: Request) -> Response:
        size = self.page_size(req)
        sync = self.sync_decode(req, "t1", 4)
        if sync is not None:
            try:
                cursor = (int(sync[1]), sync[2])
                start_us = int(sync[3]) if sync[3] else None
            except ValueError:
                raise bad_request("The syncState is not valid.", "syncState") from None
        else:
            start_us = self.q_time(req, "startTime")
            cursor = None
        items, nxt = self.s.page_threads(req.user, size, start_us, cursor)
        out: dict[str, Any] = {"value": items}
        if nxt is not None:
            state = self.sync_encode("t1", nxt[0], nxt[1], "" if start_us is None else start_us)
            out["nextLink"] = self.link(
                "chat/threads", f"syncState={state}&api-version={CHAT_API_VERSION}&maxPageSize={size}"
            )
        return json_response(200, out)

    def participants_from(self, body: dict, key: str = "participants") -> tuple[list[Participant], list[dict]]:
        specs = body.get(key)
        if specs is None:
            return [], []
        if not isinstance(specs, list):
            raise bad_request(f"{key} must be a list.", key)
        valid, invalid = [], []
        for spec in specs:
            if not isinstance(spec, dict):
                raise bad_request("A participant must be an object.", key)
            raw = self.raw_id(spec.get("communicationIdentifier"), "communicationIdentifier")
            display = self.optional_str(spec, "displayName")
            share = spec.get("shareHistoryTime")
            share_dt = None
            if share is not None:
                try:
                    share_dt = parse_time(str(share))
                except ValueError:
                    raise bad_request("shareHistoryTime is not a valid date-time.", "shareHistoryTime") from None
            if not self.s.user_exists(raw):
                invalid.append({"code": "404", "message": "Not found", "target": raw})
                continue
            valid.append(Participant(raw, display, share_dt, self.metadata(spec)))
        return valid, invalid

    def create_thread(self, req: Request) -> Response:
        request_id = req.headers.get("repeatability-request-id")
        if request_id:
            with self.s._lock:
                previous = self.s._idempotency.get((req.user, request_id))
            if previous is not None:
                thread_id, body = previous
                return Response(
                    201, body, [("Content-Type", JSON_TYPE), ("Location", self.thread_location(thread_id))]
                )
        body = self.body(req)
        topic = body.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            raise bad_request("topic is required.", "topic")
        valid, invalid = self.participants_from(body)
        with self.s._lock:
            thread_id = self.s.create_thread(topic, req.user, valid)
            out: dict[str, Any] = {"chatThread": self.s.thread(thread_id)}
            if invalid:
                out["invalidParticipants"] = invalid
            payload = orjson.dumps(out)
            if request_id:
                self.s._idempotency[(req.user, request_id)] = (thread_id, payload)
        return Response(201, payload, [("Content-Type", JSON_TYPE), ("Location", self.thread_location(thread_id))])

    def get_thread(self, req: Request, thread_id: str) -> Response:
        with self.s._lock:
            t = self.s._thread(thread_id)
            self.s.read_window(t, req.user)
            return json_response(200, self.s._thread_properties(t))

    def writable(self, thread_id: str, user: str):
        t = self.s._thread(thread_id)
        self.s.require_member(t, user)
        if t.deleted_on is not None:
            raise not_found(f"Thread {thread_id} was deleted.")
        return t

    def update_thread(self, req: Request, thread_id: str) -> Response:
        body = self.body(req)
        topic = body.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            raise bad_request("topic is required.", "topic")
        with self.s._lock:
            self.writable(thread_id, req.user)
            self.s.update_topic(thread_id, topic, by=req.user)
        return Response(204)

    def delete_thread(self, req: Request, thread_id: str) -> Response:
        with self.s._lock:
            t = self.s._thread(thread_id)
            self.s.require_member(t, req.user)
            self.s.delete_thread(thread_id)
        return Response(204)

    # ------------------------------------------------------------------------------------------ messages

    def list_messages(self, req: Request, thread_id: str) -> Response:
        size = self.page_size(req)
        sync = self.sync_decode(req, "m1", 4)
        if sync is not None:
            if sync[1] != thread_id:
                raise bad_request("The syncState belongs to another thread.", "syncState")
            try:
                cursor = int(sync[2])
                start_us = int(sync[3]) if sync[3] else None
            except ValueError:
                raise bad_request("The syncState is not valid.", "syncState") from None
        else:
            cursor = None
            start_us = self.q_time(req, "startTime")
        page, nxt = self.s.page_messages(thread_id, req.user, size, start_us, cursor)
        body = b'{"value":[' + b",".join(page) + b"]"
        if nxt is not None:
            state = self.sync_encode("m1", thread_id, nxt, "" if start_us is None else start_us)
            link = self.link(
                f"chat/threads/{thread_id}/messages",
                f"syncState={state}&startTime=0&maxPageSize={size}&api-version={CHAT_API_VERSION}",
            )
            body += b',"nextLink":' + orjson.dumps(link)
        return Response(200, body + b"}", [("Content-Type", JSON_TYPE)])

    def send_message(self, req: Request, thread_id: str) -> Response:
        body = self.body(req)
        content = body.get("content")
        if not isinstance(content, str) or not content:
            raise bad_request("content is required.", "content")
        type_ = body.get("type") or "text"
        if type_ not in ("text", "html"):
            if type_ in MESSAGE_TYPES:
                raise bad_request(f"Messages of type {type_} cannot be sent.", "type")
            raise bad_request(f"Unknown message type {type_}.", "type")
        display = self.optional_str(body, "senderDisplayName")
        metadata = self.metadata(body)
        with self.s._lock:
            self.writable(thread_id, req.user)
            message_id = self.s.send_message(
                thread_id, req.user, content, type=type_, metadata=metadata, sender_display_name=display
            )
        location = f"{self.thread_location(thread_id)}/messages/{message_id}"
        return json_response(201, {"id": message_id}, [("Location", location)])

    def get_message(self, req: Request, thread_id: str, message_id: str) -> Response:
        with self.s._lock:
            t = self.s._thread(thread_id)
            lo, hi = self.s.read_window(t, req.user)
            m = t.by_id.get(message_id)
            if m is None or (lo is not None and m.created_us < lo) or (hi is not None and m.created_us > hi):
                raise not_found(f"Message {message_id} not found.")
            return Response(200, self.s._message_json(m), [("Content-Type", JSON_TYPE)])

    def own_message(self, req: Request, thread_id: str, message_id: str):
        t = self.writable(thread_id, req.user)
        m = t.by_id.get(message_id)
        if m is None:
            raise not_found(f"Message {message_id} not found.")
        if m.sender != req.user:  # only the sender may edit or delete a message
            raise forbidden()
        return m

    def update_message(self, req: Request, thread_id: str, message_id: str) -> Response:
        body = self.body(req)
        content = self.optional_str(body, "content")
        metadata = self.metadata(body)
        with self.s._lock:
            m = self.own_message(req, thread_id, message_id)
            if m.deleted_on is not None:
                raise not_found(f"Message {message_id} was deleted.")
            self.s.edit_message(thread_id, message_id, content=content, metadata=metadata)
        return Response(204)

    def delete_message(self, req: Request, thread_id: str, message_id: str) -> Response:
        with self.s._lock:
            self.own_message(req, thread_id, message_id)
            self.s.delete_message(thread_id, message_id)
        return Response(204)

    # ------------------------------------------------------------------------------------------ participants

    def list_participants(self, req: Request, thread_id: str) -> Response:
        size = self.page_size(req)
        skip = self.q_int(req, "skip", 0, 0)
        items, more = self.s.page_participants(thread_id, req.user, size, skip)
        out: dict[str, Any] = {"value": items}
        if more:
            out["nextLink"] = self.link(
                f"chat/threads/{thread_id}/participants",
                f"skip={skip + size}&maxPageSize={size}&api-version={CHAT_API_VERSION}",
            )
        return json_response(200, out)

    def add_participants(self, req: Request, thread_id: str) -> Response:
        body = self.body(req)
        if not isinstance(body.get("participants"), list):
            raise bad_request("participants is required.", "participants")
        valid, invalid = self.participants_from(body)
        now = datetime.now(UTC)
        if self.s.default_share_history == "from_join":
            for p in valid:
                if p.share_history_time is None:
                    p.share_history_time = now
        with self.s._lock:
            self.writable(thread_id, req.user)
            self.s.add_participants(thread_id, valid, by=req.user, added_on=now)
        return json_response(201, {"invalidParticipants": invalid} if invalid else {})

    def remove_participant(self, req: Request, thread_id: str) -> Response:
        raw = self.raw_id(self.body(req), "participantCommunicationIdentifier")
        with self.s._lock:
            self.writable(thread_id, req.user)
            self.s.remove_participant(thread_id, raw, by=req.user)
        return Response(204)

    # ------------------------------------------------------------------------------------------ receipts, typing

    def list_read_receipts(self, req: Request, thread_id: str) -> Response:
        size = self.page_size(req)
        skip = self.q_int(req, "skip", 0, 0)
        items, more = self.s.page_read_receipts(thread_id, req.user, size, skip)
        out: dict[str, Any] = {"value": items}
        if more:
            out["nextLink"] = self.link(
                f"chat/threads/{thread_id}/readReceipts",
                f"skip={skip + size}&maxPageSize={size}&api-version={CHAT_API_VERSION}",
            )
        return json_response(200, out)

    def send_read_receipt(self, req: Request, thread_id: str) -> Response:
        body = self.body(req)
        message_id = body.get("chatMessageId")
        if not isinstance(message_id, str) or not message_id:
            raise bad_request("chatMessageId is required.", "chatMessageId")
        with self.s._lock:
            t = self.writable(thread_id, req.user)
            if message_id not in t.by_id:
                raise not_found(f"Message {message_id} not found.")
            t.read_receipts[req.user] = (message_id, datetime.now(UTC))
        return Response(200)

    def send_typing(self, req: Request, thread_id: str) -> Response:
        self.body(req, required=False)
        with self.s._lock:
            self.writable(thread_id, req.user)
        return Response(200)


def parse_query(raw_query: str) -> dict[str, list[str]]:
    return parse_qs(raw_query, keep_blank_values=True)
