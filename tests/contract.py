"""Checks of ../shared/CONTRACT.md: exact field sets, types and timestamp formats."""
from __future__ import annotations

import re
from typing import Any, Dict

RESULT_FIELDS = {"schema_version", "job_id", "status", "summary", "root_cause", "recommendation",
                 "severity", "confidence", "model_used", "token_usage", "latency_ms",
                 "error_code", "error_message", "trace_id", "log_id", "timestamp", "result"}
DLQ_FIELDS = {"schema_version", "job_id", "idempotency_key", "error_code", "error_message",
              "trace_id", "original_topic", "original_partition", "original_offset",
              "failed_at", "payload"}
RESULT_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DLQ_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_result(doc: Dict[str, Any]) -> None:
    assert set(doc) == RESULT_FIELDS, f"fields differ: {set(doc) ^ RESULT_FIELDS}"
    assert doc["schema_version"] == 1
    assert isinstance(doc["job_id"], str) and doc["job_id"]
    assert doc["status"] in ("SUCCEEDED", "FAILED")
    assert RESULT_TS.match(doc["timestamp"]), doc["timestamp"]
    assert _is_int(doc["latency_ms"]) and doc["latency_ms"] >= 0
    usage = doc["token_usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert all(_is_int(v) and v >= 0 for v in usage.values())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert isinstance(doc["trace_id"], str)
    assert doc["log_id"] is None or _is_int(doc["log_id"])
    assert isinstance(doc["result"], dict)
    if doc["status"] == "SUCCEEDED":
        for name in ("summary", "root_cause", "recommendation", "model_used"):
            assert isinstance(doc[name], str) and doc[name], name
        assert doc["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
        assert isinstance(doc["confidence"], (int, float)) and 0 <= doc["confidence"] <= 1
        assert round(doc["confidence"], 2) == doc["confidence"]
        assert doc["error_code"] is None and doc["error_message"] is None
    else:
        assert isinstance(doc["error_code"], str) and doc["error_code"]
        assert isinstance(doc["error_message"], str) and doc["error_message"]


def check_dlq(doc: Dict[str, Any]) -> None:
    assert set(doc) == DLQ_FIELDS, f"fields differ: {set(doc) ^ DLQ_FIELDS}"
    assert doc["schema_version"] == 1
    assert doc["job_id"] is None or isinstance(doc["job_id"], str)
    for name in ("idempotency_key", "error_code", "trace_id"):
        assert doc[name] is None or isinstance(doc[name], str), name
    assert isinstance(doc["error_message"], str) and doc["error_message"]
    assert isinstance(doc["original_topic"], str) and doc["original_topic"]
    assert _is_int(doc["original_partition"]) and doc["original_partition"] >= 0
    assert _is_int(doc["original_offset"]) and doc["original_offset"] >= 0
    assert DLQ_TS.match(doc["failed_at"]), doc["failed_at"]
    assert isinstance(doc["payload"], dict)
