"""Reading a request back from where it arrived: topic, partition and offset.

The dead-letters table keeps only that address (tables/dead_letters.py), so a redrive reads the
original bytes here. A message can be gone: the topic's retention deleted it, or the topic was
recreated and the offset now holds another message. The reader says so (None) and never
returns a neighbour instead: it checks the offset against the partition's range first and the
offset of the record it got after.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional, Set, Tuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError, UnknownTopicOrPartitionError

from . import transport

# How long one record may take to arrive once its offset is known to exist.
FETCH_SECONDS = 10.0


class OriginalReader:
    """One consumer (no group, no commits) for the reads of one redrive request.

        async with OriginalReader(bootstrap, max_bytes) as reader:
            raw = await reader.read("analysis.request", 2, 1841)
    """

    def __init__(self, bootstrap: str, max_message_bytes: int,
                 fetch_seconds: float = FETCH_SECONDS) -> None:
        # A fetch must hold the largest request the intake accepts, with its batch framing.
        fetch_bytes = max(1024 * 1024, max_message_bytes + 64 * 1024)
        self.fetch_seconds = fetch_seconds
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            client_id="bifrost-redrive-reader", auto_offset_reset="none",
            max_partition_fetch_bytes=fetch_bytes, fetch_max_bytes=fetch_bytes)
        self._ranges: Dict[TopicPartition, Tuple[int, int]] = {}
        self._started = False
        self._failed: Optional[BaseException] = None
        self._cluster: Optional[Any] = None  # the brokers' metadata, read once

    async def __aenter__(self) -> "OriginalReader":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._started:
            await self._consumer.stop()

    async def _start(self) -> None:
        # On the first read: a redrive that reads nothing (all refused) connects to nothing.
        # A broker not reached once is not tried again for each of the request's jobs.
        if self._failed is not None:
            raise self._failed
        if not self._started:
            self._started = True
            try:
                await asyncio.wait_for(self._consumer.start(), self.fetch_seconds)
            except Exception as exc:
                self._failed = exc
                raise

    async def read(self, topic: str, partition: int, offset: int) -> Optional[bytes]:
        """The value at topic/partition@offset, or None when that record is gone.

        Raises asyncio.TimeoutError or a KafkaError when the broker does not answer in time:
        the record may well exist."""
        if not topic or partition < 0 or offset < 0:
            return None
        await self._start()
        tp = TopicPartition(topic, partition)
        first, end = await self._range(tp)
        if not first <= offset < end:
            return None
        self._consumer.assign([tp])
        self._consumer.seek(tp, offset)
        try:
            batches = await asyncio.wait_for(
                self._consumer.getmany(tp, timeout_ms=int(self.fetch_seconds * 1000),
                                       max_records=1),
                self.fetch_seconds + 1.0)
        except OffsetOutOfRangeError:  # deleted since the range was read
            return None
        records = batches.get(tp, [])
        if not records:  # it exists (the range says so) but did not come in time
            raise asyncio.TimeoutError(f"no record from {tp.topic}/{partition} in time")
        # A compacted or rewritten partition hands over the next record that exists.
        if records[0].offset != offset:
            return None
        return records[0].value

    async def _range(self, tp: TopicPartition) -> Tuple[int, int]:
        known = self._ranges.get(tp)
        if known is None:
            if tp.partition not in await self._partitions(tp.topic):
                known = (0, 0)  # nothing can be read there (aiokafka would wait for it)
            else:
                try:
                    first = (await asyncio.wait_for(self._consumer.beginning_offsets([tp]),
                                                    self.fetch_seconds))[tp]
                    end = (await asyncio.wait_for(self._consumer.end_offsets([tp]),
                                                  self.fetch_seconds))[tp]
                except UnknownTopicOrPartitionError:  # deleted meanwhile
                    first, end = 0, 0
                known = (first, end)
            self._ranges[tp] = known
        return known

    async def _partitions(self, topic: str) -> Set[int]:
        if self._cluster is None:
            self._cluster = await asyncio.wait_for(
                transport.cluster_metadata(self._consumer), self.fetch_seconds)
        return self._cluster.partitions_for_topic(topic) or set()
