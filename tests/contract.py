"""Checks of ../shared/CONTRACT.md as strictly as Heimdall's Jackson reads it: exact field sets
(an unknown top-level field makes it throw), JSON types (no NaN, no bool for a number, Java
int and long ranges), UUIDs as Jackson parses them, timestamp formats, and message keys."""
from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Dict, Optional, Union

RESULT_FIELDS = {"schema_version", "job_id", "status", "summary", "root_cause", "recommendation",
                 "severity", "confidence", "model_used", "token_usage", "latency_ms",
                 "error_code", "error_message", "trace_id", "log_id", "timestamp", "result"}
DLQ_FIELDS = {"schema_version", "job_id", "idempotency_key", "error_code", "error_message",
              "trace_id", "original_topic", "original_partition", "original_offset",
              "failed_at", "payload"}
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
RESULT_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DLQ_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
INT = (-2**31, 2**31 - 1)
LONG = (-2**63, 2**63 - 1)


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON: Jackson refuses it")


def strict_json(raw: bytes) -> Any:
    """Parse what was published as Jackson's default parser would: UTF-8, no NaN/Infinity."""
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)


def _is_int(value: Any, bounds=LONG) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and \
        bounds[0] <= value <= bounds[1]


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and UUID.fullmatch(value) is not None


def _optional_str(doc: Dict[str, Any], name: str) -> None:
    assert doc[name] is None or isinstance(doc[name], str), (name, doc[name])


def _time(value: Any, pattern: re.Pattern, layout: str) -> None:
    assert isinstance(value, str) and pattern.fullmatch(value), value
    datetime.strptime(value, layout)  # a real date: Jackson refuses month 13


def check_result(doc: Dict[str, Any]) -> None:
    assert set(doc) == RESULT_FIELDS, f"fields differ: {set(doc) ^ RESULT_FIELDS}"
    assert doc["schema_version"] == 1 and _is_int(doc["schema_version"], INT)
    assert _is_uuid(doc["job_id"]), f"job_id is not a UUID: {doc['job_id']!r}"
    assert doc["status"] in ("SUCCEEDED", "FAILED")
    _time(doc["timestamp"], RESULT_TS, "%Y-%m-%dT%H:%M:%SZ")
    assert _is_int(doc["latency_ms"]) and doc["latency_ms"] >= 0
    usage = doc["token_usage"]
    assert isinstance(usage, dict)
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert all(_is_int(v, INT) and v >= 0 for v in usage.values())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert isinstance(doc["trace_id"], str)
    assert doc["log_id"] is None or _is_int(doc["log_id"])
    for name in ("summary", "root_cause", "recommendation", "model_used", "error_code",
                 "error_message", "severity"):
        _optional_str(doc, name)
    assert doc["confidence"] is None or (isinstance(doc["confidence"], (int, float))
                                         and not isinstance(doc["confidence"], bool))
    assert isinstance(doc["result"], dict)
    if doc["status"] == "SUCCEEDED":
        for name in ("summary", "root_cause", "recommendation", "model_used"):
            assert isinstance(doc[name], str) and doc[name], name
        assert doc["severity"] in SEVERITIES, doc["severity"]
        confidence = doc["confidence"]
        assert isinstance(confidence, (int, float)) and 0 <= confidence <= 1, confidence
        # Heimdall's column holds two decimals: 0.825 would not fit.
        assert Decimal(repr(confidence)).as_tuple().exponent >= -2, confidence
        assert doc["error_code"] is None and doc["error_message"] is None
    else:
        assert doc["severity"] is None or doc["severity"] in SEVERITIES
        assert isinstance(doc["error_code"], str) and doc["error_code"]
        assert isinstance(doc["error_message"], str) and doc["error_message"]


def check_dlq(doc: Dict[str, Any]) -> None:
    assert set(doc) == DLQ_FIELDS, f"fields differ: {set(doc) ^ DLQ_FIELDS}"
    assert doc["schema_version"] == 1 and _is_int(doc["schema_version"], INT)
    assert doc["job_id"] is None or _is_uuid(doc["job_id"]), \
        f"job_id is neither a UUID nor null: {doc['job_id']!r}"
    for name in ("idempotency_key", "error_code", "trace_id"):
        _optional_str(doc, name)
    assert doc["idempotency_key"] is None or len(doc["idempotency_key"]) <= 200
    assert isinstance(doc["error_message"], str) and doc["error_message"]
    assert isinstance(doc["original_topic"], str) and doc["original_topic"]
    assert _is_int(doc["original_partition"], INT) and doc["original_partition"] >= 0
    assert _is_int(doc["original_offset"]) and doc["original_offset"] >= 0
    _time(doc["failed_at"], DLQ_TS, "%Y-%m-%dT%H:%M:%S.%f")
    assert isinstance(doc["payload"], dict)


def dlq_key(doc: Dict[str, Any]) -> Optional[str]:
    return doc["job_id"] or doc["idempotency_key"]


def _text(key: Optional[Union[str, bytes]]) -> Optional[str]:
    return key.decode() if isinstance(key, bytes) else key


def check_result_message(key: Optional[Union[str, bytes]], raw: bytes) -> Dict[str, Any]:
    """A message on analysis.result: keyed by its job_id."""
    doc = strict_json(raw)
    check_result(doc)
    assert _text(key) == doc["job_id"], (key, doc["job_id"])
    return doc


def check_dlq_message(key: Optional[Union[str, bytes]], raw: bytes) -> Dict[str, Any]:
    """A message on dlq.failed: keyed by job_id, else idempotency_key, else no key."""
    doc = strict_json(raw)
    check_dlq(doc)
    expected = dlq_key(doc)
    assert (_text(key) or None) == expected, (key, expected)
    return doc
