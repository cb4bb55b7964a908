"""A real Azurite (blob and queue) on free loopback ports, for the test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ROOT = Path(__file__).resolve().parent.parent


def find_azurite() -> str:
    """The azurite launcher: $AZURITE_BIN, the project's .tools (make test installs it), or PATH."""
    candidates = [os.environ.get("AZURITE_BIN"), str(ROOT / ".tools/node_modules/.bin/azurite"), shutil.which("azurite")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Azurite not found: run `make test` (it installs Azurite from npm into .tools/) or set AZURITE_BIN")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (bound together: one after another, the kernel may hand out one twice)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Azurite:
    def __init__(self, preload: str | Path | None = None) -> None:
        # preload: a script node loads before Azurite (the benchmarks' bench/azurite_scale.js), None for tests
        self.preload = preload
        self.blob_port, self.queue_port, self.table_port = free_ports(3)
        self.workdir = tempfile.mkdtemp(prefix="azurite-")
        self.proc: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
        )

    def start(self) -> "Azurite":
        args = [
            find_azurite(), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
            "--inMemoryPersistence",
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
        ]
        log = open(Path(self.workdir) / "azurite.log", "wb")
        env = None
        if self.preload is not None:
            launcher = Path(args[0]).resolve()  # .../node_modules/azurite/dist/src/azurite.js
            modules = next(p for p in launcher.parents if p.name == "node_modules")
            env = {**os.environ, "AZURITE_MODULES": str(modules),
                   "NODE_OPTIONS": f"{os.environ.get('NODE_OPTIONS', '')} --require {Path(self.preload).resolve()}".strip()}
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 60
        for port in (self.blob_port, self.queue_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Azurite exited: {(Path(self.workdir) / 'azurite.log').read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("Azurite did not start within 60 s") from None
                    time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
