"""Event Grid dead-letter blobs: where Event Grid puts the events it gave up delivering.

A dead-letter blob (``<container>/<TOPIC>/<SUBSCRIPTION>/<yyyy>/<M>/<d>/<H>/<guid>.json``) is a
JSON array of events, each with ``deadLetterReason``, ``deliveryAttempts`` and the other delivery
fields beside the event's own.  :func:`dead_letter_items` streams the items of every blob under a
prefix, one blob in memory at a time; :func:`archiving.ingest.replay.replay` archives them (and unwraps
the reason), idempotently: a second run finds every event archived already.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from archiving.ingest.replay import parse_events

log = logging.getLogger("archiving.ingest.deadletter")


def dead_letter_container(services: Any, container: str, connection_setting: str | None, env: dict[str, str]) -> Any:
    """The container client of the dead-letter destination.

    By default the archive's storage account (``ArchiveStorage``, with a managed identity if so
    configured); ``connection_setting`` names another setting holding a storage connection string.
    """
    from archiving.settings import STORAGE, SettingError

    if not connection_setting or connection_setting == STORAGE:
        return services.blob_service.get_container_client(container)
    value = (env.get(connection_setting) or "").strip()
    if not value:
        raise SettingError(connection_setting, "not set (a storage connection string for the dead-letter container)")
    from azure.storage.blob import ContainerClient

    from archiving.bootstrap import AZURITE

    if value == "UseDevelopmentStorage=true":
        value = AZURITE
    return ContainerClient.from_connection_string(value, container)


def dead_letter_items(container_client: Any, prefix: str = "", progress: Any = None) -> Iterator[Any]:
    """The items of every ``.json`` blob under the prefix, blob by blob, in name order."""
    for blob in container_client.list_blobs(name_starts_with=prefix or None):
        if not blob.name.endswith(".json"):
            continue
        text = container_client.download_blob(blob.name).readall().decode("utf-8")
        try:
            items = parse_events(text)
        except ValueError as exc:
            raise ValueError(f"dead-letter blob {blob.name}: {exc}") from None
        log.info("dead-letter blob=%s events=%d", blob.name, len(items))
        yield from items
        if progress is not None:
            progress.update(1)
