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


def dead_letter_items(container_client: Any, prefix: str = "", progress: Any = None, problems: Any = None,
                      profile: str = "deadletter") -> Iterator[Any]:
    """The items of every ``.json`` blob under the prefix, blob by blob, in name order.

    Each blob is read through the read side's one verified path (``read_verified``: JSON, the ``sha256``
    metadata when the blob has one; ``profile="rejected"`` adds the rejection schema); a blob that fails
    is named in ``problems`` and skipped, and the others are replayed.
    """
    from archiving.read.verified import Findings, read_verified
    from archiving.store.archive import ArchiveStore

    store = ArchiveStore(container_client)
    names = [name for name in store.list_names(prefix or "") if name.endswith(".json")]
    if progress is not None and getattr(progress, "total", 0) is None:
        progress.total = len(names)
        progress.refresh()
    findings = Findings()
    for blob in read_verified(store, names, findings, workers=2, profile=profile):
        items = blob.document if isinstance(blob.document, list) else [blob.document]
        log.info("dead-letter blob=%s events=%d", blob.name, len(items))
        yield from items
        _report(findings, problems)
        if progress is not None:
            progress.update(1)
    _report(findings, problems)


def _report(findings: Any, problems: Any) -> None:
    while findings.items:
        damage = findings.items.pop(0)
        if problems is not None:
            problems.add(f"blob {damage.name}", damage.reason)
