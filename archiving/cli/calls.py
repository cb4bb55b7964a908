"""``show --call``: one call with its participants, times, duration and recordings (read/calls.py).
``cli/records.py``'s ``show`` dispatches here."""

from __future__ import annotations

import sys


def add_show_call(p) -> None:
    p.add_argument("--call", metavar="CALL_ID",
                   help="one call: its server call id, its <call> (32 hex, as show and find print it) or its "
                        "correlation id; participants, times, duration, recordings with sha256, size and path")


def show_call(args, services) -> int:
    from archiving.cli.common import FINDINGS, NOT_FOUND, OK, open_output, report_findings
    from archiving.read import calls

    if args.format not in ("text", "json"):
        raise ValueError("--format for a call: text or json")
    view = calls.load_call(services.store, args.call, hash_key=services.settings.hash_key)
    if view.empty and not view.findings:
        print("nothing archived for that call", file=sys.stderr)
        return NOT_FOUND
    text = calls.render_json(view) if args.format == "json" else calls.render_text(view)
    with open_output(args.out) as out:
        out.write(text)
    report_findings(view.findings, " of this call")
    return FINDINGS if view.findings.any else OK


class _Calls(list):
    """The calls between two parties, appended to the conversation's text or JSON (``calls``)."""

    def add_to(self, text: str, fmt: str) -> str:
        from archiving.read import calls

        if fmt == "json":
            import json

            doc = json.loads(text)
            doc["calls"] = [json.loads(calls.render_json(view)) for view in self]
            return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
        return text + "".join("\n" + calls.render_text(view) for view in self)


def between_calls(args, services) -> _Calls:
    """With ``--between A B`` (and no --channel, or --channel call): the calls both took part in."""
    if not getattr(args, "between", None) or getattr(args, "channel", None) not in (None, "call"):
        return _Calls()
    from archiving.read.calls import calls_between

    return _Calls(calls_between(services.store, services.settings.hash_key, *args.between))
