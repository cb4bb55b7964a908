"""The read side of calls (docs/archive-format.md, section 15): one call with its participants, times and
recordings (``show --call``), export items (one per call and one per recording), and how call records
show in ``find`` and in CSV.  Everything is read through ``read_verified``; text goes out through
read/safe.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.calls import layout
from archiving.read.scan import WORKERS, find_names, in_range
from archiving.read.verified import Findings, read_verified
from archiving.store import keys

_SEGMENT = re.compile(r"^[0-9a-f]{32}$")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def call_names(store: Any, ref: str) -> list[str]:
    """Every record of the call ``ref`` (a server call id, its 32-hex ``<call>``, or a correlation id), any month."""
    segments = {ref} if _SEGMENT.match(ref) else {layout.call_segment(ref)}
    expressions = [f'"call" = {_quote(s)}' for s in segments]
    if not _SEGMENT.match(ref):
        expressions.append(f'"correlation" = {_quote(keys.thread_tag(ref))}')
    seen: dict[str, None] = {}
    for expression in expressions:
        for name in find_names(store, expression):
            seen.setdefault(name, None)
    return [n for n in seen if not n.startswith(layout.MEDIA_ROOT)]


def calls_between(store: Any, hash_key: bytes, a: str, b: str, workers: int = WORKERS) -> list[CallView]:
    """The calls in which both parties appear (started, ended, joined, called or were called)."""
    from archiving.read.conversations import _tag_query, party_hash

    def calls_of(address: str) -> set[str]:
        hashed = party_hash(hash_key, address)
        found = set()
        for tag in ("sender", "participant", "recipient"):
            for name in find_names(store, _tag_query(channel=layout.CHANNEL, **{tag: hashed})):
                info = layout.parse_call_key(name)
                if info is not None and info.call:
                    found.add(info.call)
        return found

    return [load_call(store, call, workers, hash_key) for call in sorted(calls_of(a) & calls_of(b))]


@dataclass
class CallView:
    ref: str
    records: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    shas: dict[str, str] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)

    @property
    def empty(self) -> bool:
        return not self.records


def load_call(store: Any, ref: str, workers: int = WORKERS, hash_key: bytes | None = None) -> CallView:
    view = CallView(ref)
    names = call_names(store, ref)
    # A recording filed by correlation id (its event named no server call) joins through the correlation tag.
    blobs = list(read_verified(store, names, view.findings, workers, hash_key=hash_key))
    correlations = {b.document.get("correlation_id") for b in blobs if isinstance(b.document, Mapping)} - {None}
    more = [n for c in correlations for n in call_names(store, c) if n not in names]
    blobs += list(read_verified(store, dict.fromkeys(more), view.findings, workers, hash_key=hash_key))
    for blob in sorted(blobs, key=lambda b: (b.document.get("at") or "", b.name)):
        view.records.append((blob.name, blob.document))
        view.shas[blob.name] = blob.sha256
    return view


def _who(p: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not p:
        return None
    return {"raw_id": p.get("raw_id"), "kind": p.get("kind"), "hash": p.get("hash"),
            "display_name": p.get("display_name")}


def summary(records: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """What a reviewer asks of a call: who, when, how long, and its recordings (sha256, size, where)."""
    out: dict[str, Any] = {"call_id": None, "server_call_id": None, "correlation_id": None, "started_at": None,
                           "ended_at": None, "duration_seconds": None, "started_by": None, "ended_by": None,
                           "end_reason": None, "participants": [], "incoming": [], "recordings": [], "records": []}
    parties: dict[str, dict[str, Any]] = {}
    recordings: dict[str, dict[str, Any]] = {}
    for name, d in records:
        kind = d.get("kind")
        out["records"].append(name)
        for k in ("call_id", "server_call_id", "correlation_id"):
            out[k] = out[k] or d.get(k)
        if kind == "call-started":
            out["started_at"], out["started_by"] = d.get("at"), _who(d.get("started_by"))
        elif kind == "call-ended":
            out["ended_at"], out["ended_by"] = d.get("at"), _who(d.get("ended_by"))
            out["duration_seconds"], out["end_reason"] = d.get("duration_seconds"), d.get("reason")
            out["started_by"] = out["started_by"] or _who(d.get("started_by"))
        elif kind == "call-participant":
            p = d.get("participant") or {}
            entry = parties.setdefault(p.get("hash"), {**(_who(p) or {}), "joined_at": [], "left_at": []})
            entry["joined_at" if d.get("action") == "added" else "left_at"].append(d.get("at"))
        elif kind == "call-incoming":
            out["incoming"].append({"at": d.get("at"), "from": _who(d.get("from")), "to": _who(d.get("to"))})
        elif kind in ("call-recording", "call-recording-announced"):
            rid = d.get("recording_key_id")
            if kind == "call-recording-announced" and rid in recordings:
                continue
            recordings[rid] = {
                "recording_id": d.get("recording_id"),
                "status": d.get("status") if kind == "call-recording" else "not yet archived",
                "start": d.get("recording_start_time"), "duration_ms": d.get("duration_ms"),
                "content_type": d.get("content_type"), "format_type": d.get("format_type"), "record": name,
                "chunks": [{"index": c.get("index"), "status": (c.get("content") or {}).get("status"),
                            "sha256": (c.get("content") or {}).get("sha256"), "size": (c.get("content") or {}).get("size"),
                            "content_type": (c.get("content") or {}).get("content_type"),
                            "path": (c.get("content") or {}).get("blob"),
                            "metadata_sha256": (c.get("metadata") or {}).get("sha256"),
                            "metadata_path": (c.get("metadata") or {}).get("blob")}
                           for c in d.get("chunks") or []]}
    if out["duration_seconds"] is None and out["started_at"] and out["ended_at"]:
        from archiving.timefmt import parse_time

        delta = parse_time(out["ended_at"], "ended_at") - parse_time(out["started_at"], "started_at")
        out["duration_seconds"] = delta.total_seconds()
    out["participants"] = list(parties.values())
    out["recordings"] = list(recordings.values())
    return out


def render_json(view: CallView) -> str:
    import orjson

    out = {"call": view.ref, **summary(view.records),
           "documents": [{"name": n, "sha256": view.shas.get(n), "document": d} for n, d in view.records],
           "damaged": [{"name": d.name, "reason": d.reason} for d in view.findings.items]}
    return orjson.dumps(out, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


def _party(p: Mapping[str, Any] | None) -> str:
    if not p:
        return "-"
    name = p.get("display_name")
    return f"{name} <{p.get('raw_id')}>" if name else str(p.get("raw_id"))


def render_text(view: CallView) -> str:
    from archiving.read.safe import terminal

    s = summary(view.records)
    lines = [f"call {s['call_id']}  server call id {s['server_call_id']}  correlation {s['correlation_id']}",
             f"started {s['started_at'] or '-'} by {_party(s['started_by'])}",
             (f"ended   {s['ended_at'] or '-'} by {_party(s['ended_by'])}  duration "
              f"{'-' if s['duration_seconds'] is None else str(s['duration_seconds']) + ' s'}")]
    for p in s["participants"]:
        lines.append(f"participant {_party(p)}  joined {', '.join(p['joined_at']) or '-'}  "
                     f"left {', '.join(p['left_at']) or '-'}")
    for i in s["incoming"]:
        lines.append(f"incoming {i['at']}  {_party(i['from'])} -> {_party(i['to'])}")
    for r in s["recordings"]:
        lines.append(f"recording {r['recording_id']}  {r['status']}  start {r['start']}  duration_ms {r['duration_ms']}")
        for c in r["chunks"]:
            lines.append(f"  chunk {c['index']}  {c['status']}  sha256 {c['sha256']}  size {c['size']}  "
                         f"{c['content_type']}  {c['path']}")
    for d in view.findings.items:
        lines.append(f"damaged {d.name}: {d.reason}")
    return "".join(terminal(line) + "\n" for line in lines)


# -- export and find ---------------------------------------------------------------------------------


def grouped_calls(store: Any, start: str | None, end: str | None, findings: Findings, progress: Any = None,
                  workers: int = WORKERS) -> dict[str, list[tuple[Any, Mapping[str, Any]]]]:
    """call id -> its (blob, document) records whose ``at`` is in the range, in time order."""
    from archiving.read.conversations import _tag_query

    names = (n for n in find_names(store, _tag_query(channel=layout.CHANNEL, start=start, end=end))
             if not n.startswith(layout.MEDIA_ROOT))
    calls: dict[str, list[tuple[Any, Mapping[str, Any]]]] = {}
    for blob in read_verified(store, names, findings, workers):
        if progress is not None:
            progress.update(1)
        doc = blob.document
        if isinstance(doc, Mapping) and doc.get("channel") == layout.CHANNEL and in_range(doc.get("at"), start, end):
            calls.setdefault(doc.get("call_id"), []).append((blob, doc))
    for blobs in calls.values():
        blobs.sort(key=lambda b: (b[1].get("at") or "", b[0].name))
    return calls


def csv_values(kind: str, d: Mapping[str, Any]) -> dict[str, Any]:
    """The export CSV columns of a call item (a call summary, or one call record)."""
    if kind == "call":
        who = d.get("started_by") or {}
        recs = d.get("recordings") or []
        return {"message_id": d.get("server_call_id"), "action": "call", "sender_id": who.get("raw_id"),
                "sender_display_name": who.get("display_name"), "sender_hash": who.get("hash"),
                "composed_at": d.get("started_at"), "deleted_at": d.get("ended_at"),
                "content": f"duration {d.get('duration_seconds')} s; {len(recs)} recordings",
                "participants": "; ".join(str(p.get("raw_id")) for p in d.get("participants") or [])}
    chunks = d.get("chunks") or []
    if kind in ("call-recording", "call-recording-announced"):
        parts = [f"chunk {c.get('index')}: {(c.get('content') or {}).get('status')} sha256="
                 f"{(c.get('content') or {}).get('sha256')} size={(c.get('content') or {}).get('size')} "
                 f"path={(c.get('content') or {}).get('blob')}" for c in chunks]
        return {"message_id": d.get("recording_id"), "action": d.get("status") or "announced",
                "message_type": d.get("content_type"), "composed_at": d.get("at"), "content": "; ".join(parts)}
    who = d.get("participant") or d.get("from") or d.get("ended_by") or d.get("started_by") or {}
    return {"message_id": d.get("server_call_id"), "action": d.get("action") or kind.removeprefix("call-"),
            "sender_id": who.get("raw_id"), "sender_display_name": who.get("display_name"),
            "sender_hash": who.get("hash"), "composed_at": d.get("at"),
            "participants": (d.get("to") or {}).get("raw_id")}


def text_line(item: Any) -> str:
    v = csv_values(item.kind, item.document)
    who = v.get("sender_display_name") or v.get("sender_id") or ""
    return f"{item.at}  call     {item.kind}  {item.thread_id}  {v.get('action')}  {who}  {v.get('content') or ''}".rstrip()
