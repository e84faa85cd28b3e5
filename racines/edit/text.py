"""Text from the shot files on its way into the exports, made safe for each format.

A title, a note or a prompt is whatever a student typed: it may hold line breaks (an EDL reads
one event per line, so a title with a newline adds events and FCM lines), control characters
(illegal in XML 1.0: the file would not parse), or run for pages. Every text the timeline
carries goes through :func:`clean` (no control characters: safe for OTIO, XML and AAF), names
through :func:`one_line`, and the EDL's texts through :func:`edl_field` (one line, bounded).
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab and line feed; lone surrogates and the two non-characters XML 1.0
# forbids. Carriage returns are line breaks, made line feeds first.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")

#: CMX 3600 gives a title 70 characters; comment lines are kept short enough for any reader
EDL_TITLE = 70
EDL_COMMENT = 120


def clean(text: str) -> str:
    """``text`` without control characters; line breaks kept as line feeds, tabs kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str) -> str:
    """``text`` as one line: each run of line breaks, tabs and controls becomes one space."""
    return _CONTROL.sub("", _BREAKS.sub(" ", text)).strip()


def edl_field(text: str, limit: int = EDL_COMMENT) -> str:
    """One line of at most ``limit`` characters, for a field of an EDL."""
    line = one_line(text)
    return line if len(line) <= limit else line[:limit - 3].rstrip() + "..."
