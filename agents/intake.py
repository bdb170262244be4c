"""Where a request enters: analysis.request as raw bytes.

Validates each message into an AnalysisRequest and forwards it, keyed by its idempotency key,
to the job stream that the jobs table is co-partitioned with. A message that cannot be parsed
becomes exactly one dlq.failed event; the agent never stops on bad input.
"""
from __future__ import annotations

import structlog

from agents.analysis import jobs_topic
from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.outcomes import publish_invalid_dlq, send_json
from bifrost_streams.validation import InvalidRequest, parse_request

log = structlog.get_logger("bifrost.intake")

request_topic = app.topic(settings.request_topic, key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw")


@app.agent(request_topic)
async def intake(stream):
    async for event in stream.events():
        message = event.message
        try:
            request = parse_request(event.value, max_bytes=settings.max_request_bytes,
                                    topic=message.topic, partition=message.partition,
                                    offset=message.offset)
        except InvalidRequest as error:
            metrics.REQUESTS.labels("invalid").inc()
            await publish_invalid_dlq(error, message.topic, message.partition, message.offset)
            continue
        metrics.REQUESTS.labels(request.form).inc()
        await send_json(jobs_topic.get_topic_name(), request.idempotency_key, request.asdict())
