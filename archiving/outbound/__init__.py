"""Archive before send: what the business sends over ACS is archived before it leaves.

Owns the outbound records and their layout (``layout``), the archive-then-send core with its
fail-closed and fail-open paths (``core``: ``OutboundArchive``, ``ArchiveFailed``), the drop-in
clients wrapping the four ACS send paths (``clients``), the request model of the HTTP send
endpoint (``endpoint``) and the read side of outbound records (``read``: show, outcome unknown).
The SDKs are imported inside the functions that use them. See docs/outbound.md.
"""

from archiving.outbound.core import ArchiveFailed, ArchiveIdReused, OutboundArchive

__all__ = ["ArchiveFailed", "ArchiveIdReused", "OutboundArchive"]


def __getattr__(name: str):
    # The drop-in clients, importable from the package without loading every SDK up front.
    import importlib

    if name in ("ArchivingSmsClient", "ArchivingEmailClient", "ArchivingNotificationMessagesClient",
                "ArchivingChatThreadClient"):
        clients = importlib.import_module("archiving.outbound.clients")
        return getattr(clients, name)
    raise AttributeError(name)
