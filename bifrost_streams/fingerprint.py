"""A stable fingerprint of a log text: the same error with other ids, times and numbers maps to
the same fingerprint, so its analysis can be served from the result cache.

Pure functions, no I/O.
"""
from __future__ import annotations

import hashlib
import re
from typing import List, Tuple

# Order matters: the specific shapes must be masked before the generic number rule eats them.
MASKS: List[Tuple[str, re.Pattern]] = [
    ("<TS>", re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
                        r"(?:Z|[+-]\d{2}:?\d{2})?")),
    ("<TS>", re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b")),
    ("<DATE>", re.compile(r"\b\d{4}[-/]\d{2}[-/]\d{2}\b")),
    ("<UUID>", re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}\b")),
    ("<IP>", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b")),
    ("<HEX>", re.compile(r"\b0[xX][0-9a-fA-F]+\b")),
    ("<HEX>", re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")),
    # A number starts a digit run not glued to a word: "after 3000ms" and "node-3" are
    # masked, "K10" and "http2" name things and are kept whole.
    ("<NUM>", re.compile(r"(?<![A-Za-z0-9_])[-+]?\d+(?:\.\d+)?")),
]
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Mask the variable parts of a log text and fold white space."""
    for token, pattern in MASKS:
        text = pattern.sub(token, text)
    return _SPACE.sub(" ", text).strip()


def fingerprint(text: str) -> str:
    """A short hex digest of the normalized text."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:32]
