"""The composition root: settings and clients, created once, lazily, and handed to the core.

Blueprints call :func:`services`; tests and the CLI build their own :class:`Services` (or call
:func:`reset` after changing the environment), so nothing needs patching.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from archiving.settings import Settings, StorageTarget

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)

# Event Grid waits 30 s for an answer.  With these figures one storage call gives up after at
# most 3 attempts x 5 s read timeout + about 7 s of backoff (0.5 s, then 0.5 + 2^2 s, +-0.5 s
# jitter), so a failed write raises (and Event Grid redelivers) before the delivery times out.
# A duplicate costs a second call, but only after the first one was answered.
EVENT_PROFILE = {"retry_total": 2, "initial_backoff": 0.5, "increment_base": 2, "jitter": 0.5,
                 "connection_timeout": 3, "read_timeout": 5}
# The sweep, transcripts and the CLI have minutes, not seconds: be patient with throttling.
BATCH_PROFILE = {"retry_total": 6, "initial_backoff": 1, "increment_base": 3, "jitter": 1,
                 "connection_timeout": 10, "read_timeout": 60}


def _connection_string(target: StorageTarget) -> str | None:
    if target.connection_string == "UseDevelopmentStorage=true":
        return AZURITE
    return target.connection_string


# Connections kept per storage host: at least the most requests one process makes at once (the
# sweep's 16 existence checks, threads.sweep.CHECK_WORKERS, in the timer function and the CLI; the
# read side's 8 downloads, read.scan.WORKERS).  requests keeps 10 by default; beyond that, urllib3
# discards connections ("Connection pool is full") and opens a new one for each request.
POOL_SIZE = 32


def _requests_environment() -> tuple[bool, str | bool]:
    """(whether the transport must read the environment on each request, the TLS trust to verify with).

    requests, when its session trusts the environment, scans every environment variable on every request
    for proxies, a CA bundle and a .netrc: 10 to 20 % of a blob download's client CPU here
    (bench/transport_env.py, docs/performance.md), growing with the number of variables (a Functions
    host's app settings are environment variables).  Read here once instead, when the clients are made,
    like every other setting: a CA bundle (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, as requests reads
    them) is given to the transport; only a proxy (or a no-proxy list) or a .netrc keeps requests reading
    the environment itself."""
    import urllib.request

    netrc = os.environ.get("NETRC")
    places = (netrc,) if netrc is not None else ("~/.netrc", "~/_netrc")
    per_request = bool(urllib.request.getproxies()) or any(os.path.exists(os.path.expanduser(p)) for p in places)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return per_request, bundle or True


def _transport(profile: Mapping[str, Any]) -> Any:
    """azure-core's requests transport, with a connection pool of POOL_SIZE."""
    from azure.core.pipeline.transport import RequestsTransport

    per_request, verify = _requests_environment()
    transport = RequestsTransport(connection_timeout=profile["connection_timeout"],
                                  read_timeout=profile["read_timeout"],
                                  use_env_settings=per_request, connection_verify=verify)
    transport.open()  # azure-core sets up its session (retries off: the pipeline retries); keep its adapters
    session = transport.session
    for prefix, adapter in list(session.adapters.items()):
        session.mount(prefix, type(adapter)(pool_maxsize=POOL_SIZE, max_retries=adapter.max_retries))
    return transport


def _client_options(profile: Mapping[str, Any]) -> dict[str, Any]:
    from azure.storage.blob import ExponentialRetry

    # A profile may name a subclass (the CLI's announces each retry on stderr).
    retry = profile.get("retry_class", ExponentialRetry)(
        initial_backoff=profile["initial_backoff"],
        increment_base=profile["increment_base"],
        retry_total=profile["retry_total"],
        random_jitter_range=profile["jitter"],
    )
    return {"retry_policy": retry, "connection_timeout": profile["connection_timeout"],
            "read_timeout": profile["read_timeout"], "transport": _transport(profile)}


def _from_connection_string(client_class: Any, conn: str, options: Mapping[str, Any]) -> Any:
    """The SDK's refusal of a connection string is a setting error (exit 2 in the CLI), not a crash."""
    try:
        return client_class.from_connection_string(conn, **options)
    except ValueError as exc:  # the SDK's messages do not quote the string (it holds the key)
        from archiving.settings import STORAGE, SettingError

        raise SettingError(STORAGE, f"the storage SDK refuses it: {exc}") from None


class Services:
    """Settings and clients for one process; every attribute is built on first use."""

    def __init__(self, settings: Settings | None = None, env: Mapping[str, str] | None = None,
                 profile: Mapping[str, Any] = EVENT_PROFILE, credential: Any = None,
                 acs_options: Mapping[str, Any] | None = None):
        self._settings = settings
        self._env = env
        self._profile = profile
        self._credential = credential
        self._acs_options = dict(acs_options or {})  # e.g. connection_verify for a test server
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, build):
        value = self._cache.get(name)
        if value is None:
            with self._lock:
                value = self._cache.get(name)
                if value is None:
                    value = build()
                    self._cache[name] = value
        return value

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = Settings.from_env(self._env)
        return self._settings

    @property
    def credential(self) -> Any:
        def build():
            if self._credential is not None:
                return self._credential
            from azure.identity import DefaultAzureCredential

            return DefaultAzureCredential()

        return self._once("credential", build)

    @property
    def blob_service(self) -> Any:
        def build():
            from azure.storage.blob import BlobServiceClient

            target = self.settings.storage
            options = _client_options(self._profile)
            conn = _connection_string(target)
            if conn:
                return _from_connection_string(BlobServiceClient, conn, options)
            return BlobServiceClient(target.blob_service_uri, credential=self.credential, **options)

        return self._once("blob_service", build)

    @property
    def queue_service(self) -> Any:
        def build():
            from azure.storage.queue import QueueServiceClient

            target = self.settings.storage
            options = _client_options(self._profile)
            conn = _connection_string(target)
            if conn:
                return _from_connection_string(QueueServiceClient, conn, options)
            if not target.queue_service_uri:
                from archiving.settings import STORAGE, SettingError

                raise SettingError(f"{STORAGE}__queueServiceUri", "not set (the sweep enqueues threads)")
            return QueueServiceClient(target.queue_service_uri, credential=self.credential, **options)

        return self._once("queue_service", build)

    @property
    def store(self):
        from archiving.store.archive import ArchiveStore

        return self._once("store", lambda: ArchiveStore(self.blob_service.get_container_client(self.settings.container)))

    @property
    def rejected_store(self):
        from archiving.store.archive import ArchiveStore

        return self._once(
            "rejected_store",
            lambda: ArchiveStore(self.blob_service.get_container_client(self.settings.rejected_container)),
        )

    @property
    def seal_log(self):
        """The seal log (archiving.integrity.log) in its own container."""
        from archiving.integrity.log import SealLog

        return self._once("seal_log", lambda: SealLog(self.blob_service.get_container_client(
            self.settings.seal_container)))

    @property
    def rollup_container(self):
        """The roll-up container (derived data: archiving/rollup)."""
        return self._once("rollup_container",
                          lambda: self.blob_service.get_container_client(self.settings.rollup_container))

    @property
    def acs(self):
        """ACS access as the archiver's user (the sweep and reconcile need it; events do not)."""
        from archiving.threads.acs import AcsAccess

        return self._once("acs", lambda: AcsAccess(self.settings, self._credential, self._acs_options))

    @property
    def outbound(self):
        """Archive-before-send (send endpoint): its own storage client, bounded for a caller who waits."""
        from archiving.outbound.core import OUTBOUND_PROFILE, OutboundArchive

        def service():
            from azure.storage.blob import BlobServiceClient

            target, options = self.settings.storage, _client_options(OUTBOUND_PROFILE)
            conn = _connection_string(target)
            if conn:
                return BlobServiceClient.from_connection_string(conn, **options)
            return BlobServiceClient(target.blob_service_uri, credential=self.credential, **options)

        return self._once("outbound", lambda: OutboundArchive(
            self._once("outbound_blob", service).get_container_client(self.settings.container),
            self.settings.hash_key, via="endpoint", outcomes="sync"))

    @property
    def senders(self):
        """ACS send clients wrapped by archiving.outbound, built per channel on first use."""
        from archiving.outbound.senders import Senders

        return self._once("senders", lambda: Senders(self.settings, self.outbound, self._credential, self._acs_options))

    @property
    def media(self):
        """WhatsApp media downloads (Advanced Messaging); the SDK client is built on the first download."""
        from archiving.ingest.media import MediaSource

        return self._once("media", lambda: MediaSource(self.settings, self._credential, self._acs_options))

    @property
    def recordings(self):
        """Call recording downloads (Call Automation); the SDK client is built on the first download."""
        from archiving.calls.recordings import RecordingSource

        return self._once("recordings", lambda: RecordingSource(self.settings, self._credential, self._acs_options))

    def close(self) -> None:
        for name in ("media", "recordings"):
            source = self._cache.pop(name, None)
            if source is not None:
                source.close()
        acs = self._cache.pop("acs", None)
        if acs is not None:
            acs.close()
        senders = self._cache.pop("senders", None)
        if senders is not None:
            senders.close()
        for name in ("blob_service", "queue_service", "outbound_blob"):
            client = self._cache.pop(name, None)
            if client is not None:
                client.close()
        self._cache.clear()


_default: Services | None = None
_default_lock = threading.Lock()


def services() -> Services:
    """The process-wide services of the Functions app, from the environment."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Services(env=os.environ)
    return _default


def reset() -> None:
    """Forget the process-wide services (after the environment changed)."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        old.close()
