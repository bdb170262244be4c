"""Log lines and entries: the level, service and time a line carries, and where an entry ends.

Pure: no Kafka, no I/O. The logs.ingestion agent (agents/ingestion.py) and bifrost-submit use
it. A multi-line stack trace (Java `\\tat ...`, `Caused by:`, `... 12 more`; a Python
`Traceback (most recent call last):` block up to its exception line; any line that starts
with whitespace) stays one entry with the line that starts it: it is one error, so it must
become one analysis, not forty.

Accepted: Fluent Bit's JSON records ({"log": ..., "level": ..., "service": ..., "time": ...},
with the usual other spellings) and plain lines such as
`2026-01-31 10:00:00 ERROR [user-service] message`, `[ERROR] message`, `level=error ...`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Iterable, Iterator, List, Mapping, Optional, Tuple

from ..config import LEVEL_SYNONYMS, LEVELS

# Only the start of a line is searched for its level: "INFO retry after ERROR" is INFO.
HEADER_CHARS = 200


@dataclass(frozen=True)
class LogEntry:
    text: str  # the whole entry, its lines joined by "\n"
    level: Optional[str]  # one of config.LEVELS, None when the entry names none
    service: Optional[str] = None
    timestamp: Optional[str] = None  # yyyy-MM-dd'T'HH:mm:ss'Z' (UTC), the contract's format
    environment: Optional[str] = None
    trace_id: Optional[str] = None
    line: int = 1  # where the entry starts in its file or record, 1-based


def normalize_level(name: Any) -> Optional[str]:
    """'warning' -> 'WARN', 'CRITICAL' -> 'FATAL'; a syslog number (journald) maps too."""
    if isinstance(name, bool):
        return None
    if isinstance(name, int):
        return _SYSLOG.get(name)
    if not isinstance(name, str):
        return None
    text = name.strip().upper()
    if text.isdigit():
        return _SYSLOG.get(int(text))
    text = LEVEL_SYNONYMS.get(text, text)
    return text if text in LEVELS else None


_SYSLOG = {0: "FATAL", 1: "FATAL", 2: "FATAL", 3: "ERROR", 4: "WARN", 5: "INFO", 6: "INFO",
           7: "DEBUG"}


def keep(entry: LogEntry, levels: Collection[str]) -> bool:
    return entry.level is not None and entry.level in levels


# --- timestamps -------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}[-/]\d{2}[-/]\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d+))?"
    r"\s?(?P<zone>Z|UTC|[+-]\d{2}:?\d{2}(?!\d))?")


def normalize_timestamp(value: Any) -> Optional[str]:
    """An ISO-like time or epoch seconds/milliseconds -> the contract's UTC format.

    A time without a zone is taken as UTC: a guess, but the same on every worker."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            moment = datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.search(value)
    return _format(match) if match else None


def _format(match: "re.Match[str]") -> Optional[str]:
    try:
        moment = datetime.strptime(f"{match['date'].replace('/', '-')} {match['time']}",
                                   "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    zone = match["zone"]
    if zone and zone not in ("Z", "UTC"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- one plain line -------------------------------------------------------------------------

_LEVEL_WORDS = "|".join(sorted(set(LEVELS) | set(LEVEL_SYNONYMS), key=len, reverse=True))
# An upper-case level word standing alone; lower-case only when it is clearly a field:
# bracketed ("[error]"), labelled ("level=error", "severity: warn") or followed by a colon.
_LEVEL_PATTERNS = (
    re.compile(rf"(?<![\w.-])(?P<level>{_LEVEL_WORDS})(?![\w-])"),
    re.compile(rf"[\[<(](?P<level>{_LEVEL_WORDS})[\]>)]", re.IGNORECASE),
    re.compile(rf"\b(?:level|severity|lvl|loglevel)\s*[=:]\s*\"?(?P<level>{_LEVEL_WORDS})\b",
               re.IGNORECASE),
    re.compile(rf"^(?P<level>{_LEVEL_WORDS}):", re.IGNORECASE),
)
# The service right after the level: "ERROR [user-service] ..." or "ERROR user-service: ..."
_SERVICE_AFTER_LEVEL = re.compile(r"^\]?\s*[:\-]?\s*\[(?P<svc>[A-Za-z0-9][\w.\-/]{0,99})\]")
_SERVICE_FIELD = re.compile(r"\b(?:service|service_name|app)\s*[=:]\s*\"?(?P<svc>[\w.\-/]{1,100})")
# A frame line ("\tat pkg.Class.method(") is indented, and blank lines may come before it. It
# is searched over the whole entry, which is untrusted: tried from every line start, the
# indent ran through all the blank lines after it again (seconds for 100 KB of "\n"). So it is
# tried only where a run of white space starts, one that holds a line start.
_STACK_TRACE = re.compile(
    r"(?:\A|(?<!\s)(?=[^\S\n]*+\n\s))\s++at [\w$.<>/]++\(|"
    r"^Traceback \(most recent call last\):|^Caused by: |"
    r"^Exception in thread |^panic: |^goroutine \d+ \[", re.MULTILINE)


def _find_level(header: str) -> Tuple[Optional[str], int]:
    """The earliest level in the header and where it ends (-1 when none)."""
    best: Optional[Tuple[int, int, str]] = None
    for pattern in _LEVEL_PATTERNS:
        match = pattern.search(header)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), match.end("level"), match["level"])
    if best is None:
        return None, -1
    return normalize_level(best[2]), best[1]


