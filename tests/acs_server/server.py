"""An HTTPS test double of Azure Communication Services (Identity + Chat) on loopback.

Usage::

    with AcsTestServer() as acs:
        os.environ.update(acs.trust_env())          # or pass **acs.client_kwargs() to each client
        identity = CommunicationIdentityClient.from_connection_string(acs.connection_string)
        user = identity.create_user()
        token = identity.get_token(user, ["chat"]).token
        chat = ChatClient(acs.endpoint, CommunicationTokenCredential(token))

Trusting the certificate
------------------------
The server speaks HTTPS only (the SDK's bearer policy refuses ``http://``) with a throwaway certificate
(see :mod:`.certs`).  Clients trust it through ``ca_file``:

* sync SDK (requests): ``REQUESTS_CA_BUNDLE=<ca_file>``, read at every request;
* async SDK (aiohttp): ``SSL_CERT_FILE=<ca_file>``, but aiohttp builds its default SSL context when it is
  first imported, so the variable must be set before ``aiohttp`` is imported (or run the client in a
  subprocess with that environment);
* either SDK, regardless of environment and import order: ``connection_verify=<ca_file>`` as a client
  keyword argument (:meth:`AcsTestServer.client_kwargs`).  ``ChatClient.get_chat_thread_client()`` does
  not pass its client's keyword arguments on: give them again there.  An explicit ``verify``/
  ``connection_verify`` is also the only way for plain ``requests`` calls when the environment already
  sets ``REQUESTS_CA_BUNDLE`` (requests lets that variable override ``Session.verify``).

All servers of one process share one certificate (:func:`.certs.default_bundle`), so a ``ca_file`` taken
from the first server stays valid for the later ones.  Note that ``SSL_CERT_FILE`` replaces the system
trust store for the process: fine on a machine that talks to nothing else over TLS.

Everything else (data API, faults, request log) is documented on :class:`AcsTestServer`.
"""

from __future__ import annotations

import atexit
import functools
import logging
import socket
import ssl
import threading
import time
import traceback
import uuid
import weakref
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from . import certs
from .api import JSON_TYPE, Request, Response, RestApi, error_response, json_response, parse_query
from .faults import Faults, RequestLog, RequestRecord, sleep
from .state import AcsState, ApiError

__all__ = ["AcsTestServer"]

log = logging.getLogger(__name__)


