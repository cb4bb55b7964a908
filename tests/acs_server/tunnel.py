"""An HTTP CONNECT proxy on loopback that takes ``*.asm.skype.com`` to the ACS test server.

azure-communication-callautomation downloads recordings only from ``https`` URLs on ``*.asm.skype.com``
(and Teams hosts).  Rather than patch the SDK or edit /etc/hosts, a test sets ``HTTPS_PROXY`` to this
proxy (requests, under azure-core, honours it like any proxy; ``NO_PROXY=127.0.0.1,localhost`` keeps
the other clients direct): the SDK's own TLS session then runs end to end with the test server,
whose certificate names ``*.asm.skype.com``.  Any other host is refused (403).

    with Tunnel(acs.port) as tunnel:
        monkeypatch.setenv("HTTPS_PROXY", tunnel.url)
"""

from __future__ import annotations

import socket
import threading

SUFFIX = ".asm.skype.com"


class Tunnel:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._sock: socket.socket | None = None
        self.port: int | None = None
        self.connects: list[str] = []  # the hosts asked for, in order
        self._cuts: list[int] = []  # for the next tunnels: close after this many bytes from the server

    def cut_next(self, after_bytes: int) -> None:
        """Drop the next tunnel after ``after_bytes`` bytes from the server (a connection lost mid-download)."""
        self._cuts.append(after_bytes)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Tunnel":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self._sock, self.port = sock, sock.getsockname()[1]
        threading.Thread(target=self._accept, name=f"tunnel-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> "Tunnel":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            host = line[1].rsplit(":", 1)[0] if len(line) == 3 and line[0] == "CONNECT" else ""
            self.connects.append(host)
            if not host.endswith(SUFFIX):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(self.target, timeout=10)
            cut = self._cuts.pop(0) if self._cuts else None
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.settimeout(None)
                pump = threading.Thread(target=_pipe, args=(upstream, client, cut), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(timeout=60)


def _pipe(src: socket.socket, dst: socket.socket, cut: int | None = None) -> None:
    try:
        while True:
            data = src.recv(262144 if cut is None else min(262144, cut))
            if not data:
                break
            dst.sendall(data)
            if cut is not None:
                cut -= len(data)
                if cut <= 0:  # the connection is lost: both ends see it closed
                    dst.shutdown(socket.SHUT_RDWR)
                    src.shutdown(socket.SHUT_RDWR)
                    return
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
