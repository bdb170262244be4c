"""Log entries -> analysis requests in the legacy inline form (../shared/CONTRACT.md).

Pure: no Kafka. The inline form's idempotency key is its request_id, so the id is derived
from where the entry came from (a Kinesis shard and sequence number, a Kafka offset, a file
and line): reading the same record twice yields the same job, which the pipeline's jobs table
answers once. A random id here would turn every re-read into a second analysis.

Also the envelope the Kinesis source puts on logs.ingestion: the record's text plus its
origin, so the agent can name the job after the Kinesis record rather than the Kafka offset
(a record forwarded twice sits at two offsets).
"""
from __future__ import annotations

import json
import uuid
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

from ..analysis.prompt_budget import CONTEXT_LINE_CHARS, CONTEXT_LINES
from .logparse import LogEntry, iter_payload, keep

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/bifrost-streams/ingestion")
ENVELOPE = "bifrost.ingestion.v1"
# Room for every field but log_content; what a request may not exceed is
# BIFROST_MAX_REQUEST_BYTES, or intake would send it to the DLQ as PAYLOAD_TOO_LARGE.
TRUNCATED = "\n... [truncated by bifrost ingestion: {} more characters]"


def request_id(origin: str, index: int = 0) -> str:
    """The job id of entry `index` of the record at `origin`: the same on every read."""
    return str(uuid.uuid5(NAMESPACE, f"{origin}#{index}"))


class Before:
    """The entries a splitter saw before the current one: the model reads them as context."""

    def __init__(self) -> None:
        self.lines: Deque[str] = deque(maxlen=CONTEXT_LINES)

    def saw(self, text: str) -> None:
        # Cut first: an entry can be a long stack trace, and only its first line is kept.
        self.lines.append(text[:CONTEXT_LINE_CHARS].split("\n", 1)[0])

    def context(self) -> List[str]:
        return list(self.lines)


def inline_request(entry: LogEntry, job_id: str, result_topic: str, max_bytes: int,
                   origin: str, received: Optional[str] = None,
                   context: Optional[List[str]] = None) -> Dict[str, Any]:
    """The inline request for one entry, at most `max_bytes` once encoded as JSON. `context`:
    the first lines of the entries before it (dropped first when the request is too big)."""
    request = {
        "request_id": job_id,
        "timestamp": entry.timestamp or received,
        "log_content": entry.text,
        "service_name": entry.service,
        "environment": entry.environment,
        "analysis_type": "error",
        "priority": entry.level,
        "callback_topic": result_topic,
        "correlation_id": entry.trace_id or job_id,
        # Unknown to the contract and ignored by intake; kept for whoever reads the topic.
        "origin": origin,
    }
    if context:
        request["context"] = context
    excess = len(encode(request)) - max_bytes
    if excess > 0 and context:
        del request["context"]
        excess = len(encode(request)) - max_bytes
    if excess > 0:
        text = entry.text
        while excess > 0 and text:
            # A character costs 1 to 12 bytes once JSON-escaped: cut in proportion to what
            # the text costs now, with some slack for the marker.
            cost = len(json.dumps(text))
            keep = int(len(text) * max(0, cost - excess - 128) / cost)
            text = text[:min(keep, len(text) - 1)]
            request["log_content"] = text + TRUNCATED.format(len(entry.text) - len(text))
            excess = len(encode(request)) - max_bytes
    return request


def encode(document: Dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def envelope(origin: str, data: str, arrived_at: Optional[str] = None) -> bytes:
    return encode({"envelope": ENVELOPE, "origin": origin, "data": data,
                   "arrived_at": arrived_at})


def open_envelope(raw: bytes) -> Optional[Dict[str, Any]]:
    """The envelope's fields, or None when `raw` is a log record sent by someone else."""
    if not raw.startswith(b'{"envelope"'):
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if document.get("envelope") != ENVELOPE or not isinstance(document.get("origin"), str) \
            or not isinstance(document.get("data"), str):
        return None
    return document


def from_message(raw: Optional[bytes], fallback_origin: str, levels, result_topic: str,
                 max_bytes: int) -> tuple:
    """The (job id, request) pairs one logs.ingestion message yields, and how many of its
    entries the level filter dropped. `fallback_origin` names a message that is not our
    envelope (its Kafka topic/partition/offset: stable across redeliveries)."""
    pairs, dropped = [], 0
    for pair in iter_requests(raw, fallback_origin, levels, result_topic, max_bytes):
        if pair is None:
            dropped += 1
        else:
            pairs.append(pair)
    return pairs, dropped


def iter_requests(raw: Optional[bytes], fallback_origin: str, levels, result_topic: str,
                  max_bytes: int) -> Iterator[Optional[Tuple[str, Dict[str, Any]]]]:
    """from_message, one entry at a time: its (job id, request), or None when the level
    filter drops it. One message can hold many thousands of entries; the agent gives the
    event loop a turn between them."""
    if raw is None:
        return
    opened = open_envelope(raw)
    if opened is not None:
        origin, text, received = opened["origin"], opened["data"], opened.get("arrived_at")
    else:
        origin, text, received = fallback_origin, raw.decode("utf-8", errors="replace"), None
    before = Before()
    for index, entry in enumerate(iter_payload(text)):
        if not keep(entry, levels):
            before.saw(entry.text)
            yield None
            continue
        job_id = request_id(origin, index)
        yield job_id, inline_request(entry, job_id, result_topic, max_bytes, origin, received,
                                     before.context())
        before.saw(entry.text)
