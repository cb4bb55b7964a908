"""``verify``: every blob under a prefix read back through the shared checks (``archiving.read.verified``).

Problems fall in four kinds:

- ``corrupt``: the bytes are not the ones written (the sha256 of the content differs from the
  blob's ``sha256`` metadata);
- ``unreadable``: the blob cannot be read or decoded (download refused, e.g. in the Archive tier;
  not an lz4 frame or a truncated one; not UTF-8 JSON or CSV);
- ``invalid``: it reads, but is not what the archive format says (no sha256 metadata, a name
  outside the layout, a document failing its JSON Schema or disagreeing with its name);
- ``tags``: the content is sound but its blob index tags are missing or contradict the document,
  so tag searches (``export``, ``find``) miss it or file it wrongly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from archiving.read.scan import WORKERS
from archiving.read.verified import CORRUPT, INVALID, TAGS, UNREADABLE, Damage, verify_each

log = logging.getLogger("archiving.read.verify")

KINDS = (CORRUPT, UNREADABLE, INVALID, TAGS)
Finding = Damage  # the name earlier releases used


def verify(store: object, names: Iterable[str], rejected: bool = False, workers: int = WORKERS,
           hash_key: bytes | None = None) -> Iterator[tuple[str, list[Damage]]]:
    """(name, problems) for each name, in order (no problem: an empty list); blobs read in parallel."""
    profile = "rejected" if rejected else "archive"
    for result in verify_each(store, names, workers, profile=profile, hash_key=hash_key):
        if isinstance(result, Damage):
            yield result.name, [result]
        else:
            problems = [Damage(result.name, f"{TAGS}: {w}") for w in result.warnings]
            if isinstance(result.document, dict) and result.name.startswith("outbound/"):
                from archiving.read.outbound_verify import link_problem

                link = link_problem(store, result.document)
                if link:
                    problems.insert(0, Damage(result.name, f"{INVALID}: {link}"))
            elif result.document is not None and result.document.get("channel") not in (None, "chat"):
                from archiving.read.channel_verify import media_link_problem

                link = media_link_problem(store, result.document)
                if result.document.get("channel") == "call":
                    from archiving.read.call_verify import link_problem

                    link = link_problem(store, result.document)
                if link:
                    problems.insert(0, Damage(result.name, f"{INVALID}: {link}"))
            yield result.name, problems
