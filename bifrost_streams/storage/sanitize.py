"""Values made storable in PostgreSQL, and text made encodable (validation uses that too).
Pure.

PostgreSQL text cannot hold NUL (psycopg2 refuses such a string before sending it), its UTF-8
cannot hold a lone surrogate (Python strings can: JSON's "\\ud800" decodes to one), and JSONB
also refuses "\\u0000" inside a string and NaN or Infinity as a number. Every string that
reaches an INSERT passes here: NUL is dropped, a lone surrogate becomes U+FFFD, a number JSON
cannot hold becomes null. The row then says what Heimdall was sent, less what no database
column can store.
"""
from __future__ import annotations

import math
from typing import Any

REPLACEMENT = "\ufffd"


def encodable(value: str) -> bool:
    """Whether the string has a UTF-8 form (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def without_lone_surrogates(value: str) -> str:
    # Through UTF-16 a well-formed pair stays one character; a lone half cannot be decoded
    # and becomes U+FFFD.
    if encodable(value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "")
    return without_lone_surrogates(value)


def clean(value: Any) -> Any:
    """A copy of a JSON value (or a column value) with every string cleaned, keys included.

    Raises RecursionError for a value nested deeper than Python's stack: the caller parks it."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_text(str(key)): clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value
