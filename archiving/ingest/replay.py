"""Reading events from files (Event Grid arrays, single events, CloudEvents, JSON lines,
Event Grid dead-letter blobs, rejection documents) or from a dead-letter or rejected container, and
archiving them through the same path as the function.

Streamed: a file is read in 1 MiB chunks and parsed one event at a time (``iter_events``), so memory is
bounded by the largest single event (at most ``MAX_VALUE_CHARS``), whatever the file size; a container
is read one blob at a time.  A UTF-8 byte-order mark is accepted.  Bad input never stops a replay: a
binary file, a value that is not JSON or a damaged blob is named in ``Problems`` and replay goes on
with the next line, file or blob.

Idempotent: a record archived already is a duplicate; a malformed event is kept once in the rejected
container, under a name made from its content (``rejection_name_for``), so replaying it again adds
nothing; a rejection document replayed from the rejected container is unwrapped and its ``event``
archived, and if that event is still malformed, no further rejection is written.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiving.ingest.archiver import REJECTED, Outcome, archive_event, rejection_json
from archiving.store.codec import sha256_hex

log = logging.getLogger("archiving.ingest.replay")

DEAD_LETTERED = "dead-lettered"
STILL_REJECTED = "still rejected"  # a rejection document replayed, its event still malformed: kept where it was
CHUNK = 1 << 20
MAX_VALUE_CHARS = 16 << 20  # one event (Event Grid allows 1 MiB); more is not an event file


@dataclass
class Problems:
    """Input that could not be replayed (a file, a line, a blob), named with the reason, in order met."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        log.warning("replay input=%s outcome=unreadable", where)
        self.items.append(f"{where}: {reason}")

    def __len__(self) -> int:
        return len(self.items)


class _Unreadable(Exception):
    pass


def _decoded_chunks(raw: Any, where: str, progress: Any = None) -> Iterator[str]:
    """UTF-8 text of a binary stream, chunk by chunk; a byte-order mark is dropped; binary input raises."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    while True:
        chunk = raw.read(CHUNK)
        final = not chunk
        if b"\x00" in chunk:  # no JSON text holds a NUL byte: an archive, an image, UTF-16...
            raise _Unreadable(f"binary content, not JSON text (a NUL byte at byte {offset + chunk.index(0)})")
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"binary or not UTF-8 text (byte {offset + exc.start})") from None
        offset += len(chunk)
        if progress is not None and chunk:
            progress.update(len(chunk))
        if text:
            yield text
        if final:
            return


def iter_events(raw: Any, where: str, problems: Problems, progress: Any = None) -> Iterator[Any]:
    """The JSON values of one file, streamed: a top-level array's items, or a sequence of values
    (JSON lines, one object, several concatenated).  A bad line of JSON lines is named and skipped;
    anything else that is not JSON ends the file (what came before it is replayed)."""
    decoder = json.JSONDecoder()
    chunks = _decoded_chunks(raw, where, progress)
    buf, pos, line, eof = "", 0, 1, False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        try:
            piece = next(chunks)
        except StopIteration:
            eof = True
            return False
        buf = buf[pos:] + piece
        pos = 0
        return True

    def skip_ws() -> bool:
        """Skip blanks; False at the end of input."""
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf):
                return True
            if not more():
                return False

    def value() -> Any:
        """The next JSON value at pos (reads more until it is complete)."""
        nonlocal pos, line
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                # Ran out of input (the value goes on in the next chunk), or is it simply not JSON?
                incomplete = exc.pos >= len(buf) - 1 or exc.msg.startswith("Unterminated string")
                if incomplete and not eof and len(buf) - pos < MAX_VALUE_CHARS and more():
                    continue
                if len(buf) - pos >= MAX_VALUE_CHARS:
                    raise _Unreadable(f"line {line}: a value larger than {MAX_VALUE_CHARS} characters") from None
                raise _Unreadable(f"line {line + buf.count(chr(10), pos, exc.pos)}: not JSON ({exc.msg})") from None
            if end == len(buf) and not eof and more():
                continue  # a number may go on in the next chunk: parse again with it
            line += buf.count("\n", pos, end)
            pos = end
            return item

    try:
        if not skip_ws():
            problems.add(where, "empty: no event")
            return
        if buf[pos] == "[":
            pos += 1
            first = True
            while True:
                if not skip_ws():
                    raise _Unreadable(f"line {line}: the array is not closed")
                if buf[pos] == "]":
                    pos += 1
                    break
                if not first:
                    if buf[pos] != ",":
                        raise _Unreadable(f"line {line}: not JSON (expected ',' or ']')")
                    pos += 1
                    if not skip_ws():
                        raise _Unreadable(f"line {line}: the array is not closed")
                first = False
                yield value()
            if skip_ws():
                raise _Unreadable(f"line {line}: more after the end of the array")
            return
        # A sequence of values: JSON lines (a bad line is skipped) or a single, perhaps multi-line, value.
        while skip_ws():
            start_line = line
            try:
                item = value()
            except _Unreadable as exc:
                # Name the line and go on after it (JSON lines: the next line is the next event).
                problems.add(f"{where}: line {start_line}", str(exc).split(": ", 1)[-1])
                while (end := buf.find("\n", pos)) < 0:
                    if not more():
                        return
                pos = end
                continue
            yield item
    except _Unreadable as exc:
        problems.add(where, str(exc))


def parse_events(text: str) -> list[Any]:  # kept for callers holding a whole text (small)
    """The events in a file: a JSON array, one JSON object, or one JSON object per line."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
        return items
    if isinstance(doc, list):
        return doc
    return [doc]


