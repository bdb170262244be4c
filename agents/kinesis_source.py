"""The Kinesis source: the shards of KINESIS_STREAM_NAME this worker owns -> logs.ingestion.

Off unless KINESIS_STREAM_NAME is set. The reading itself is
bifrost_streams/ingestion/kinesis.py; this module ties it to the worker's partitions and producer.

Who reads a shard: the worker that owns the shard's checkpoint partition
(tables/kinesis_checkpoints.py), not the group leader. Three reasons:
- the checkpoint is restored only on the worker that owns its partition; the leader may own
  none of them;
- ownership changes hands cleanly. Kafka's rebalance revokes every partition from every member
  before anything is assigned again, and the revoke handler here stops the readers and waits
  (up to STOP_TIMEOUT) for their last batch to be forwarded and checkpointed, so the next owner
  resumes exactly there. Faust's leader flag has no such hand-over: two workers could both
  believe they lead for a while;
- shards spread over the workers instead of all landing on one.
A single worker owns every partition, so it reads every shard. Readers start when a rebalance
is complete (the table restored) and stop on revocation and at shutdown.

Forwarding awaits the broker's acknowledgement (acks=all) of every record before the
checkpoint is written, and the checkpoint write is awaited too; see kinesis.py for why this
order makes a crash re-read at most one batch. A re-read batch produces the same job ids
(bifrost_streams/ingestion/ingest_requests.py), which the jobs table answers once.
"""
from __future__ import annotations

import asyncio
import os
from typing import List, Optional, Tuple

import aioboto3
import structlog
from botocore.config import Config

from bifrost_streams import wiring
from bifrost_streams.app import app, settings
from bifrost_streams.ingestion.ingest_requests import envelope
from bifrost_streams.ingestion.kinesis import Forwarded, KinesisSource
from bifrost_streams.safe_messages import shown_url
from tables import kinesis_checkpoints

log = structlog.get_logger("bifrost.kinesis_source")

# Well inside the consumer's rebalance timeout: the next owner of a shard waits for this.
STOP_TIMEOUT = 10.0
_running: Optional[Tuple[KinesisSource, asyncio.Task]] = None


class _TableCheckpoints:
    def __init__(self, stream: str) -> None:
        self.stream = stream

    def get(self, shard_id: str) -> Optional[str]:
        return kinesis_checkpoints.get(self.stream, shard_id)

    async def save(self, shard_id: str, sequence_number: str) -> None:
        await kinesis_checkpoints.save(self.stream, shard_id, sequence_number)


async def forward(batch: List[Forwarded]) -> None:
    """Produce every record and return only once the broker holds them all."""
    delivered = [await app.producer.send(settings.ingestion_topic, record.origin.encode(),
                                         envelope(record.origin, record.data,
                                                  record.arrived_at),
                                         partition=None, timestamp=None, headers=None)
                 for record in batch]
    await asyncio.gather(*delivered)


def _client():
    # The environment's credentials (and a session token with them) are boto's own chain;
    # bifrost.yaml's are handed over only when the environment has none.
    credentials = {}
    if "AWS_ACCESS_KEY_ID" not in os.environ and settings.aws_access_key_id:
        credentials = {"aws_access_key_id": settings.aws_access_key_id,
                       "aws_secret_access_key": settings.aws_secret_access_key}
    return aioboto3.Session(**credentials).client(
        "kinesis", region_name=settings.aws_region,
        endpoint_url=settings.kinesis_endpoint_url,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                      read_timeout=30))


async def _start() -> None:
    global _running
    await _stop()
    stream = settings.kinesis_stream_name
    owned = kinesis_checkpoints.owned_partitions()
    log.info("kinesis_source_starting", stream=stream,
             endpoint=shown_url(settings.kinesis_endpoint_url),
             partitions=sorted(owned))
    if not owned:
        return
    source = KinesisSource(
        _client, stream, _TableCheckpoints(stream), forward,
        wants=lambda shard_id: kinesis_checkpoints.partition(stream, shard_id) in owned)
    _running = (source, asyncio.ensure_future(source.run()))
    wiring.kinesis_sources[:] = [source]


async def _stop() -> None:
    global _running
    if _running is not None:
        (source, task), _running = _running, None
        wiring.kinesis_sources.clear()
        await source.stop(task, STOP_TIMEOUT)
        log.info("kinesis_source_stopped", forwarded=source.forwarded)


if settings.kinesis_stream_name:
    @app.on_rebalance_complete.connect
    async def read_owned_shards(sender, **kwargs) -> None:
        await _start()

    @app.on_partitions_revoked.connect
    async def stop_reading_revoked(sender, revoked, **kwargs) -> None:
        await _stop()

    @app.on_before_shutdown.connect
    async def stop_reading_at_shutdown(sender, **kwargs) -> None:
        await _stop()
