"""Read Kinesis shards and hand their records on, checkpointing each shard as it goes.

No Kafka and no Faust here: the caller gives a Kinesis client factory (aioboto3), a
checkpoint store and a `forward` coroutine, and says which shards are its own
(agents/kinesis_source.py wires these to the worker). Per shard, a batch is GetRecords ->
decode (bifrost_streams/ingestion/kinesis_records.py) -> forward (returns once the broker has
every record) -> save the batch's last sequence number (returns once stored). Only in that
order: a checkpoint never runs ahead of what was forwarded, so a crash at any point re-reads at
most one batch and never skips one. A shard starts AFTER_SEQUENCE_NUMBER of its checkpoint,
TRIM_HORIZON when it has none. Any failure inside a batch restarts the shard from its
checkpoint.

Resharding: every open and closed shard is read (closed ones to their end), but a child shard
is not held back until its parent is finished, so records of one partition key may be
forwarded out of order around a reshard. Nothing is lost or doubled by it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import (Any, AsyncContextManager, Awaitable, Callable, Dict, List, Optional,
                    Protocol)

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from .. import metrics
from .kinesis_records import as_text, payloads
from ..safe_messages import failure_kind

log = structlog.get_logger("bifrost.kinesis")

# GetRecords may be called 5 times a second per shard; an idle shard is asked once a second.
MIN_CALL_INTERVAL = 0.2
RETRY_BACKOFF = (0.5, 1, 2, 5, 10, 30)


@dataclass(frozen=True)
class Forwarded:
    origin: str  # kinesis:<stream>/<shard id>/<sequence number>/<index in an aggregate>
    data: str
    arrived_at: Optional[str]  # the contract's UTC format
    partition_key: str


class Checkpoints(Protocol):
    def get(self, shard_id: str) -> Optional[str]: ...

    async def save(self, shard_id: str, sequence_number: str) -> None: ...


Forward = Callable[[List[Forwarded]], Awaitable[None]]


def decode(stream: str, shard_id: str, records: List[Dict[str, Any]]) -> List[Forwarded]:
    out = []
    for record in records:
        sequence = record["SequenceNumber"]
        arrived = record.get("ApproximateArrivalTimestamp")
        arrived_at = (arrived.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                      if isinstance(arrived, datetime) else None)
        try:
            parts = payloads(record["Data"])
        except ValueError as exc:  # a gzip bomb: said once, not forwarded
            log.warning("kinesis_record_refused", shard=shard_id, sequence=sequence,
                        error=str(exc))
            continue
        for index, part in enumerate(parts):
            out.append(Forwarded(f"kinesis:{stream}/{shard_id}/{sequence}/{index}",
                                 as_text(part), arrived_at, record.get("PartitionKey", "")))
    return out


class KinesisSource:
    """Reads the shards `wants` accepts until stop(); one task per shard."""

    def __init__(self, client: Callable[[], AsyncContextManager], stream: str,
                 checkpoints: Checkpoints, forward: Forward, wants: Callable[[str], bool],
                 *, batch_limit: int = 1000, idle_seconds: float = 1.0,
                 discover_seconds: float = 30.0) -> None:
        self._client = client
        self.stream = stream
        self.checkpoints = checkpoints
        self.forward = forward
        self.wants = wants
        self.batch_limit = batch_limit
        self.idle_seconds = idle_seconds
        self.discover_seconds = discover_seconds
        self._stopping = asyncio.Event()
        self._readers: Dict[str, asyncio.Task] = {}
        self.forwarded = 0  # Kinesis records forwarded and checkpointed, since start

    @property
    def shards(self) -> List[str]:
        """The shards being read now."""
        return sorted(s for s, task in self._readers.items() if not task.done())

    async def run(self) -> None:
        async with self._client() as client:
            try:
                while not self._stopping.is_set():
                    await self._discover(client)
                    await self._pause(self.discover_seconds)
                # Let each reader finish its batch: forwarded records get their checkpoint.
                await asyncio.gather(*self._readers.values(), return_exceptions=True)
            finally:
                for task in self._readers.values():
                    task.cancel()
                await asyncio.gather(*self._readers.values(), return_exceptions=True)

    async def stop(self, task: asyncio.Task, timeout: float) -> None:
        """Stop reading: each shard finishes its batch within `timeout`, or is cancelled
        (its batch is then read again by whoever reads the shard next)."""
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            log.warning("kinesis_stop_timeout", timeout=timeout, shards=self.shards)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # reported by the task itself
            pass

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _discover(self, client: Any) -> None:
        try:
            shard_ids = await self._list_shards(client)
        except (BotoCoreError, ClientError) as exc:
            log.warning("kinesis_list_shards_failed", stream=self.stream,
                        error=failure_kind(exc))
            return
        for shard_id in shard_ids:
            running = self._readers.get(shard_id)
            if self.wants(shard_id) and (running is None or running.cancelled()):
                self._readers[shard_id] = asyncio.ensure_future(self._read(client, shard_id))
                log.info("kinesis_shard_reading", stream=self.stream, shard=shard_id,
                         after=self.checkpoints.get(shard_id) or "TRIM_HORIZON")

    async def _list_shards(self, client: Any) -> List[str]:
        shard_ids: List[str] = []
        request: Dict[str, Any] = {"StreamName": self.stream}
        while True:
            response = await client.list_shards(**request)
            shard_ids += [shard["ShardId"] for shard in response.get("Shards", [])]
            if not response.get("NextToken"):
                return shard_ids
            request = {"NextToken": response["NextToken"]}

    async def _iterator(self, client: Any, shard_id: str) -> Optional[str]:
        after = self.checkpoints.get(shard_id)
        request = {"StreamName": self.stream, "ShardId": shard_id}
        if after:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                           StartingSequenceNumber=after)
        else:
            request.update(ShardIteratorType="TRIM_HORIZON")
        response = await client.get_shard_iterator(**request)
        return response.get("ShardIterator")

    async def _read(self, client: Any, shard_id: str) -> None:
        failures = 0
        iterator: Optional[str] = None
        fresh = True  # the next iterator comes from the checkpoint
        while not self._stopping.is_set():
            try:
                if fresh:
                    iterator, fresh = await self._iterator(client, shard_id), False
                if iterator is None:
                    log.info("kinesis_shard_finished", stream=self.stream, shard=shard_id)
                    return
                started = asyncio.get_running_loop().time()
                iterator, count, behind = await self._batch(client, shard_id, iterator)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # AWS, the network or Kafka: resume from the checkpoint
                fresh = True
                delay = RETRY_BACKOFF[min(failures, len(RETRY_BACKOFF) - 1)]
                failures += 1
                log.warning("kinesis_read_failed", stream=self.stream, shard=shard_id,
                            error=failure_kind(exc), retry_in=delay)
                await self._pause(delay)
                continue
            metrics.KINESIS_BEHIND.labels(shard_id).set(behind)
            spent = asyncio.get_running_loop().time() - started
            # More is waiting when the shard says so, or when the batch came back full.
            more = count and (behind or count >= self.batch_limit)
            await self._pause(max(0.0, (MIN_CALL_INTERVAL if more else self.idle_seconds)
                                  - spent))

    async def _batch(self, client: Any, shard_id: str, iterator: str) -> tuple:
        """One GetRecords, forwarded and checkpointed: (next iterator, records, ms behind)."""
        response = await client.get_records(ShardIterator=iterator, Limit=self.batch_limit)
        records = response.get("Records", [])
        if records:
            await self.forward(decode(self.stream, shard_id, records))
            await self.checkpoints.save(shard_id, records[-1]["SequenceNumber"])
            self.forwarded += len(records)
            metrics.KINESIS_RECORDS.inc(len(records))
        return (response.get("NextShardIterator"), len(records),
                response.get("MillisBehindLatest", 0))
