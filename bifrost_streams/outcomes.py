"""Where results leave: analysis.result and dlq.failed, exactly in Heimdall's wire format.

Everything beyond the contract's fields goes inside `result`; never add a top-level field.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional, Tuple

import structlog
from faust.streams import current_event

from . import kafka_transport, metrics, recent
from .alerts.rule import AlertRule
from .app import app, settings
from .providers.base import Answer
from .records import (SCHEMA_VERSION, STATUS_FAILED, STATUS_SUCCEEDED, AnalysisRequest,
                      AnalysisResult, DlqEvent, dlq_timestamp, result_timestamp, zero_usage)
from .validation import InvalidRequest, dlq_ids, dlq_payload
from tables import dead_letters

log = structlog.get_logger("bifrost.outcomes")

# Kafka header on a request re-published from the DLQ: which redrive it is. Heimdall uses no
# headers, so the request itself stays exactly what was received.
REDRIVE_HEADER = "bifrost-redrive"

async def send_json(topic: str, key: Optional[str], value: Dict[str, Any]) -> None:
    await send_bytes(topic, key, encode(value))


async def send_bytes(topic: str, key: Optional[str], value: bytes,
                     headers: Optional[List[Tuple[str, bytes]]] = None) -> None:
    """Send one message that the current event (if any) produced.

    Straight to the producer rather than through Topic.send: on the cache path Faust's
    channel machinery (future wrappers, codec registry, sensors) cost more than the work.
    The worker flushes this producer before it commits offsets, and a failed delivery stops
    it first (kafka_transport.py). Exactly once, an event's outputs wait in the outbox for the
    transaction that commits the event.
    """
    raw_key = key.encode() if key is not None else None
    if app.in_transaction:
        event = current_event()
        if event is not None:
            message = event.message
            if not kafka_transport.outbox.add(
                    message, app.consumer_generation_id,
                    app.consumer._committed_offset[message.tp], topic, raw_key, value,
                    headers):
                log.info("output_dropped", topic=topic, partition=message.partition,
                         offset=message.offset, reason="a second delivery of its event")
            return
    delivery = await app.producer.send(topic, raw_key, value, partition=None, timestamp=None,
                                       headers=headers)
    kafka_transport.deliveries.watch(delivery)


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
        result={**extra, **answer.extra, "provider": answer.provider, "cache_hit": cache_hit,
                "model_latency_ms": 0 if cache_hit else answer.latency_ms},
    )


def failed(request: AnalysisRequest, code: str, message: str,
           extra: Dict[str, Any]) -> AnalysisResult:
    return AnalysisResult(
        schema_version=SCHEMA_VERSION, job_id=request.job_id, status=STATUS_FAILED,
        summary=None, root_cause=None, recommendation=None, severity=None, confidence=None,
        model_used=None, token_usage=zero_usage(), latency_ms=_elapsed_ms(request),
        error_code=code, error_message=message, trace_id=request.trace_id,
        log_id=request.log_id, timestamp=result_timestamp(), result=extra,
    )


alert_rule = AlertRule(settings.alert_severities, settings.alert_template_threshold,
                       settings.public_base_url, settings.slack_webhook_url)


async def publish_result(result: Dict[str, Any], encoded: Optional[bytes] = None) -> None:
    """Publish a result (as stored in the jobs table) keyed by job_id; `encoded` is its JSON
    when the caller has it already (a new result is encoded once, for the table and here)."""
    await send_bytes(settings.result_topic, result["job_id"], encoded or encode(result))
    if (alert := alert_rule.check(result)) is not None:
        await send_json(settings.alert_topic, alert_rule.key, alert)
    metrics.RESULTS.labels(result["status"]).inc()
    recent.remember(result)


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


async def publish_job_dlq(request: AnalysisRequest, code: str, message: str) -> None:
    await _publish_dlq(request.redrive, job_dlq_event(request, code, message))


async def publish_invalid_dlq(error: InvalidRequest, topic: str, partition: int,
                              offset: int, redrive: int = 0) -> None:
    await _publish_dlq(redrive, invalid_dlq_event(error, topic, partition, offset))


def dlq_key(event: DlqEvent) -> Optional[str]:
    """The contract's message key: job_id, else idempotency_key, else none."""
    return event.job_id or event.idempotency_key


async def _publish_dlq(redrive: int, event: DlqEvent) -> None:
    """Called while the failing event is processed: the dead-letters table keeps it."""
    await send_json(settings.dlq_topic, dlq_key(event), event.asdict())
    dead_letters.record(event, redrive)
    metrics.DLQ_EVENTS.labels(event.error_code or "UNKNOWN").inc()
    log.warning("dlq_event", error_code=event.error_code, error_message=event.error_message,
                job_id=event.job_id, original_partition=event.original_partition,
                original_offset=event.original_offset)
