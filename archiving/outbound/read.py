"""The read side of outbound records: one message with its outcome and reports; records without outcome.

Blobs are read through ``archiving.read.verified.read_verified``: a damaged blob is named in the
``Findings``, never raised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiving.outbound import layout
from archiving.read.verified import Findings, read_verified
from archiving.timefmt import utcnow


@dataclass(frozen=True)
class OutboundStatus:
    channel: str
    archive_id: str
    status: str  # layout.STATUS_SENT | STATUS_FAILED | STATUS_UNKNOWN
    failures: int
    not_archived_before_send: bool


def _group(store: Any, channel: str | None) -> dict[tuple[str, str], list[str]]:
    channels = [channel] if channel else list(layout.CHANNELS)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ch in channels:
        for name in store.list_names(f"{layout.ROOT}{ch}/"):
            parts = name.split("/")
            if len(parts) == 4:
                groups[(ch, parts[2])].append(parts[3])
    return groups


def statuses(store: Any, channel: str | None = None) -> Iterator[OutboundStatus]:
    """Every outbound message by its blob names alone (no download)."""
    for (ch, archive_id), files in sorted(_group(store, channel).items()):
        if f"message{layout.keys.RECORD_SUFFIX}" not in files:
            continue  # fail-open, record still pending (or only attachments): nothing to judge yet
        failures = sum(1 for f in files if f.startswith("failed-"))
        if f"sent{layout.keys.RECORD_SUFFIX}" in files:
            status = layout.STATUS_SENT
        elif failures:
            status = layout.STATUS_FAILED
        else:
            status = layout.STATUS_UNKNOWN
        yield OutboundStatus(ch, archive_id, status, failures,
                             f"not-archived-before-send{layout.keys.RECORD_SUFFIX}" in files)


def outcome_unknown(store: Any, channel: str | None = None, older_than: timedelta = timedelta(0),
                    now: datetime | None = None) -> list[OutboundStatus]:
    """Messages archived with no outcome: a crash (or lost outcome write) between archive and send.

    Only records older than ``older_than`` count (a send in flight has no outcome yet); the age is
    the blob's creation time.
    """
    cutoff = (now or utcnow()) - older_than
    found = []
    for item in statuses(store, channel):
        if item.status != layout.STATUS_UNKNOWN:
            continue
        if older_than:
            props = store.container.get_blob_client(layout.message_key(item.channel, item.archive_id)).get_blob_properties()
            if props.creation_time and props.creation_time > cutoff:
                continue
        found.append(item)
    return found


@dataclass
class OutboundView:
    """One outbound message as ``outbound show`` presents it."""

    channel: str
    archive_id: str
    message: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    marker: dict[str, Any] | None = None
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # ACS message id -> reports

    @property
    def status(self) -> str:
        if self.sent:
            return layout.STATUS_SENT
        return layout.STATUS_FAILED if self.failures else layout.STATUS_UNKNOWN

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "archive_id": self.archive_id, "status": self.status,
                "not_archived_before_send": self.marker is not None, "message": self.message,
                "sent": self.sent, "failures": self.failures, "reports": self.reports}


def load(store: Any, channel: str, archive_id: str, findings: Findings, hash_key: bytes | None = None) -> OutboundView:
    view = OutboundView(channel, archive_id)
    names = list(store.list_names(layout.message_prefix(channel, archive_id)))
    for blob in read_verified(store, sorted(names), findings):
        kind = blob.document.get("kind")
        if kind == layout.MESSAGE:
            view.message = blob.document
        elif kind == layout.SENT:
            view.sent = blob.document
        elif kind == layout.FAILED:
            view.failures.append(blob.document)
        elif kind == layout.NOT_ARCHIVED:
            view.marker = blob.document
    if view.sent:
        for acs_id in layout.results_by_id(view.sent):
            view.reports[acs_id] = [b.document for b in read_verified(store, report_names(store, view, acs_id, hash_key), findings)]
    return view


def report_names(store: Any, view: OutboundView, acs_id: str, hash_key: bytes | None = None) -> list[str]:
    """The reports of one ACS message id (issue 11's records, by the ``message`` tag); for chat, the
    chat records of the message (chat/<yyyymm>/<thread>/messages/<id>/), every month."""
    from archiving.read.scan import find_names
    from archiving.store import keys

    query = layout.report_query(view.channel, acs_id, hash_key)
    if query is not None:
        return sorted(n for n in find_names(store, query) if layout.is_report_name(n))
    thread_id = ((view.message or {}).get("correlation") or {}).get("chat_thread_id")
    if not thread_id:
        return []
    names = []
    for name in store.thread_names(thread_id):
        info = keys.parse_key(name)
        if info and info.area == "messages" and info.name.startswith(acs_id + "/"):
            names.append(name)
    return sorted(names)


def find_by_acs_id(store: Any, channel: str, acs_message_id: str, findings: Findings,
                   hash_key: bytes | None = None) -> OutboundView | None:
    """The outbound message a delivery report is about (the join from the report's side)."""
    key = layout.by_acs_id_key(channel, acs_message_id, hash_key)
    if not store.exists(key):
        return None
    for blob in read_verified(store, [key], findings):
        return load(store, channel, blob.document["archive_id"], findings, hash_key)
    return None


def render_text(view: OutboundView) -> str:
    m = view.message or {}
    lines = [f"{view.channel} message {view.archive_id}: {view.status}"
             + (" (NOT archived before send: record written late)" if view.marker else "")]
    if m:
        sender = (m.get("sender") or {}).get("address")
        lines.append(f"  archived {m.get('archived_at')} via {m.get('via')}; from {sender}")
        for p in m.get("recipients") or []:
            lines.append(f"  {p.get('role')}: {p.get('address')}")
        if m.get("subject") is not None:
            lines.append(f"  subject: {m['subject']}")
        body = m.get("body") or {}
        if body.get("text") is not None:
            lines.append(f"  text: {body['text']}")
        if body.get("html") is not None:
            lines.append(f"  html: {body['html']}")
        if m.get("template"):
            lines.append(f"  template: {m['template'].get('name')} ({m['template'].get('language')})")
        for a in m.get("attachments") or []:
            lines.append(f"  attachment: {a.get('name') or a.get('mediaUri')} {a.get('sha256', '')}")
    for f in view.failures:
        e = f.get("error") or {}
        lines.append(f"  failed {f.get('archived_at')}: {e.get('type')} {e.get('status_code') or ''} {e.get('code') or ''}")
    if view.sent:
        lines.append(f"  sent {view.sent.get('archived_at')}: {view.sent.get('recipients_accepted')} of "
                     f"{view.sent.get('recipients_total')} recipients accepted")
        for r in view.sent.get("results") or []:
            state = "accepted" if r.get("successful") else f"refused {r.get('http_status')} {r.get('error') or ''}"
            lines.append(f"    {r.get('recipient')}: {state}, ACS id {r.get('acs_message_id')}")
            for report in view.reports.get(r.get("acs_message_id") or "", []):
                what = report.get("status") or report.get("engagement") or report.get("action") or ""
                when = report.get("reported_at") or report.get("composed_at") or report.get("archived_at") or ""
                lines.append(f"      {report.get('kind')}: {what} {when}")
    from archiving.read.safe import terminal

    return "\n".join(terminal(line) for line in lines) + "\n"  # stored text never reaches a terminal raw
