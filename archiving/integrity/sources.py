"""What the seal covers: every container the archive writes, in ONE list.

A feature that writes a new container (outbound records, another channel's media) adds one line to
:func:`sources`; whoever writes into it, the seal finds its blobs in the storage account's change feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Source:
    label: str
    container: str
    # strftime of the hour prefix of names that start with their creation time (the rejected container's, named by
    # the Functions output binding); informative since the seal reads the change feed.
    hour_prefix: str | None = None


def sources(settings: Any) -> tuple[Source, ...]:
    """Every container the archive writes."""
    return (
        # Chat records and transcripts (and every record kind written with ArchiveStore into this container).
        Source("records", settings.container),
        # Malformed events: the output binding names them {DateTime}-{rand-guid}.json (UTC, yyyy-MM-ddTHH-mm-ssZ).
        Source("rejected", settings.rejected_container, hour_prefix="%Y-%m-%dT%H"),
    )
