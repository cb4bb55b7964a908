"""Benchmark of a call recording archived (issue 23): a 1 GiB chunk, generated on the fly, downloaded with
azure-communication-callautomation under an ``*.asm.skype.com`` name, hashed, spooled and uploaded in
blocks into Azurite (``archive_recording``), beside a raw download plus upload of the same bytes.

Reports the peak memory growth of this process during the archive (VmHWM after resetting it, minus
VmRSS before) and the ratio  raw time / archive time  (>= 0.8 is the target: at least 0.8 of the speed of
the raw transfer).

Run by hand:  .venv/bin/python bench/recordings.py [--mib 1024] [--rounds 2]
It starts its own Azurite (from .tools/), a recording server in a subprocess (HTTPS, serves a 4 MiB
random block repeated: nothing is stored) and the CONNECT tunnel of the tests (tests/acs_server/tunnel.py).
The server does not check the HMAC signature (the tests do, tests/test_calls.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BLOCK = 4 * 1024 * 1024
HASH_KEY = b"bench-hash-key"


def _block() -> bytes:
    import random

    return random.Random(23).randbytes(BLOCK)


def serve(port_file: str, cert: str, key: str, size: int) -> None:
    """The recording server (subprocess): GET anything under /v1/objects/ -> ``size`` bytes."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    block = _block()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.endswith("/acsmetadata"):
                body = b'{"chunkDocumentId": "bench"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            view = memoryview(block)
            left = size
            while left:
                n = min(left, BLOCK)
                self.wfile.write(view[:n])
                left -= n

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    Path(port_file).write_text(str(httpd.server_address[1]))
    httpd.timeout = 1
    deadline = time.time() + 3600  # stops by itself
    while time.time() < deadline:
        httpd.handle_request()


def expected_sha(size: int) -> str:
    block, digest, left = _block(), hashlib.sha256(), size
    while left:
        n = min(left, BLOCK)
        digest.update(block[:n])
        left -= n
    return digest.hexdigest()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024

    from archiving.bootstrap import Services
    from archiving.calls import layout
    from archiving.calls.events import Chunk, Recording
    from archiving.calls.recordings import archive_recording
    from archiving.settings import Settings
    from archiving.store.records import key_id
    from tests.acs_server import certs
    from tests.acs_server.tunnel import Tunnel
    from tests.azurite import Azurite

    bundle = certs.generate()
    port_file = tempfile.mktemp()
    server = subprocess.Popen([sys.executable, __file__, "--serve", port_file, bundle.cert_file, bundle.key_file,
                               str(size)], start_new_session=True)
    azurite = Azurite().start()
    try:
        while not Path(port_file).exists():
            time.sleep(0.1)
        tunnel = Tunnel(int(Path(port_file).read_text())).start()
        os.environ.update(HTTPS_PROXY=tunnel.url, NO_PROXY="127.0.0.1,localhost", REQUESTS_CA_BUNDLE=bundle.ca_file)
        env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": HASH_KEY.decode(),
               "ARCHIVE_CONTAINER": f"bench-{uuid.uuid4().hex[:12]}",
               "ACS_CONNECTION_STRING": "endpoint=https://127.0.0.1:1/;accesskey=YmVuY2g="}
        svc = Services(settings=Settings.from_env(env))
        svc.store.ensure_container()
        twin = svc.blob_service.get_container_client(f"raw-{uuid.uuid4().hex[:12]}")
        twin.create_container()
        want = expected_sha(size)
        url = "https://storage.asm.skype.com/v1/objects/bench/content/audio"
        source = svc.recordings
        at = datetime.now(timezone.utc)

        def ours(r: int) -> None:
            chunk = Chunk(0, f"bench-{r}", "SessionEnded", url, url.replace("/audio", "/acsmetadata"), None)
            doc = {"schema_version": 1, "channel": "call", "kind": "call-recording",
                   "call_id": layout.call_segment(f"bench-call-{r}"), "server_call_id": f"bench-call-{r}",
                   "correlation_id": None, "recording_id": f"bench-rec-{r}",
                   "recording_key_id": layout.recording_segment(f"bench-rec-{r}"), "recording_start_time": "x",
                   "duration_ms": None, "session_end_reason": None, "content_type": None, "channel_type": None,
                   "format_type": None, "at": "x", "event": {}, "archived_at": "x"}
            archive_recording(Recording(doc, at, (chunk,)), source, svc.store, key_id(HASH_KEY), event_id=f"bench-{r}")

        def raw(r: int) -> None:
            response = source.open(url)
            with tempfile.TemporaryFile() as spool:
                for block in response.iter_bytes():
                    spool.write(block)
                length = spool.tell()
                spool.seek(0)
                twin.upload_blob(f"raw-{r}", spool, length=length, overwrite=False)
            twin.delete_blob(f"raw-{r}")  # Azurite keeps blobs in memory

        ours(-1)  # warm-up: clients, connections, imports (the media blob exists afterwards: dedup skips upload)
        svc.store.container.delete_blob(layout.media_key(want))
        t_ours, t_raw, growth = [], [], []
        for r in range(args.rounds):
            started = time.perf_counter()
            raw(r)
            t_raw.append(time.perf_counter() - started)
            before = _status("VmRSS")
            reset_peak()
            started = time.perf_counter()
            ours(r)
            t_ours.append(time.perf_counter() - started)
            growth.append(_status("VmHWM") - before)
            stored = svc.store.container.get_blob_client(layout.media_key(want)).get_blob_properties()
            assert stored.size == size and stored.metadata["sha256"] == want, "archived bytes differ from served"
            svc.store.container.delete_blob(layout.media_key(want))  # the next round uploads again
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores shared with other developers, "
              f"Python {platform.python_version()}")
        print(f"recording: {args.mib} MiB, sha256 {want[:16]}... (served = archived)")
        for r in range(args.rounds):
            print(f"  round {r}: raw download + upload {t_raw[r]:6.1f} s | archive_recording {t_ours[r]:6.1f} s "
                  f"| ratio {t_raw[r] / t_ours[r]:.2f} | peak memory growth {growth[r] / 2**20:.1f} MiB")
        print(f"best: ratio {max(a / b for a, b in zip(t_raw, t_ours)):.2f}, "
              f"peak memory growth {max(growth) / 2**20:.1f} MiB (max over rounds), "
              f"archive throughput {size / min(t_ours) / 2**20:.0f} MiB/s")
        svc.close()
        tunnel.stop()
    finally:
        server.kill()
        azurite.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
