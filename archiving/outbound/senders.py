"""The send endpoint's ACS clients, wrapped for archive-before-send and built once per channel on first use.

Authentication: ``ACS_CONNECTION_STRING`` (access key) if set, else ``ACS_ENDPOINT`` with the
app's managed identity (DefaultAzureCredential), which needs the "Contributor" role on the ACS
resource (infra/modules/acs-send-access.bicep). Chat messages are sent as an ACS user: a chat
token is issued for the sender (``ARCHIVER_USER_ID`` unless the request names another user).
"""

from __future__ import annotations

import threading
from typing import Any

from archiving.outbound.core import OutboundArchive
from archiving.settings import Settings, SettingError

# ACS calls of a request someone waits for: a few quick retries (429/503 honour Retry-After).
CLIENT_OPTIONS = {"retry_total": 3, "retry_backoff_factor": 0.5, "retry_backoff_max": 8,
                  "connection_timeout": 5, "read_timeout": 30}


class Senders:
    def __init__(self, settings: Settings, archive: OutboundArchive, credential: Any = None,
                 client_options: dict[str, Any] | None = None):
        self.settings = settings
        self.archive = archive
        self._credential = credential
        self.options = {**CLIENT_OPTIONS, **(client_options or {})}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._acs = None

    def _require(self) -> None:
        if not (self.settings.acs_connection_string or self.settings.acs_endpoint):
            raise SettingError("ACS_CONNECTION_STRING", "not set (nor ACS_ENDPOINT for a managed identity): "
                               "the send endpoint needs ACS")

    @property
    def credential(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def _build(self, channel: str) -> Any:
        from archiving.outbound import clients

        cls = {"sms": clients.ArchivingSmsClient, "email": clients.ArchivingEmailClient,
               "whatsapp": clients.ArchivingNotificationMessagesClient}[channel]
        conn = self.settings.acs_connection_string
        if conn:
            return cls.from_connection_string(conn, archive=self.archive, **self.options)
        return cls(self.settings.acs_endpoint, self.credential, archive=self.archive, **self.options)

    def client(self, channel: str) -> Any:
        """The wrapped SMS, email or WhatsApp client."""
        self._require()
        with self._lock:
            if channel not in self._clients:
                self._clients[channel] = self._build(channel)
            return self._clients[channel]

    def chat(self, thread_id: str, sender_id: str | None = None) -> Any:
        """A wrapped ChatThreadClient acting as ``sender_id`` (default: ARCHIVER_USER_ID)."""
        from azure.communication.chat import ChatThreadClient, CommunicationTokenCredential
        from azure.communication.identity import CommunicationTokenScope, CommunicationUserIdentifier

        from archiving.outbound.clients import ArchivingChatThreadClient
        from archiving.threads.acs import AcsAccess

        self._require()
        user = sender_id or self.settings.archiver_user_id
        if not user:
            raise SettingError("ARCHIVER_USER_ID", "not set, and the request names no sender_id for chat")
        with self._lock:
            if self._acs is None:
                access = AcsAccess(_with_user(self.settings, user), self._credential, self.options)
                self._acs = (access.endpoint, access.identity_client())
            endpoint, identity = self._acs
        token = identity.get_token(CommunicationUserIdentifier(user), [CommunicationTokenScope.CHAT]).token
        raw = ChatThreadClient(endpoint, CommunicationTokenCredential(token), thread_id, **self.options)
        return ArchivingChatThreadClient.from_client(raw, archive=self.archive, sender_id=user)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            self._clients.clear()


def _with_user(settings: Settings, user: str) -> Settings:
    from dataclasses import replace

    return replace(settings, archiver_user_id=user)
