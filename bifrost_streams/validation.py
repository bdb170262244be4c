"""Turn the raw bytes of an analysis.request into an AnalysisRequest, or say exactly why not.

Pure: no Kafka, no I/O. Both shapes of ../shared/CONTRACT.md are accepted: the job form
(log text in Heimdall's log_entries, found by log_id) and the legacy inline form (log_content
in the message). Unknown fields are ignored, as a newer Heimdall may add some.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import codes
from .records import SCHEMA_VERSION, AnalysisRequest
from .analysis.prompt_budget import CONTEXT_LINE_CHARS, CONTEXT_LINES
from .storage.sanitize import encodable, without_lone_surrogates

INT64 = (-(2**63), 2**63 - 1)
MAX_ID_CHARS = 200
# A request goes back out nested one or two levels deeper (a DLQ event's payload), and
# Jackson refuses documents nested deeper than 1000 levels; no real request comes near this.
MAX_DEPTH = 64
# What an oversized request keeps in its DLQ event; the whole message stays in the request
# topic at original_partition/original_offset.
OVERSIZE_EXCERPT_BYTES = 64 * 1024


_HEX = frozenset("0123456789abcdefABCDEF")
_DASHES = (8, 13, 18, 23)


def is_uuid(value: Any) -> bool:
    """What Heimdall's Jackson reads as a java.util.UUID: 36 characters, hex digits in five
    groups of 8-4-4-4-12 (either case). Python's uuid.UUID also takes braces, a urn: prefix
    or no dashes, which Jackson refuses."""
    return (isinstance(value, str) and len(value) == 36
            and all(value[i] == "-" for i in _DASHES)
            and all(c in _HEX for i, c in enumerate(value) if i not in _DASHES))


def dlq_ids(job_id: Any, idempotency_key: Any,
            trace_id: Any) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """The ids a dlq.failed event may carry, as its contract types them: job_id a UUID,
    the others strings (of at most MAX_ID_CHARS, as a request's are); anything else is null,
    and the raw value stays in the event's payload."""
    def text(value: Any) -> Optional[str]:
        # Also the message key: it must encode.
        return (value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS
                and encodable(value) else None)
    return (job_id if is_uuid(job_id) else None), text(idempotency_key), text(trace_id)


class InvalidRequest(Exception):
    """A request that cannot be parsed into a job: goes to the DLQ only."""

    def __init__(self, code: str, message: str, payload: Dict[str, Any],
                 job_id: Optional[str] = None, idempotency_key: Optional[str] = None,
                 trace_id: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.payload = payload
        self.job_id = job_id
        self.idempotency_key = idempotency_key
        self.trace_id = trace_id


def _first(document: Mapping[str, Any], *names: str) -> Tuple[Optional[str], Any]:
    for name in names:
        if document.get(name) is not None:
            return name, document[name]
    return None, None


def _string(name: str, value: Any, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    # JSON's "\ud800" decodes to half a character, which has no UTF-8: an id or a name
    # with one could be neither a Kafka key nor a table key nor a stored value.
    if not encodable(value):
        raise ValueError(f"{name} holds an unpaired surrogate (U+D800 to U+DFFF), which is "
                         f"not text")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{name} must be at most {max_chars} characters, got {len(value)}")
    return value


def _log_text(value: Any) -> str:
    """The log text, with an unpaired surrogate (a log line cut inside a character, say) made
    U+FFFD rather than the request refused: the rest of the text is worth its analysis."""
    if isinstance(value, str):
        value = without_lone_surrogates(value)
    return _string("log_content", value, 10 * 1024 * 1024)


def _optional_string(name: str, value: Any, max_chars: int = MAX_ID_CHARS) -> Optional[str]:
    return None if value is None else _string(name, value, max_chars)


def _optional_int(name: str, value: Any, low: int = INT64[0]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= INT64[1]:
        raise ValueError(f"{name} must be between {low} and {INT64[1]}, got {value}")
    return value


def _no_constant(name: str) -> Any:
    # Python reads NaN and Infinity; JSON has no such numbers, and Heimdall's Jackson would
    # refuse the DLQ event or the result that repeated one.
    raise ValueError(f"{name} is not a JSON value")


def _decode(raw: bytes) -> Dict[str, Any]:
    """Parse JSON into an object, or raise InvalidRequest carrying the text as payload."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(codes.INVALID_JSON, f"payload is not UTF-8: {exc}",
                             {"raw": raw.decode("utf-8", errors="backslashreplace")}) from None
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(codes.INVALID_JSON, f"payload is not JSON: {exc}",
                             {"raw": text}) from None
    if not isinstance(document, dict):
        raise InvalidRequest(codes.INVALID_REQUEST,
                             f"payload must be a JSON object, got {type(document).__name__}",
                             {"raw": text})
    if _deeper_than(document, MAX_DEPTH):
        raise InvalidRequest(codes.INVALID_REQUEST,
                             f"payload is nested deeper than {MAX_DEPTH} levels", {"raw": text})
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """Without recursion: the document may be as deep as the parser allowed."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False


def _excerpt(raw: bytes) -> str:
    """The head of an oversized message, at most OVERSIZE_EXCERPT_BYTES once in JSON: control
    characters and undecodable bytes grow up to six-fold when escaped."""
    text = raw[:OVERSIZE_EXCERPT_BYTES].decode("utf-8", errors="backslashreplace")
    while len(json.dumps(text)) > OVERSIZE_EXCERPT_BYTES:
        text = text[:len(text) // 2]
    return text


def parse_request(raw: Optional[bytes], *, max_bytes: int, topic: str = "", partition: int = -1,
                  offset: int = -1, received_at: Optional[float] = None) -> AnalysisRequest:
    """Validate one request; raise InvalidRequest with a code, a reason and the payload."""
    if raw is None:
        raise InvalidRequest(codes.INVALID_REQUEST, "empty message (null value)", {"raw": None})
    if len(raw) > max_bytes:
        raise InvalidRequest(
            codes.PAYLOAD_TOO_LARGE,
            f"payload is {len(raw)} bytes, the limit is {max_bytes} "
            f"(BIFROST_MAX_REQUEST_BYTES); the whole message stays at {topic}/{partition}@{offset}",
            {"raw": _excerpt(raw), "truncated": True, "size_bytes": len(raw),
             "sha256": hashlib.sha256(raw).hexdigest()})
    document = _decode(raw)
    _, job_id = _first(document, "job_id", "request_id", "requestId")
    _, trace_id = _first(document, "trace_id", "correlation_id", "correlationId")
    idempotency_key = document.get("idempotency_key")
    ids = dict(zip(("job_id", "idempotency_key", "trace_id"),
                   dlq_ids(job_id, idempotency_key, trace_id)))
    try:
        return _build(document, job_id, trace_id, idempotency_key, topic, partition,
                      offset, time.time() if received_at is None else received_at)
    except ValueError as exc:
        code = getattr(exc, "code", codes.INVALID_REQUEST)
        raise InvalidRequest(code, str(exc), document, **ids) from None


class _UnsupportedVersion(ValueError):
    code = codes.UNSUPPORTED_SCHEMA_VERSION


def _build(document: Dict[str, Any], job_id: Any, trace_id: Any,
           idempotency_key: Any, topic: str, partition: int, offset: int,
           received_at: float) -> AnalysisRequest:
    version = _optional_int("schema_version", document.get("schema_version"))
    if version is not None and version != SCHEMA_VERSION:
        raise _UnsupportedVersion(f"schema_version {version} is not supported "
                                  f"(this worker reads {SCHEMA_VERSION})")
    if job_id is None:
        raise ValueError("job_id is required (or request_id / requestId)")
    job_id = _string("job_id", job_id, MAX_ID_CHARS)
    log_id = _optional_int("log_id", document.get("log_id"))
    log_content = document.get("log_content")
    if log_content is not None:
        form = "inline"
        log_content = _log_text(log_content)
        # Legacy producers send no key: the job id is what stays stable across redeliveries,
        # and it is the message key, so such a request needs no re-keying (agents/intake.py).
        key = (_string("idempotency_key", idempotency_key, MAX_ID_CHARS)
               if idempotency_key is not None else job_id)
        trace = _string("trace_id", trace_id, MAX_ID_CHARS) if trace_id is not None else job_id
    else:
        form = "job"
        if idempotency_key is None:
            raise ValueError("idempotency_key is required in the job form")
        key = _string("idempotency_key", idempotency_key, MAX_ID_CHARS)
        if log_id is None:
            raise ValueError("log_id is required when log_content is absent")
        if trace_id is None:
            raise ValueError("trace_id is required (or correlation_id / correlationId)")
        trace = _string("trace_id", trace_id, MAX_ID_CHARS)
    model_policy = document.get("model_policy")
    if model_policy is not None and not isinstance(model_policy, dict):
        raise ValueError(f"model_policy must be an object, got {type(model_policy).__name__}")
    return AnalysisRequest(
        job_id=job_id,
        idempotency_key=key,
        trace_id=trace,
        form=form,
        log_id=log_id,
        log_content=log_content,
        service_name=_optional_string("service_name", document.get("service_name")),
        environment=_optional_string("environment", document.get("environment")),
        tenant_id=_optional_string("tenant_id", document.get("tenant_id")),
        priority=_optional_string("priority", document.get("priority"), 32),
        timeout_ms=_optional_int("timeout_ms", document.get("timeout_ms"), low=0),
        model_policy=model_policy,
        timestamp=_optional_string("timestamp", document.get("timestamp"), 64),
        context=_context(document.get("context")),
        original_topic=topic,
        original_partition=partition,
        original_offset=offset,
        received_at=received_at,
        # log_content travels once, in its own field; dlq_payload() puts it back.
        payload={k: v for k, v in document.items() if k != "log_content"},
    )


def _context(value: Any) -> Optional[List[str]]:
    """The lines before the entry, as our ingestion sends them: the last CONTEXT_LINES
    strings, each cut to CONTEXT_LINE_CHARS. Advisory, so anything else is ignored rather
    than refused: a request is not lost for its context."""
    if not isinstance(value, list):
        return None
    lines = [without_lone_surrogates(line[:CONTEXT_LINE_CHARS]) for line in value
             if isinstance(line, str)][-CONTEXT_LINES:]
    return lines or None


def dlq_payload(request: AnalysisRequest) -> Dict[str, Any]:
    """The original request document, as a DLQ event carries it."""
    payload = dict(request.payload or {})
    if request.log_content is not None:
        payload["log_content"] = request.log_content
    return payload
