"""Every setting the archiver reads, in one place.

Settings come from the process environment (app settings in Azure, ``Values`` of
``local.settings.json`` under ``func start``).  They are read and validated on first use, never
at import time: an exception while the host indexes the app shows only as "0 functions loaded".
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingError(RuntimeError):
    """A setting is missing or invalid; the message names it."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"setting {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: str | None  # None: required (or one of `alternatives` must be set)
    doc: str
    # Names that can stand in for this one (identity-based connections).
    alternatives: tuple[str, ...] = ()
    # Also read by the Functions host in binding expressions (%NAME%): it must be set as an
    # app setting, a code default is not enough.
    binding: bool = False


STORAGE = "ArchiveStorage"

SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        STORAGE,
        None,
        "Archive storage account: a connection string, or use the identity-based "
        "ArchiveStorage__blobServiceUri and ArchiveStorage__queueServiceUri.",
        alternatives=(f"{STORAGE}__blobServiceUri", f"{STORAGE}__queueServiceUri"),
        binding=True,
    ),
    SettingSpec("ARCHIVE_CONTAINER", "chat-archive", "Container of the archive (created if missing)."),
    SettingSpec(
        "ARCHIVE_REJECTED_CONTAINER",
        "chat-archive-rejected",
        "Container for malformed events, each kept with the reason.",
        binding=True,
    ),
    SettingSpec(
        "ARCHIVE_HASH_KEY",
        None,
        "Secret key of the HMAC-SHA256 that hashes user ids (sender_hash, index tags). "
        "Keep it stable: changing it changes every hash.",
    ),
    SettingSpec("SWEEP_SCHEDULE", "0 0 * * * *", "NCRONTAB schedule of the inactive-thread sweep.", binding=True),
    SettingSpec("SWEEP_QUEUE", "archive-threads", "Queue between the sweep and archive_thread.", binding=True),
    SettingSpec("INACTIVE_AFTER_MINUTES", "1440", "A thread is inactive after this many minutes without a message."),
    SettingSpec("TRANSCRIPT_FORMATS", "json,csv", "Transcript formats to write: json, csv or both."),
    SettingSpec(
        "DELETE_THREAD_AFTER_ARCHIVE",
        "false",
        "Delete a thread in ACS once its transcript is committed and verified.",
    ),
    SettingSpec(
        "ACS_CONNECTION_STRING",
        "",
        "ACS connection string (access key). Leave empty to use ACS_ENDPOINT with a managed identity.",
        alternatives=("ACS_ENDPOINT",),
    ),
    SettingSpec("ACS_ENDPOINT", "", "ACS endpoint, used with DefaultAzureCredential when no connection string is set."),
    SettingSpec("ARCHIVER_USER_ID", "", "The archiver's own ACS user id; it must be a participant of every thread to sweep."),
    SettingSpec(
        "MEDIA_MAX_BYTES",
        "104857600",
        "Largest WhatsApp media item archived, in bytes (default 100 MiB); a larger one is recorded as not retrievable.",
    ),
    SettingSpec("DELETE_RECORDING_AFTER_ARCHIVE", "false",
                "Delete a call recording from ACS (its deleteLocation) once every chunk is archived."),
    # The seal (docs/integrity.md): a signed Merkle log of every blob the archive writes.
    SettingSpec("SEAL_SCHEDULE", "0 */15 * * * *", "NCRONTAB schedule of seal_archive (the Merkle log's seal).",
                binding=True),
    SettingSpec("ARCHIVE_SEAL_CONTAINER", "chat-archive-seal",
                "Container of the seal log: manifests, signed checkpoints, public keys (make it immutable)."),
    SettingSpec("SEAL_AUDIT_SCHEDULE", "0 0 3 * * 0",
                "NCRONTAB schedule of seal_audit, the listing audit of the seal (every container listed; blobs the "
                "change feed never brought are sealed and reported). Weekly by default.", binding=True),
    SettingSpec("ARCHIVE_SEAL_KEY_FILE", "",
                "Local ECDSA P-256 PEM private key that signs checkpoints (`python -m archiving keygen PATH`).",
                alternatives=("ARCHIVE_SEAL_KEY_ID",)),
    SettingSpec("ARCHIVE_SEAL_KEY_ID", "",
                "Azure Key Vault EC P-256 key URL that signs checkpoints (wins over ARCHIVE_SEAL_KEY_FILE)."),
    SettingSpec("ROLLUP_CONTAINER", "chat-archive-rollup",
                "Container of the daily Parquet roll-ups (derived data, rebuilt at will; created if missing)."),
    SettingSpec("ROLLUP_SCHEDULE", "0 30 1 * * *", "NCRONTAB schedule of the daily roll-up (UTC).", binding=True),
    SettingSpec(
        "ROLLUP_GRACE_HOURS",
        "36",
        "A day is rolled up once it ended this many hours ago; more than 24 (Event Grid retries for 24 h).",
    ),
    # Records management (archiving.retention, docs/operations.md "Records management").
    SettingSpec("ARCHIVE_RETENTION_DAYS", "2555",
                "Days a record is kept, from its own time (the at tag); then `dispose` deletes it unless a hold covers it."),
    SettingSpec("DISPOSE_SCHEDULE", "0 0 3 * * *", "NCRONTAB schedule of the daily dispose run (UTC).", binding=True),
    SettingSpec("ARCHIVE_LEGAL_HOLD", "false",
                "Also set Azure's legal hold on the blobs a hold covers (needs version-level immutability on the "
                "archive container)."),
)

