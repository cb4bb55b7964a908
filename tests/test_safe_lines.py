"""Lines that quote stored values (the seal's findings, `status`) go through the one terminal-safe function
(archiving/read/safe.py): a blob name or a reason from storage cannot clear the screen or reverse text."""

from __future__ import annotations

from datetime import datetime, timezone

HOSTILE = "Failed\x1b[2J\x1b[H\x1b[32mALL GOOD\u202e\x00\nnext"


def _clean(text: str) -> None:
    for bad in ("\x1b", "\u202e", "\x00"):
        assert bad not in text, repr(text)


def test_a_seal_finding_line_escapes_its_subject_and_detail():
    from archiving.integrity.verify import Problem

    line = Problem("deleted", f"chat-archive/{HOSTILE}", HOSTILE).line()
    _clean(line)
    assert line.count("\n") == 0 and line.split("\t")[0] == "deleted" and "\\x1b" in line


def test_a_status_line_escapes_what_it_quotes():
    from archiving.ops.status import FAIL, Check, Report, render_text

    report = Report(datetime(2026, 12, 6, tzinfo=timezone.utc),
                    (Check("seal", FAIL, f"blob {HOSTILE} missing", action=f"look at {HOSTILE}"),))
    text = render_text(report)
    _clean(text)
    assert len(text.splitlines()) == 4 and "\\x1b[2J" in text