class _TLSHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connections are wrapped in TLS in their own thread (not in accept())."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, ssl_context: ssl.SSLContext, app: "AcsTestServer"):
        self.ssl_context = ssl_context
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0  # TLS connections set up so far (keep-alive makes this small)
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(10)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        with self._connections_lock:
            self._connections.add(tls)
            self.connections_accepted += 1
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(tls)
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # pragma: no cover - logged, never raised
        log.debug("acs test server connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AcsTestServer/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _TLSHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - silence the stdlib's stderr log
        pass

    def do_GET(self):
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        app = self.server.app
        started = time.perf_counter()
        arrived = time.time()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        if segments and segments[-1] == "":
            segments.pop()
        req = Request(
            method=self.command,
            raw_path=split.path,
            raw_query=split.query,
            segments=segments,
            headers=self.headers,
            body=body,
            query=parse_query(split.query),
        )
        resp, faulted = app._respond(req)
        # logged before the answer leaves, so a client that got it always finds it in the log
        app.request_log.append(
            RequestRecord(
                time=arrived,
                method=req.method,
                path=req.path,
                query=req.raw_query,
                status=resp.status,
                user=req.user,
                fault=faulted,
                duration=time.perf_counter() - started,
                client_request_id=self.headers.get("x-ms-client-request-id"),
            )
        )
        self._write(resp)

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        client_request_id = self.headers.get("x-ms-client-request-id")
        if client_request_id:
            self.send_header("x-ms-client-request-id", client_request_id)
        self.send_header("MS-CV", uuid.uuid4().hex[:22])
        if resp.status != 204 and resp.status >= 200:
            self.send_header("Content-Length", str(len(resp.body)))
        if (self.headers.get("Connection") or "").lower() == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        # headers and body in one write: no Nagle / delayed-ACK stall on keep-alive connections
        self._headers_buffer.append(b"\r\n")
        if resp.body and self.command != "HEAD" and resp.status != 204:
            self._headers_buffer.append(resp.body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


def _stop_at_exit(ref: "weakref.ReferenceType[AcsTestServer]") -> None:
    server = ref()
    if server is not None:
        server.stop()


class AcsTestServer(AcsState):
    """HTTPS ACS Identity + Chat server on 127.0.0.1 for the real azure-communication-* SDKs.

    Lifecycle: ``start()`` / ``stop()`` (idempotent), or ``with AcsTestServer() as acs:``; a running server
    also stops at interpreter exit.  Served from daemon threads, HTTP/1.1 keep-alive.

    Public attributes (after start): ``endpoint`` (``https://127.0.0.1:PORT/``), ``connection_string``
    (``endpoint=...;accesskey=<base64>``), ``ca_file``, ``port``; ``access_key``, ``resource_id``;
    ``faults`` (:class:`.faults.Faults`), ``request_log`` (:class:`.faults.RequestLog`), ``errors``
    (tracebacks of requests answered 500).

    Data API (thread-safe, no HTTP; see :class:`.state.AcsState`): ``create_user``, ``issue_token``,
    ``create_thread``, ``add_participant``, ``remove_participant``, ``update_topic``, ``send_message``,
    ``add_messages``, ``edit_message``, ``delete_message``, ``delete_thread``, ``thread_ids``,
    ``messages``, ``participants``, ``thread``.

    Options: ``hmac_max_skew`` (max distance of the identity request's x-ms-date from now; None = any),
    plus :class:`.state.AcsState`'s ``removed_can_read_history`` and ``default_share_history``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        access_key: str | None = None,
        resource_id: str | None = None,
        cert: certs.CertBundle | None = None,
        hmac_max_skew: timedelta | None = timedelta(minutes=15),
        **state_options: Any,
    ) -> None:
        super().__init__(resource_id=resource_id, access_key=access_key, **state_options)
        self.host = "127.0.0.1"
        self._requested_port = port
        self._cert = cert
        self.hmac_max_skew = hmac_max_skew
        self.faults = Faults()
        self.request_log = RequestLog()
        self.errors: list[str] = []
        self.api = RestApi(self)
        self._httpd: _TLSHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._atexit = None
        self.port: int | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> "AcsTestServer":
        if self._httpd is not None:
            return self
        self._cert = self._cert or certs.default_bundle()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert.cert_file, self._cert.key_file)
        self._httpd = _TLSHTTPServer((self.host, self._requested_port), _Handler, context, self)
        self.port = self._httpd.server_address[1]
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"acs-test-server-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        self._atexit = functools.partial(_stop_at_exit, weakref.ref(self))
        atexit.register(self._atexit)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
            self._serve_thread = None
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    def __enter__(self) -> "AcsTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def connections_accepted(self) -> int:
        """TLS connections accepted since start (with keep-alive, far fewer than requests)."""
        return self._httpd.connections_accepted if self._httpd is not None else 0

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # ------------------------------------------------------------------------------------------ addresses

    def _require_started(self) -> None:
        if self.port is None:
            raise RuntimeError("AcsTestServer is not started")

    @property
    def endpoint(self) -> str:
        self._require_started()
        return f"https://{self.host}:{self.port}/"

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.endpoint};accesskey={self.access_key}"

    @property
    def ca_file(self) -> str:
        if self._cert is None:
            self._cert = certs.default_bundle()
        return self._cert.ca_file

    def trust_env(self) -> dict[str, str]:
        """Environment variables that make requests (sync SDK) and aiohttp (async SDK) trust the server.

        ``REQUESTS_CA_BUNDLE`` is read by requests at every request.  ``SSL_CERT_FILE`` is read by OpenSSL
        when an SSL context loads its default paths: aiohttp does that once at import, so set it before
        aiohttp is imported, or use :meth:`client_kwargs` instead.
        """
        return {"REQUESTS_CA_BUNDLE": self.ca_file, "SSL_CERT_FILE": self.ca_file}

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for any azure-core client (sync or async) to trust the server."""
        return {"connection_verify": self.ca_file}

    # ------------------------------------------------------------------------------------------ SDK helpers

    def chat_client(self, user_id: str, **kwargs):
        """A sync ChatClient acting as ``user_id`` (token issued directly, trust via connection_verify)."""
        from azure.communication.chat import ChatClient, CommunicationTokenCredential

        credential = CommunicationTokenCredential(self.issue_token(user_id))
        return ChatClient(self.endpoint, credential, **{**self.client_kwargs(), **kwargs})

    def chat_thread_client(self, user_id: str, thread_id: str, **kwargs):
        """A sync ChatThreadClient acting as ``user_id``.

        Note: ``ChatClient.get_chat_thread_client(thread_id)`` does not pass on the ChatClient's keyword
        arguments, so ``connection_verify`` must be given to it again (or trust the CA by environment).
        """
        from azure.communication.chat import ChatThreadClient, CommunicationTokenCredential

        credential = CommunicationTokenCredential(self.issue_token(user_id))
        return ChatThreadClient(self.endpoint, credential, thread_id, **{**self.client_kwargs(), **kwargs})

    def async_chat_client(self, user_id: str, **kwargs):
        """An async ChatClient acting as ``user_id`` (use inside a running event loop)."""
        from azure.communication.chat.aio import ChatClient, CommunicationTokenCredential

        credential = CommunicationTokenCredential(self.issue_token(user_id))
        return ChatClient(self.endpoint, credential, **{**self.client_kwargs(), **kwargs})

    def identity_client(self, **kwargs):
        from azure.communication.identity import CommunicationIdentityClient

        return CommunicationIdentityClient.from_connection_string(
            self.connection_string, **{**self.client_kwargs(), **kwargs}
        )

    # ------------------------------------------------------------------------------------------ log shortcuts

    @property
    def requests(self) -> list[RequestRecord]:
        return self.request_log.records()

    def count(self, **criteria) -> int:
        """Number of logged requests matching ``method``, ``path`` (regex), ``status``, ``fault``, ``user``."""
        return self.request_log.count(**criteria)

    # ------------------------------------------------------------------------------------------ dispatch

    def _respond(self, req: Request) -> tuple[Response, bool]:
        try:
            delay, rule = self.faults.evaluate(req.method, req.path)
            sleep(delay)
            if rule is not None:
                headers = [("Content-Type", JSON_TYPE)]
                if rule.retry_after is not None:
                    value = rule.retry_after
                    text = str(int(value)) if float(value).is_integer() else str(value)
                    headers.append(("Retry-After", text))
                return Response(rule.status, orjson.dumps(rule.error_body()), headers), True
            return self.api.handle(req), False
        except ApiError as err:
            return error_response(err), False
        except Exception as exc:  # never let a handler bug kill the connection or the server
            self.errors.append(traceback.format_exc())
            log.exception("acs test server: %s %s failed", req.method, req.path)
            body = {"error": {"code": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"}}
            return json_response(500, body), False
