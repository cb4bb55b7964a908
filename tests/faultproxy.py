"""A fault-injecting HTTP/1.1 proxy on loopback, between the app and Azurite.

It understands HTTP/1.1 framing (request line, headers, ``Content-Length`` or chunked bodies,
keep-alive) well enough to act per request.  For each request it asks its rules, in order,
whether to inject one of:

``reset_before``  reset the client connection (RST) before forwarding: nothing reached storage.
``reset_after``   forward the request, read storage's whole answer, then reset the client: the
                  write happened but the client never hears of it (a retry must end as a
                  duplicate, never a conflict).
``stall``         forward the request, read the answer, then hold it back for ``stall_seconds``
                  (longer than the client's read timeout) and close: the client times out.
``truncate``      forward the request, then send only half of the answer (half the body, or
                  half the status line when there is no body) and close.

Decisions come from one seeded ``random.Random`` behind a lock, so a run with the same seed
injects the same proportions (under concurrency the order of requests, hence which request
gets which fault, varies).  ``counts`` holds what was seen and done::

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port), seed=7).start()
    proxy.add("reset_after", method="PUT", times=1)            # the next PUT only
    proxy.add("truncate", probability=0.1)                     # 10% of everything else
    conn = proxy.connection_string(azurite)                    # BlobEndpoint -> the proxy
    ...
    proxy.counts["reset_after"], proxy.counts["requests"]
    proxy.stop()
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("reset_before", "reset_after", "stall", "truncate")
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Node (Azurite) closes idle keep-alive connections after 5 s; reconnect well before that.
UPSTREAM_IDLE = 3.0
# Give up on storage after this long (the client has long gone by then: no work piles up here).
UPSTREAM_TIMEOUT = 15.0


@dataclass
class Rule:
    """Inject ``kind`` into matching requests: all of them, or with ``probability``, at most ``times``."""

    kind: str
    method: str | None = None
    path: str | None = None  # regex searched in the request target (path and query)
    probability: float | None = None
    times: int | None = None
    fired: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {KINDS}")
        self._regex = re.compile(self.path) if self.path else None
        self.method = self.method.upper() if self.method else None

    def matches(self, method: str, target: str) -> bool:
        if self.method and self.method != method:
            return False
        if self._regex is not None and not self._regex.search(target):
            return False
        return self.times is None or self.fired < self.times


class _Closed(Exception):
    """The peer closed the connection (cleanly, or before a whole message arrived)."""


class _Reader:
    """Buffered reads of HTTP/1.1 messages from a socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed()
        self.buf += chunk

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return out
            if len(self.buf) > 1 << 20:
                raise _Closed()
            self._fill()

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self) -> bytes:
        """Everything until the peer closes (a body without length)."""
        try:
            while True:
                self._fill()
        except (_Closed, OSError):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def head(self) -> tuple[bytes, str, dict[str, str]]:
        """Start line and headers (raw bytes), the start line, and lowercased headers."""
        raw = bytearray()
        first = self.line()
        while first in (b"\r\n", b"\n"):  # tolerate stray blank lines between messages
            first = self.line()
        raw += first
        headers: dict[str, str] = {}
        while True:
            line = self.line()
            raw += line
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return bytes(raw), first.decode("latin-1").strip(), headers

    def body(self, headers: dict[str, str], until_close: bool) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = self.line()
                out += size_line
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the blank line
                        trailer = self.line()
                        out += trailer
                        if trailer in (b"\r\n", b"\n"):
                            return bytes(out)
                out += self.exactly(size + 2)
        if "content-length" in headers:
            return self.exactly(int(headers["content-length"]))
        return self.rest() if until_close else b""


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], seed: int = 0, stall_seconds: float = 1.5):
        self.upstream = upstream
        self.stall_seconds = stall_seconds
        self.rules: list[Rule] = []
        self.counts: Counter[str] = Counter()
        self.by_method: Counter[tuple[str, str]] = Counter()  # (kind or "ok", method)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------

    def add(self, kind: str, method: str | None = None, path: str | None = None, *,
            probability: float | None = None, times: int | None = None) -> Rule:
        rule = Rule(kind, method, path, probability, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def mix(self, total: float, weights: dict[str, float], method: str | None = None) -> None:
        """Faults on a ``total`` share of requests, split between kinds by ``weights``."""
        norm = sum(weights.values())
        remaining = 1.0
        for kind, weight in weights.items():
            share = total * weight / norm
            # Rules are tried in order: each one's probability is conditional on the earlier ones not firing.
            self.add(kind, method, probability=min(1.0, share / remaining))
            remaining -= share

    def connection_string(self, account: str = ACCOUNT, key: str = KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
                f"BlobEndpoint=http://127.0.0.1:{self.port}/{account};")

    @property
    def faults(self) -> int:
        return sum(self.counts[k] for k in KINDS)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"requests": self.counts["requests"], **{k: self.counts[k] for k in KINDS}}

    # -- running -------------------------------------------------------------------------------

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not, on Linux)
        except OSError:
            pass
        _close(self._listener)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close(conn)
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), name="faultproxy-conn", daemon=True).start()

    # -- hooks for a server that answers some requests itself (tests/legalhold.py) ------------------

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes | None:
        """A whole HTTP response to send instead of forwarding the request, or None to forward it."""
        return None

    def rewrite(self, method: str, target: str, r_head: bytes, r_body: bytes) -> tuple[bytes, bytes]:
        """Storage's answer (head, body as received) as the client gets it; unchanged here."""
        return r_head, r_body

    def _decide(self, method: str, target: str) -> str | None:
        with self._lock:
            self.counts["requests"] += 1
            for rule in self.rules:
                if not rule.matches(method, target):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                self.counts[rule.kind] += 1
                self.by_method[(rule.kind, method)] += 1
                return rule.kind
            self.by_method[("ok", method)] += 1
            return None

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client)
        upstream: socket.socket | None = None
        up_reader: _Reader | None = None
        last_used = 0.0
        try:
            while not self._stop.is_set():
                try:
                    head, start, headers = reader.head()
                    body = reader.body(headers, until_close=False)
                except (_Closed, OSError):
                    return
                method, _, rest = start.partition(" ")
                target = rest.rpartition(" ")[0]
                fault = self._decide(method, target)
                if fault == "reset_before":
                    _reset(client)
                    return
                local = self.answer(method, target, headers, body)
                if local is not None:
                    client.sendall(local)
                    continue
                response = None
                for attempt in (1, 2):
                    if upstream is None or time.monotonic() - last_used > UPSTREAM_IDLE:
                        _close(upstream)
                        upstream = socket.create_connection(self.upstream, timeout=UPSTREAM_TIMEOUT)
                        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        up_reader = _Reader(upstream)
                        fresh = True
                    else:
                        fresh = False
                    try:
                        upstream.sendall(head + body)
                        r_head, r_start, r_headers = up_reader.head()
                        status = int(r_start.split(" ")[1])
                        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
                        close = r_headers.get("connection", "").lower() == "close"
                        r_body = b"" if no_body else up_reader.body(r_headers, until_close=True)
                        response = (r_head, r_body, close)
                        break
                    except (_Closed, OSError):
                        # A reused connection that the server closed while idle: try once on a new one.
                        _close(upstream)
                        upstream = None
                        if fresh or attempt == 2:
                            _reset(client)
                            return
                last_used = time.monotonic()
                with self._lock:
                    self.counts["forwarded"] += 1
                r_head, r_body, close = response
                r_head, r_body = self.rewrite(method, target, r_head, r_body)
                if fault == "reset_after":
                    _reset(client)
                    return
                if fault == "stall":
                    deadline = time.monotonic() + self.stall_seconds
                    while time.monotonic() < deadline and not self._stop.is_set():
                        time.sleep(0.05)
                    _close(client)
                    return
                if fault == "truncate":
                    # Half the body; without a body, half the status line (a client takes a head
                    # cut between two header lines for a whole one, http.client does).
                    status_line = r_head.split(b"\r\n", 1)[0]
                    partial = r_head + r_body[: len(r_body) // 2] if len(r_body) > 1 else status_line[: len(status_line) // 2]
                    try:
                        client.sendall(partial)
                    except OSError:
                        pass
                    _close(client)
                    return
                try:
                    client.sendall(r_head + r_body)
                except OSError:
                    return
                if close:
                    _close(upstream)
                    upstream = None
        except Exception:  # noqa: BLE001 - a proxy thread must never die noisily; the client sees a reset
            with self._lock:
                self.counts["proxy_errors"] += 1
            _reset(client)
        finally:
            _close(upstream)
            _close(client)
            with self._lock:
                self._conns.discard(client)
