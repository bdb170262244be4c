"""The logs.ingestion agent: raw log records in, inline analysis requests out.

Each message is either the Kinesis source's envelope (agents/kinesis_source.py) or a log
record someone else produced (a Fluent Bit JSON record, plain lines). Its entries are parsed
(bifrost_streams/ingestion/logparse.py); those at a level in BIFROST_INGEST_LEVELS become
inline requests on the request topic, keyed by their job id, which intake then analyses on
that very partition. Job ids are derived from the record's origin, so a record read twice (a
Kinesis re-read, a redelivery of this topic) is one job, answered once by the jobs table.
"""
from __future__ import annotations

import asyncio

from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.kafka.batching import BATCH_MAX, BATCH_WITHIN, hold, release, set_current_event
from bifrost_streams.ingestion.ingest_requests import encode, iter_requests
from bifrost_streams.outcomes import send_bytes

# Entries parsed between two turns of the event loop: a few milliseconds of work.
ENTRIES_PER_TURN = 500

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
    kept = dropped = 0
    entries = iter_requests(
        event.value, f"kafka:{message.topic}/{message.partition}/{message.offset}",
        settings.ingest_levels, settings.result_topic, settings.max_request_bytes)
    for index, pair in enumerate(entries, 1):
        if index % ENTRIES_PER_TURN == 0:
            # A message of a hundred thousand short lines is seconds of parsing: in turns,
            # the worker goes on heart-beating and serving the other events meanwhile.
            await asyncio.sleep(0)
        if pair is None:
            dropped += 1
            continue
        # Not awaited one by one: the worker flushes the producer before it commits this
        # message's offset, so a crash before delivery redelivers the message.
        await send_bytes(settings.request_topic, pair[0], encode(pair[1]))
        kept += 1
    metrics.INGESTED.labels("kept").inc(kept)
    metrics.INGESTED.labels("filtered").inc(dropped)
