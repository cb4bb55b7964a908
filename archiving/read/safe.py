"""Making archived content safe for where it is shown: a terminal, a spreadsheet, a web page.

Archived messages are other people's text: they may hold escape sequences (clear the screen, set the
window title, hide what follows), bidirectional overrides, or cells a spreadsheet would run as a
formula.  The archive keeps them exactly; the viewers neutralize them on the way out.
"""

from __future__ import annotations

import re

# C0 controls but TAB and the line breaks handled apart, DEL, C1 controls (CSI is U+009B), and the
# Unicode bidi embedding/override/isolate controls that reorder what follows them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_LINE_BREAK = re.compile("\r\n|\r|\n|\u2028|\u2029")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str | None) -> str:
    """One line of text safe for a terminal: controls and escape characters shown as ``\\x1b`` etc."""
    if not text:
        return ""
    return _CONTROL.sub(_escape, _LINE_BREAK.sub(" ", text))


def terminal_lines(text: str | None, indent: str) -> str:
    """Text safe for a terminal; continuation lines of a multi-line message start with ``indent``."""
    if not text:
        return ""
    return ("\n" + indent).join(_CONTROL.sub(_escape, line) for line in _LINE_BREAK.split(text))


# In a web page line breaks stay (the page wraps them) and bidi controls stay too: the page isolates every
# stored value with <bdi> or dir="auto", so an override cannot reach past it.  Other controls are shown.
_HTML_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK_CR = re.compile("\r\n|\r")


def visible_controls(text: str) -> str:
    """Control characters shown as ``\\x1b`` etc. (a browser would drop a NUL silently); line breaks kept."""
    return _HTML_CONTROL.sub(_escape, _LINE_BREAK_CR.sub("\n", text))


def html_text(text: object) -> str:
    """Stored text for a web page, as element content or a quoted attribute value: HTML-escaped (quotes
    too), control characters shown."""
    if text is None:
        return ""
    from html import escape

    return escape(visible_controls(str(text)), quote=True)


# OWASP "CSV injection": a cell starting with one of these is a formula to Excel, LibreOffice and
# Google Sheets (TAB and CR start DDE payloads too).  Prefixing a single quote makes it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_cell(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs: formula-leading cells get a leading ``'``."""
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value


BOM = "\ufeff"
