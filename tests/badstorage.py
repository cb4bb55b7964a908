"""Storage that misbehaves, on loopback: one that accepts connections and never answers (``Hung``),
one that answers every request with 500 (``Answers500``), and a port that refuses (``closed_port``).
Used by tests/test_send_endpoint.py and bench/send_budget.py; both stop by themselves."""

from __future__ import annotations

import http.server as httpserver
import socket
import threading
import time

from .faultproxy import ACCOUNT, KEY


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


class Hung:
    """Accepts connections and never answers; stops by itself after ``lifetime`` seconds."""

    def __init__(self, lifetime: float = 60.0):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)
        self.held: list[socket.socket] = []
        self.until = time.monotonic() + lifetime
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while time.monotonic() < self.until:
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except (TimeoutError, OSError):
                if self.sock.fileno() < 0:
                    return
        self.stop()

    def stop(self) -> None:
        self.until = 0
        for conn in self.held:
            conn.close()
        self.sock.close()


class Answers500(httpserver.ThreadingHTTPServer):
    """Answers every request with 500 InternalError (the storage service's error body)."""

    daemon_threads = True

    def __init__(self):
        class Handler(httpserver.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code>'
                        b"<Message>The server encountered an internal error.</Message></Error>")
                self.send_response(500)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-ms-error-code", "InternalError")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
