"""Where results leave: analysis.result and dlq.failed (built by wire.py), and the alerts a
result raises.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import structlog
from faust.streams import current_event

from . import metrics, recent
from .kafka import transport
from .alerts.rule import AlertRule
from .app import app, settings
from .families import family_of
from .records import STATUS_SUCCEEDED, AnalysisRequest, DlqEvent
from .validation import InvalidRequest
from .wire import dlq_key, encode, invalid_dlq_event, job_dlq_event
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
    it first (kafka/transport.py). Exactly once, an event's outputs wait in the outbox for the
    transaction that commits the event.
    """
    raw_key = key.encode() if key is not None else None
    if app.in_transaction:
        event = current_event()
        if event is not None:
            message = event.message
            if not transport.outbox.add(
                    message, app.consumer_generation_id,
                    transport.committed_offset(app.consumer, message.tp), topic, raw_key,
                    value, headers):
                log.info("output_dropped", topic=topic, partition=message.partition,
                         offset=message.offset, reason="a second delivery of its event")
            return
    delivery = await app.producer.send(topic, raw_key, value, partition=None, timestamp=None,
                                       headers=headers)
    transport.deliveries.watch(delivery)


alert_rule = AlertRule(settings.alert_severities, settings.alert_template_threshold,
                       settings.public_base_url, settings.slack_webhook_url)


async def publish_result(result: Dict[str, Any], encoded: Optional[bytes] = None) -> None:
    """Publish a result (as stored in the jobs table) keyed by job_id; `encoded` is its JSON
    when the caller has it already (a new result is encoded once, for the table and here)."""
    await send_bytes(settings.result_topic, result["job_id"], encoded or encode(result))
    if (alert := alert_rule.check(result)) is not None:
        await send_json(settings.alert_topic, alert_rule.key, alert)
    metrics.RESULTS.labels(result["status"]).inc()
    if result["status"] == STATUS_SUCCEEDED:  # a failed job was not analysed: no family
        metrics.RESULTS_BY_FAMILY.labels(family_of(result["result"].get("category"))).inc()
    recent.remember(result)


async def publish_job_dlq(request: AnalysisRequest, code: str, message: str) -> None:
    await _publish_dlq(request.redrive, job_dlq_event(request, code, message))


async def publish_invalid_dlq(error: InvalidRequest, topic: str, partition: int,
                              offset: int, redrive: int = 0) -> None:
    await _publish_dlq(redrive, invalid_dlq_event(error, topic, partition, offset))


async def _publish_dlq(redrive: int, event: DlqEvent) -> None:
    """Called while the failing event is processed: the dead-letters table keeps it."""
    await send_json(settings.dlq_topic, dlq_key(event), event.asdict())
    dead_letters.record(event, redrive)
    metrics.DLQ_EVENTS.labels(event.error_code or "UNKNOWN").inc()
    log.warning("dlq_event", error_code=event.error_code, error_message=event.error_message,
                job_id=event.job_id, original_partition=event.original_partition,
                original_offset=event.original_offset)