def _normalize(item: Any) -> Any:
    """CloudEvents through azure-core's CloudEvent (it decodes data_base64), else as is."""
    if isinstance(item, dict) and "specversion" in item:
        from azure.core.messaging import CloudEvent

        try:
            event = CloudEvent.from_dict(item)
        except (ValueError, KeyError, TypeError):
            return item  # rejected with a reason by the archiver
        data = event.data
        if isinstance(data, (bytes, bytearray)):
            try:
                data = json.loads(data)
            except ValueError:
                data = data.decode("utf-8", "replace")
        normalized = {"id": event.id, "source": event.source, "type": event.type, "specversion": event.specversion,
                      "subject": event.subject, "time": event.time.isoformat() if event.time else None, "data": data}
        return {**item, **normalized}
    return item


def is_rejection(item: Any) -> bool:
    """A rejection document (archive-format section 5.4), as found in the rejected container."""
    return isinstance(item, dict) and set(item) == {"reason", "event", "received_at"}


def unwrap(item: Any) -> tuple[Any, str | None, Any]:
    """(event, dead-letter reason or None, delivery attempts) of one item of a file or dead-letter blob.

    Event Grid dead letters are the event itself plus ``deadLetterReason``, ``deliveryAttempts``,
    ``lastDeliveryOutcome``, ``publishTime``, ``lastDeliveryAttemptTime`` (ignored by the envelope
    reader); items wrapped as ``{"event": {...}, "deadLetterProperties": {...}}`` are unwrapped.
    """
    if not isinstance(item, dict):
        return item, None, None
    props = item.get("deadLetterProperties", item.get("deadletterproperties"))
    if isinstance(item.get("event"), dict) and isinstance(props, dict):
        reason = props.get("deadLetterReason", props.get("deadletterreason"))
        return item["event"], reason, props.get("deliveryAttempts", props.get("deliveryattempts"))
    reason = item.get("deadLetterReason", item.get("deadletterreason"))
    return item, reason, item.get("deliveryAttempts", item.get("deliveryattempts"))


def read_files(paths: Iterable[str | Path], problems: Problems | None = None,
               progress: Any = None) -> Iterator[tuple[str, Any]]:
    """(file, event) for every event of every file, streamed; unreadable input goes to ``problems``.

    ``progress.update(n)`` counts bytes read (the total, the files' sizes, is known beforehand).
    """
    problems = problems if problems is not None else Problems()
    for path in paths:
        p = Path(path)
        try:
            with open(p, "rb") as raw:
                for event in iter_events(raw, str(p), problems, progress):
                    yield str(p), event
        except OSError as exc:
            problems.add(str(p), f"cannot be read ({exc.strerror or exc})")


def rejection_name_for(event: Any) -> str:
    """A rejection's blob name made from the event's content: the same malformed event, the same name."""
    text = json.dumps(event, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=repr)
    return f"replay-{hashlib.sha256(text.encode('ascii')).hexdigest()[:40]}.json"


def replay(events: Iterable[Any], store, rejected_store, hash_key: bytes, progress=None, media=None,
           media_max_bytes: int | None = None, counts: Counter | None = None, recordings=None,
           delete_recordings: bool = False) -> Counter:
    """Archive each event; rejected ones go to the rejected container, like the function's binding.

    ``counts`` (given by the caller) holds what was done so far even when a failure stops the replay."""
    counts = Counter() if counts is None else counts
    for item in events:
        from_rejection = is_rejection(item)
        if from_rejection:
            item = item["event"]  # replay what was rejected, not the rejection document around it
        event, reason, attempts = unwrap(item)
        event = _normalize(event)
        if reason is not None:
            log.info("dead-lettered event=%s reason=%s attempts=%s",
                     event.get("id") if isinstance(event, dict) else None, reason, attempts)
            counts[DEAD_LETTERED] += 1
        extra = {"media_max_bytes": media_max_bytes} if media_max_bytes else {}
        if recordings is not None:  # call recordings (archiving/calls): downloaded like media
            extra.update(recordings=recordings, delete_recordings=delete_recordings)
        outcome: Outcome = archive_event(event, store, hash_key, media=media, **extra)
        if outcome.status == REJECTED and from_rejection:
            counts[STILL_REJECTED] += 1  # its rejection document stays where it is; nothing new is written
        else:
            counts[outcome.status] += 1
        if outcome.status == REJECTED and not from_rejection:
            # Plain JSON, as the function's output binding writes it: readable in Storage Explorer.
            body = rejection_json(outcome).encode("utf-8")
            rejected_store.create_blob(rejection_name_for(event), body, {"sha256": sha256_hex(body)})
        if progress is not None:
            progress.update(1)
    return counts
