"""The typed records that travel on Kafka.

AnalysisResult and DlqEvent are Heimdall's wire format (../shared/CONTRACT.md): exactly those
fields, no Faust metadata, because Heimdall's Jackson mapper rejects unknown properties.
AnalysisRequest is the validated request, both forms, as it travels on our internal topic.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import faust

SCHEMA_VERSION = 1
STATUS_SUCCEEDED = "SUCCEEDED"
STATUS_FAILED = "FAILED"


def result_timestamp(at: Optional[float] = None) -> str:
    """Contract format for analysis.result: yyyy-MM-dd'T'HH:mm:ss'Z' in UTC."""
    moment = datetime.fromtimestamp(at, timezone.utc) if at else datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dlq_timestamp(at: Optional[float] = None) -> str:
    """Contract format for dlq.failed: a local date-time with 'T' and milliseconds, no zone."""
    moment = datetime.fromtimestamp(at, timezone.utc) if at else datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class AnalysisRequest(faust.Record, include_metadata=False, serializer="json"):
    """A request that passed validation, in either form, with where it came from."""

    job_id: str
    idempotency_key: str
    trace_id: str
    form: str  # "job" (log text in Postgres) or "inline" (log text in the message)
    log_id: Optional[int] = None
    log_content: Optional[str] = None
    service_name: Optional[str] = None
    environment: Optional[str] = None
    tenant_id: Optional[str] = None
    priority: Optional[str] = None
    timeout_ms: Optional[int] = None
    model_policy: Optional[Dict[str, Any]] = None
    timestamp: Optional[str] = None
    original_topic: str = ""
    original_partition: int = -1
    original_offset: int = -1
    received_at: float = 0.0
    payload: Optional[Dict[str, Any]] = None  # the request as received, for the DLQ
    redrive: int = 0  # which redrive from the DLQ this is (0: none)
    # The lines logged just before the entry, when the ingestion that split it sent them.
    context: Optional[List[str]] = None


class AnalysisResult(faust.Record, include_metadata=False, serializer="json"):
    schema_version: int
    job_id: str
    status: str
    summary: Optional[str]
    root_cause: Optional[str]
    recommendation: Optional[str]
    severity: Optional[str]
    confidence: Optional[float]
    model_used: Optional[str]
    token_usage: Dict[str, int]
    latency_ms: int
    error_code: Optional[str]
    error_message: Optional[str]
    trace_id: Optional[str]
    log_id: Optional[int]
    timestamp: str
    result: Dict[str, Any]


class DlqEvent(faust.Record, include_metadata=False, serializer="json"):
    schema_version: int
    job_id: Optional[str]
    idempotency_key: Optional[str]
    error_code: Optional[str]
    error_message: str
    trace_id: Optional[str]
    original_topic: str
    original_partition: int
    original_offset: int
    failed_at: str
    payload: Dict[str, Any]


def zero_usage() -> Dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
