"""A bound on the text one event may make us analyse.

Every step after the log text arrives (redaction, masking, stack-trace parsing, the model's
prompt) costs time in proportion to the text, on the event loop. Cutting it first bounds the
work per event, whatever an application logged.

The head and the tail are kept: in a stack trace the head holds the exception and the top
frames, the tail the root cause ("Caused by: ..."). A visible marker line between them says
how much went, so no reader takes the rest for the whole. The cut moves to a line break (else
a space) near it, so that no token, a secret among them, is split in two: half a key no
longer has the shape redaction looks for.

Pure functions, no I/O.
"""
from __future__ import annotations

from typing import NamedTuple

MARKER = "\n… [{} characters cut] …\n"
# How far a cut may move to reach a line break or a space, as a share of the part it ends.
_SNAP_SHARE = 8
# Room for the marker's number however large the text: the kept text plus the marker never
# exceeds the bound.
_MARKER_ROOM = len(MARKER.format(10**12))


class Cut(NamedTuple):
    text: str
    original_chars: int
    kept_chars: int  # of the original text; the marker is not counted

    @property
    def cut_chars(self) -> int:
        return self.original_chars - self.kept_chars


def _head_end(text: str, end: int) -> int:
    """Where the head ends: at or before `end`, before a line break or a space if one is near
    (the marker starts a line of its own)."""
    floor = end - max(1, end // _SNAP_SHARE)
    for separator in ("\n", " "):
        found = text.rfind(separator, floor, end)
        if found >= 0:
            return found
    return end


def _tail_start(text: str, start: int) -> int:
    """Where the tail starts: at or after `start`, at a line's start or after a space if near."""
    ceiling = start + max(1, (len(text) - start) // _SNAP_SHARE)
    for separator in ("\n", " "):
        found = text.find(separator, start, ceiling)
        if found >= 0:
            return found + 1
    return start


def cut(text: str, limit: int) -> Cut:
    """`text` if it has at most `limit` characters, else its head and tail around a marker,
    `limit` characters at most in all."""
    if len(text) <= limit:
        return Cut(text, len(text), len(text))
    room = max(0, limit - _MARKER_ROOM)
    head_end = _head_end(text, room - room // 2)
    tail_start = _tail_start(text, len(text) - room // 2)
    head, tail = text[:head_end], text[tail_start:]
    gone = len(text) - len(head) - len(tail)
    return Cut(head + MARKER.format(gone) + tail, len(text), len(head) + len(tail))
