"""The logs.ingestion agent: raw log records in, inline analysis requests out.

Each message is either the Kinesis source's envelope (agents/kinesis_source.py) or a log
record someone else produced (a Fluent Bit JSON record, plain lines). Its entries are parsed
(bifrost_streams/logparse.py); those at a level in BIFROST_INGEST_LEVELS become inline
requests on the request topic, keyed by their job id, which intake then analyses on that very
partition. Job ids are derived from the record's origin, so a record read twice (a Kinesis
re-read, a redelivery of this topic) is one job, answered once by the jobs table.
"""
from __future__ import annotations

from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.batching import BATCH_MAX, BATCH_WITHIN, hold, release, set_current_event
from bifrost_streams.ingest_requests import encode, from_message
from bifrost_streams.outcomes import send_bytes

ingestion_topic = app.topic(settings.ingestion_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")


@app.agent(ingestion_topic)
async def ingest(stream):
    # In batches, each event acknowledged once its requests are on the producer: Faust never
    # acknowledged the events of `async for event in stream.events()` here, so this topic's
    # offsets were never committed and a new worker skipped what had not been read.
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        hold(events)
        try:
            for event in events:
                set_current_event(event)  # the requests are this event's outputs
                await _ingest(event)
                await release(stream, event)
        finally:
            set_current_event(None)


async def _ingest(event) -> None:
    message = event.message
    pairs, dropped = from_message(
        event.value, f"kafka:{message.topic}/{message.partition}/{message.offset}",
        settings.ingest_levels, settings.result_topic, settings.max_request_bytes)
    # Not awaited one by one: the worker flushes the producer before it commits this
    # message's offset, so a crash before delivery redelivers the message.
    for job_id, request in pairs:
        await send_bytes(settings.request_topic, job_id, encode(request))
    metrics.INGESTED.labels("kept").inc(len(pairs))
    metrics.INGESTED.labels("filtered").inc(dropped)
