"""Where a request enters: analysis.request as raw bytes.

Validates each message into an AnalysisRequest. The jobs table is partitioned by idempotency
key: a request already on its key's partition (the legacy inline form, keyed by its job id,
which is also its idempotency key) is analysed here; any other is forwarded, keyed by its
idempotency key, to the job stream that lands it there. A message that cannot be parsed
becomes exactly one dlq.failed event; the agent never stops on bad input.
"""
from __future__ import annotations

from typing import Optional

import structlog

from agents.analysis import analyse_batch, jobs_topic
from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.kafka.batching import BATCH_MAX, BATCH_WITHIN, hold, release, set_current_event
from bifrost_streams.outcomes import REDRIVE_HEADER, publish_invalid_dlq, send_json
from bifrost_streams.kafka.topics import key_partition
from bifrost_streams.records import AnalysisRequest
from bifrost_streams.validation import InvalidRequest, parse_request
from tables import job_ids

log = structlog.get_logger("bifrost.intake")

request_topic = app.topic(settings.request_topic, key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw")


@app.agent(request_topic)
async def intake(stream):
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        hold(events)
        here = []
        try:
            for event in events:
                set_current_event(event)
                request = await _accept(event)
                if request is None:
                    await release(stream, event)  # its DLQ event is out
                    continue
                # The request topic and the job stream have one partition count (kafka/topics.py),
                # and a worker owns the same partition numbers of both.
                partitions = app.conf.topic_partitions
                partition = event.message.partition
                if (request.idempotency_key != request.job_id
                        and key_partition(request.job_id, partitions) == partition):
                    job_ids.remember(request.job_id, request.idempotency_key)
                if key_partition(request.idempotency_key, partitions) == partition:
                    here.append((event, request))
                else:
                    await send_json(jobs_topic.get_topic_name(), request.idempotency_key,
                                    request.asdict())
                    await release(stream, event)
        finally:
            set_current_event(None)
        await analyse_batch(stream, here)


async def _accept(event) -> Optional[AnalysisRequest]:
    message = event.message
    redrive = redrive_of(message.headers)
    try:
        request = parse_request(event.value, max_bytes=settings.max_request_bytes,
                                topic=message.topic, partition=message.partition,
                                offset=message.offset)
    except InvalidRequest as error:
        metrics.REQUESTS.labels("invalid").inc()
        await publish_invalid_dlq(error, message.topic, message.partition, message.offset,
                                  redrive)
        return None
    metrics.REQUESTS.labels(request.form).inc()
    request.redrive = redrive
    return request


def redrive_of(headers) -> int:
    """The attempt a redrive from the DLQ stamped on the message (web/dlq.py), else 0."""
    if not headers:
        return 0
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        if name == REDRIVE_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return 0
    return 0