SPEC_BY_NAME = {s.name: s for s in SPECS}

_CONTAINER_RE = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_QUEUE_RE = _CONTAINER_RE
FORMATS = ("json", "csv")


@dataclass(frozen=True)
class StorageTarget:
    """Where the archive lives: a connection string or identity-based service URIs."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None


@dataclass(frozen=True)
class Settings:
    storage: StorageTarget
    hash_key: bytes = field(repr=False)
    container: str = "chat-archive"
    rejected_container: str = "chat-archive-rejected"
    sweep_queue: str = "archive-threads"
    inactive_after_minutes: int = 1440
    transcript_formats: tuple[str, ...] = FORMATS
    delete_thread_after_archive: bool = False
    acs_connection_string: str | None = field(default=None, repr=False)
    acs_endpoint: str | None = None
    archiver_user_id: str | None = None
    media_max_bytes: int = 104857600
    delete_recording_after_archive: bool = False
    seal_container: str = "chat-archive-seal"
    seal_key_file: str | None = None
    seal_key_id: str | None = None
    rollup_container: str = "chat-archive-rollup"
    rollup_grace_hours: int = 36
    retention_days: int = 2555
    legal_hold: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str) -> str:
            value = env.get(name)
            if value is None or value.strip() == "":
                default = SPEC_BY_NAME[name].default
                return "" if default is None else default
            return value.strip()

        hash_key = _required(get, "ARCHIVE_HASH_KEY")
        if hash_key.startswith("@Microsoft.KeyVault("):
            # App Service passes the reference through as text when it cannot resolve it.
            raise SettingError("ARCHIVE_HASH_KEY", "is an unresolved Key Vault reference (check the app's access to the vault)")
        return cls(
            storage=_storage(env),
            hash_key=hash_key.encode("utf-8"),
            container=_name(get, "ARCHIVE_CONTAINER", _CONTAINER_RE),
            rejected_container=_name(get, "ARCHIVE_REJECTED_CONTAINER", _CONTAINER_RE),
            sweep_queue=_name(get, "SWEEP_QUEUE", _QUEUE_RE),
            inactive_after_minutes=_positive_int(get, "INACTIVE_AFTER_MINUTES"),
            transcript_formats=_formats(get, "TRANSCRIPT_FORMATS"),
            delete_thread_after_archive=_bool(get, "DELETE_THREAD_AFTER_ARCHIVE"),
            acs_connection_string=get("ACS_CONNECTION_STRING") or None,
            acs_endpoint=get("ACS_ENDPOINT") or None,
            archiver_user_id=get("ARCHIVER_USER_ID") or None,
            media_max_bytes=_positive_int(get, "MEDIA_MAX_BYTES"),
            delete_recording_after_archive=_bool(get, "DELETE_RECORDING_AFTER_ARCHIVE"),
            seal_container=_name(get, "ARCHIVE_SEAL_CONTAINER", _CONTAINER_RE),
            seal_key_file=get("ARCHIVE_SEAL_KEY_FILE") or None,
            seal_key_id=get("ARCHIVE_SEAL_KEY_ID") or None,
            rollup_container=_name(get, "ROLLUP_CONTAINER", _CONTAINER_RE),
            rollup_grace_hours=_grace_hours(get, "ROLLUP_GRACE_HOURS"),
            retention_days=_positive_int(get, "ARCHIVE_RETENTION_DAYS"),
            legal_hold=_bool(get, "ARCHIVE_LEGAL_HOLD"),
        )

    def require_acs(self) -> None:
        """The sweep needs ACS access; the real-time path does not."""
        if not (self.acs_connection_string or self.acs_endpoint):
            raise SettingError("ACS_CONNECTION_STRING", "not set (nor ACS_ENDPOINT for a managed identity)")
        if not self.archiver_user_id:
            raise SettingError("ARCHIVER_USER_ID", "not set (create one with `python -m archiving identity create`)")


def _storage(env: Mapping[str, str]) -> StorageTarget:
    conn = (env.get(STORAGE) or "").strip()
    blob_uri = (env.get(f"{STORAGE}__blobServiceUri") or "").strip()
    queue_uri = (env.get(f"{STORAGE}__queueServiceUri") or "").strip()
    if conn:
        _check_connection_string(conn)
        return StorageTarget(connection_string=conn)
    if blob_uri:
        for name, uri in ((f"{STORAGE}__blobServiceUri", blob_uri), (f"{STORAGE}__queueServiceUri", queue_uri)):
            if uri and not uri.startswith("https://"):
                raise SettingError(name, "must be an https:// service URI")
        return StorageTarget(blob_service_uri=blob_uri, queue_service_uri=queue_uri or None)
    raise SettingError(STORAGE, f"not set (nor {STORAGE}__blobServiceUri for a managed identity)")


def _check_connection_string(conn: str) -> None:
    """A storage connection string the SDK can use, or a SettingError naming ArchiveStorage.

    Without this, a key cut short in copying fails only when a request is signed (AzureSigningError,
    reported as a service failure). The messages never quote the string: it holds the account key."""
    if conn == "UseDevelopmentStorage=true":
        return
    parts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in conn.split(";"))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise SettingError(STORAGE, "is not a storage connection string (Name=value pairs separated by ';')")
        parts[name.strip().lower()] = value.strip()
    if not parts:
        raise SettingError(STORAGE, "is not a storage connection string (Name=value pairs separated by ';')")
    if "accountkey" in parts:
        try:
            key = base64.b64decode(parts["accountkey"], validate=True)
        except ValueError:
            key = b""
        if not key:
            raise SettingError(STORAGE, "AccountKey is not a base64 account key (copied only in part?)")
        if not parts.get("accountname"):
            raise SettingError(STORAGE, "has an AccountKey but no AccountName")
    if not (parts.get("accountname") or parts.get("blobendpoint")):
        raise SettingError(STORAGE, "names neither an AccountName nor a BlobEndpoint")
    for key, label in (("blobendpoint", "BlobEndpoint"), ("queueendpoint", "QueueEndpoint")):
        if key in parts and not parts[key].startswith(("https://", "http://")):
            raise SettingError(STORAGE, f"{label} is not an http(s) URL")


def _required(get, name: str) -> str:
    value = get(name)
    if not value:
        raise SettingError(name, "not set")
    return value


def _name(get, name: str, pattern: re.Pattern[str]) -> str:
    value = get(name)
    if not pattern.match(value):
        raise SettingError(name, f"{value!r} is not a valid name (3-63 lowercase letters, digits and single hyphens)")
    return value


def _positive_int(get, name: str) -> int:
    value = get(name)
    try:
        number = int(value)
    except ValueError:
        raise SettingError(name, f"{value!r} is not a whole number") from None
    if number < 1:
        raise SettingError(name, f"{value!r} must be at least 1")
    return number


def _grace_hours(get, name: str) -> int:
    hours = _positive_int(get, name)
    if hours <= 24:
        raise SettingError(name, f"{hours} must be more than 24: Event Grid retries a delivery for up to 24 hours")
    return hours


def _bool(get, name: str) -> bool:
    value = get(name).lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingError(name, f"{value!r} is not true or false")


def _formats(get, name: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(p.strip().lower() for p in get(name).split(",") if p.strip()))
    bad = [p for p in items if p not in FORMATS]
    if bad or not items:
        raise SettingError(name, f"{get(name)!r}: choose from {', '.join(FORMATS)}")
    return items


def load_local_settings(path: str | os.PathLike[str] = "local.settings.json") -> dict[str, str]:
    """The environment, under the ``Values`` of local.settings.json if the file exists.

    The CLI uses this so that it sees what ``func start`` sees; real environment variables win.
    """
    values: dict[str, str] = {}
    p = Path(path)
    if p.is_file():
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SettingError(str(p), f"is not valid JSON: {exc}") from None
        values.update({k: str(v) for k, v in (doc.get("Values") or {}).items()})
    values.update(os.environ)
    return values