def parse_text(text: str, line: int = 1) -> LogEntry:
    """A plain entry: level, service and time from its first line."""
    first = text.split("\n", 1)[0]
    header = first[:HEADER_CHARS]
    stamp = _TIMESTAMP.search(header)
    # Look for the level after the time, so a time zone such as "+01:00" cannot confuse it.
    rest = header[stamp.end():] if stamp and stamp.start() < 40 else header
    level, end = _find_level(rest)
    service = None
    if end >= 0:
        after = _SERVICE_AFTER_LEVEL.match(rest[end:])
        service = after["svc"] if after else None
    if service is None:
        field = _SERVICE_FIELD.search(header)
        service = field["svc"] if field else None
    if level is None and _STACK_TRACE.search(text):
        level = "ERROR"  # an uncaught exception printed without a log line of its own
    return LogEntry(text=text, level=level, service=service,
                    timestamp=_format(stamp) if stamp else None, line=line)


# --- one JSON record (Fluent Bit) ---------------------------------------------------------

_MESSAGE_KEYS = ("log", "message", "msg", "MESSAGE", "text")
_LEVEL_KEYS = ("level", "severity", "log_level", "levelname", "lvl", "loglevel", "PRIORITY")
_SERVICE_KEYS = ("service", "service_name", "serviceName", "app", "application",
                 "SYSLOG_IDENTIFIER")
_TIME_KEYS = ("time", "timestamp", "@timestamp", "date", "ts")
_ENV_KEYS = ("environment", "env")
_TRACE_KEYS = ("trace_id", "traceId", "correlation_id", "correlationId")


def _first(record: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = record.get(key)
        if value not in (None, ""):
            return value
    return None


def _short_text(value: Any) -> Optional[str]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:100] if text else None
    return None


def parse_record(record: Mapping[str, Any], line: int = 1) -> LogEntry:
    """A structured record: its fields first, then what its message text says."""
    message = _first(record, _MESSAGE_KEYS)
    text = message.rstrip("\n") if isinstance(message, str) else json.dumps(record)
    from_text = parse_text(text, line)
    kubernetes = record.get("kubernetes") if isinstance(record.get("kubernetes"), dict) else {}
    labels = kubernetes.get("labels") if isinstance(kubernetes.get("labels"), dict) else {}
    service = (_short_text(_first(record, _SERVICE_KEYS))
               or _short_text(labels.get("app")) or _short_text(kubernetes.get("container_name"))
               or from_text.service)
    return LogEntry(
        text=text,
        level=normalize_level(_first(record, _LEVEL_KEYS)) or from_text.level,
        service=service,
        timestamp=normalize_timestamp(_first(record, _TIME_KEYS)) or from_text.timestamp,
        environment=_short_text(_first(record, _ENV_KEYS)),
        trace_id=_short_text(_first(record, _TRACE_KEYS)),
        line=line,
    )


def _as_record(text: str) -> Optional[Mapping[str, Any]]:
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


# --- entries ----------------------------------------------------------------------------------

_CONTINUES = re.compile(
    r"^(?:Caused by:|Suppressed:|\.\.\. \d+ (?:more|common frames omitted)|"
    r"During handling of the above exception|The above exception was the direct cause|"
    r"goroutine \d+ \[)")
_PY_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):")
_STARTS_WITH_TIME = re.compile(r"^\[?\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:")
_JAVA_EXCEPTION = re.compile(
    r"^(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::.*)?$")


def split_entries(lines: Iterable[str]) -> List[Tuple[int, str]]:
    """Group lines into entries: (first line number, text). A line continues the entry
    before it when it is blank, starts with whitespace, belongs to a stack trace, or is the
    exception line that closes a Python traceback; any other line starts a new entry."""
    return list(iter_entries(lines))


def iter_entries(lines: Iterable[str]) -> Iterator[Tuple[int, str]]:
    """split_entries, one entry at a time: an entry is yielded once the line after it is read,
    so a caller can give the event loop a turn between the entries of a long message."""
    # Only the open entry is a list; the others are strings already. A list per entry made
    # the garbage collector's full passes grow with the number of entries (a message of many
    # one-character lines took quadratic time).
    start, body = 0, []
    in_traceback = False
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not body:
            if line.strip():
                start, body = number, [line]
                in_traceback = bool(_PY_TRACEBACK.match(line))
            continue
        if _PY_TRACEBACK.match(line):
            in_traceback = True
            body.append(line)
        elif not line.strip() or line[0].isspace() or _CONTINUES.match(line) \
                or _JAVA_EXCEPTION.match(line):
            body.append(line)
        elif in_traceback and not _STARTS_WITH_TIME.match(line):
            body.append(line)  # "ValueError: ..." ends the traceback
            in_traceback = False
        else:
            yield start, "\n".join(body).rstrip()
            start, body = number, [line]
            in_traceback = False
    if body:
        yield start, "\n".join(body).rstrip()


def parse_entry(text: str, line: int = 1) -> LogEntry:
    record = _as_record(text)
    return parse_record(record, line) if record is not None else parse_text(text, line)


def parse_payload(text: str) -> List[LogEntry]:
    """One forwarded record (a Kinesis record, a logs.ingestion message): a JSON object is
    one entry; anything else is split into entries (JSON lines among them are one each)."""
    return list(iter_payload(text))


def iter_payload(text: str) -> Iterator[LogEntry]:
    """parse_payload, one entry at a time."""
    text = text.strip()
    if not text:
        return
    record = _as_record(text)
    if record is not None:
        yield parse_record(record)
        return
    for start, body in iter_entries(text.split("\n")):
        yield parse_entry(body, start)
