"""Heimdall's wire records built from a request: a result (succeeded or failed) and a
dlq.failed event, exactly as the contract has them.

Everything beyond the contract's fields goes inside `result`; never add a top-level field.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, Optional

from .families import UNKNOWN
from .providers.base import Answer
from .records import (SCHEMA_VERSION, STATUS_FAILED, STATUS_SUCCEEDED, AnalysisRequest,
                      AnalysisResult, DlqEvent, dlq_timestamp, result_timestamp, zero_usage)
from .validation import InvalidRequest, dlq_ids, dlq_payload


def encode(value: Dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _elapsed_ms(request: AnalysisRequest) -> int:
    return max(0, int((time.time() - request.received_at) * 1000))


def succeeded(request: AnalysisRequest, answer: Answer, extra: Dict[str, Any],
              cache_hit: bool) -> AnalysisResult:
    return AnalysisResult(
        schema_version=SCHEMA_VERSION, job_id=request.job_id, status=STATUS_SUCCEEDED,
        summary=answer.summary, root_cause=answer.root_cause,
        recommendation=answer.recommendation, severity=answer.severity,
        confidence=round(answer.confidence, 2), model_used=answer.model,
        token_usage=zero_usage() if cache_hit else answer.token_usage,
        latency_ms=_elapsed_ms(request), error_code=None, error_message=None,
        trace_id=request.trace_id, log_id=request.log_id, timestamp=result_timestamp(),
        result={**extra, **answer.extra, "category": answer.category,
                "provider": answer.provider, "cache_hit": cache_hit,
                "model_latency_ms": 0 if cache_hit else answer.latency_ms},
    )


def failed(request: AnalysisRequest, code: str, message: str,
           extra: Dict[str, Any]) -> AnalysisResult:
    return AnalysisResult(
        schema_version=SCHEMA_VERSION, job_id=request.job_id, status=STATUS_FAILED,
        summary=None, root_cause=None, recommendation=None, severity=None, confidence=None,
        model_used=None, token_usage=zero_usage(), latency_ms=_elapsed_ms(request),
        error_code=code, error_message=message, trace_id=request.trace_id,
        log_id=request.log_id, timestamp=result_timestamp(),
        # No analysis, no family; the field is there all the same, for filters and counts.
        result={**extra, "category": UNKNOWN},
    )


def job_dlq_event(request: AnalysisRequest, code: str, message: str) -> DlqEvent:
    # A valid request may carry a job id that is no UUID: the event's job_id must be one or
    # null (Heimdall's Jackson refuses anything else); the payload keeps the raw value.
    job_id, key, trace_id = dlq_ids(request.job_id, request.idempotency_key, request.trace_id)
    return DlqEvent(
        schema_version=SCHEMA_VERSION, job_id=job_id, idempotency_key=key, error_code=code,
        error_message=message, trace_id=trace_id, original_topic=request.original_topic,
        original_partition=request.original_partition,
        original_offset=request.original_offset, failed_at=dlq_timestamp(),
        payload=dlq_payload(request))


def invalid_dlq_event(error: InvalidRequest, topic: str, partition: int,
                      offset: int) -> DlqEvent:
    return DlqEvent(
        schema_version=SCHEMA_VERSION, job_id=error.job_id,
        idempotency_key=error.idempotency_key, error_code=error.code,
        error_message=error.message, trace_id=error.trace_id, original_topic=topic,
        original_partition=partition, original_offset=offset, failed_at=dlq_timestamp(),
        payload=error.payload)


def dlq_key(event: DlqEvent) -> Optional[str]:
    """The contract's message key: job_id, else idempotency_key, else none."""
    return event.job_id or event.idempotency_key
