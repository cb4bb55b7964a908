"""ACS access for the sweep: a ``chat`` token for the archiver's own user, then chat clients.

The archiver's ACS user (ARCHIVER_USER_ID) must be a participant of every thread it archives:
ACS lets only participants read a thread.
"""

from __future__ import annotations

import threading
from typing import Any

from archiving.settings import Settings, SettingError

# azure-core's RetryPolicy honours Retry-After on 429 and 503.  A thread that still fails after
# these raises, and the queue redelivers it (host.json maxDequeueCount, then the poison queue).
# retry_status matters: azure-core stops after 3 status retries (429/503) whatever retry_total says.
CLIENT_OPTIONS = {"retry_total": 8, "retry_status": 8, "retry_backoff_factor": 1.0, "retry_backoff_max": 60,
                  "connection_timeout": 10, "read_timeout": 60}


def parse_endpoint(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    endpoint = parts.get("endpoint") or parts.get("Endpoint")
    if not endpoint:
        raise SettingError("ACS_CONNECTION_STRING", "has no endpoint=…")
    return endpoint


class AcsAccess:
    """Clients of the chat data plane acting as the archiver's user; the token is issued once."""

    def __init__(self, settings: Settings, credential: Any = None, client_options: dict[str, Any] | None = None):
        settings.require_acs()
        self.settings = settings
        self._credential = credential
        self.options = {**CLIENT_OPTIONS, **(client_options or {})}
        self._chat_client = None
        self._token_credential = None
        self._identity = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        if self.settings.acs_connection_string:
            return parse_endpoint(self.settings.acs_connection_string)
        return self.settings.acs_endpoint  # type: ignore[return-value]

    def identity_client(self):
        from azure.communication.identity import CommunicationIdentityClient

        if self.settings.acs_connection_string:
            return CommunicationIdentityClient.from_connection_string(self.settings.acs_connection_string, **self.options)
        credential = self._credential
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return CommunicationIdentityClient(self.settings.acs_endpoint, credential, **self.options)

    def issue_token(self):
        """A fresh ``chat`` token (AccessToken) for the archiver's user."""
        from azure.communication.identity import CommunicationTokenScope, CommunicationUserIdentifier

        if self._identity is None:
            self._identity = self.identity_client()
        user = CommunicationUserIdentifier(self.settings.archiver_user_id)
        return self._identity.get_token(user, [CommunicationTokenScope.CHAT])

    def chat_client(self):
        with self._lock:
            if self._chat_client is None:
                from azure.communication.chat import ChatClient, CommunicationTokenCredential

                # Issued on first use, and again by the credential when it nears expiry (tokens live
                # 24 h; a Functions worker may live longer).
                self._token_credential = CommunicationTokenCredential(self.issue_token().token,
                                                                      token_refresher=self.issue_token)
                self._chat_client = ChatClient(self.endpoint, self._token_credential, **self.options)
            return self._chat_client

    def thread_client(self, thread_id: str):
        # get_chat_thread_client() drops the client's options (retries, TLS): pass them again.
        from azure.communication.chat import ChatThreadClient

        self.chat_client()  # issues the token on first use
        return ChatThreadClient(self.endpoint, self._token_credential, thread_id, **self.options)

    def close(self) -> None:
        if self._chat_client is not None:
            self._chat_client.close()
            self._chat_client = None
