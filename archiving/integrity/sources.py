"""What the seal covers: every container the archive writes, in ONE list.

A feature that writes a new container (outbound records, another channel's media) adds one line to
:func:`sources`; its writes must go through an ``ArchiveStore`` built by ``bootstrap.Services`` (which announces each
blob to the journal) or, like the rejected container, have names that start with their creation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Source:
    label: str
    container: str
    # strftime of an hour prefix, for containers whose blob names start with their creation time (written by a
    # Functions output binding, which cannot announce them to the journal): the seal lists those hours.
    hour_prefix: str | None = None


def sources(settings: Any) -> tuple[Source, ...]:
    """Every container the archive writes."""
    return (
        # Chat records and transcripts (and every record kind written with ArchiveStore into this container).
        Source("records", settings.container),
        # Malformed events: the output binding names them {DateTime}-{rand-guid}.json (UTC, yyyy-MM-ddTHH-mm-ssZ).
        Source("rejected", settings.rejected_container, hour_prefix="%Y-%m-%dT%H"),
    )
