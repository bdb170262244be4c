"""Produce to and read back from a real broker with aiokafka (no consumer group)."""
from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@asynccontextmanager
async def _consumer(bootstrap: str, isolation_level: str = "read_uncommitted"):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None,
                                isolation_level=isolation_level)
    await consumer.start()
    # aiokafka's stop() re-raises CancelledError if its background task never got to run.
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str,
                  messages: Iterable[Tuple[Optional[bytes], bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=16 * 1024 * 1024)
    await producer.start()
    count = 0
    try:
        for key, value in messages:
            await producer.send(topic, key=key, value=value)
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


def as_messages(documents: Iterable[Dict[str, Any]]) -> List[Tuple[bytes, bytes]]:
    """Key each request like Heimdall does: job_id, else log_id."""
    out = []
    for doc in documents:
        key = doc.get("job_id") or doc.get("request_id") or doc.get("log_id")
        out.append((str(key).encode() if key is not None else None, json.dumps(doc).encode()))
    return out


async def read_topic(bootstrap: str, topic: str,
                     until: Callable[[List[Dict[str, Any]]], bool], timeout: float,
                     what: str = "") -> List[Dict[str, Any]]:
    """Read a topic from the beginning until until(records) holds; fail at the deadline.

    Each record is {"key", "value" (parsed JSON), "partition", "offset"}."""
    records: List[Dict[str, Any]] = []
    async with _consumer(bootstrap) as consumer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (partitions := await topic_partitions(bootstrap, topic)):
            if loop.time() > deadline:
                raise TimeoutError(f"topic {topic} never appeared")
            await asyncio.sleep(0.2)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        while not until(records):
            if loop.time() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s reading {topic} "
                                   f"({len(records)} records) waiting for {what}")
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for m in messages:
                    records.append({"key": m.key.decode() if m.key else None,
                                    "value": json.loads(m.value), "partition": m.partition,
                                    "offset": m.offset, "raw": m.value})
    return records


async def read_all(bootstrap: str, topic: str, timeout: float = 30,
                   isolation_level: str = "read_uncommitted") -> List[Dict[str, Any]]:
    """Every record in the topic up to its current end: read by position, since the offsets
    of a transactional topic also count commit markers, which no consumer receives."""
    records: List[Dict[str, Any]] = []
    async with _consumer(bootstrap, isolation_level) as consumer:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(tps)  # the last stable offsets, read_committed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False
        while await behind():
            if loop.time() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s reading {topic} "
                                   f"({len(records)} records, {isolation_level})")
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for m in messages:
                    records.append({"key": m.key.decode() if m.key else None,
                                    "value": json.loads(m.value), "partition": m.partition,
                                    "offset": m.offset, "raw": m.value})
    return records


async def read_committed(bootstrap: str, topic: str,
                         timeout: float = 60) -> List[Dict[str, Any]]:
    """What a read_committed consumer (Heimdall with exactly-once) sees: the records of
    committed transactions and those written outside any."""
    return await read_all(bootstrap, topic, timeout, "read_committed")


async def end_offsets(bootstrap: str, topic: str) -> Dict[int, int]:
    async with _consumer(bootstrap) as consumer:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp.partition: offset for tp, offset in ends.items()}


async def topic_partitions(bootstrap: str, topic: str) -> List[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described if t.get("error_code", 0) == 0
                  for p in t.get("partitions", []))


async def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    """Records of `topics` after the consumer group's committed offsets.

    Counted by reading them: behind a transactional producer the end offsets also count
    commit markers, which a consumer never receives and so never commits past."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    lag = 0
    async with _consumer(bootstrap, "read_committed") as consumer:
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
            ends = await consumer.end_offsets(tps)
            behind = {}
            for tp in tps:
                meta = committed.get(tp)
                start = meta.offset if meta is not None and meta.offset >= 0 else 0
                if start < ends[tp]:
                    behind[tp] = start
            if not behind:
                continue
            consumer.assign(list(behind))
            for tp, start in behind.items():
                consumer.seek(tp, start)
            while True:
                positions = {tp: await consumer.position(tp) for tp in behind}
                if all(positions[tp] >= ends[tp] for tp in behind):
                    break
                batch = await consumer.getmany(timeout_ms=200)
                lag += sum(len(messages) for messages in batch.values())
    return lag


async def wait_drained(bootstrap: str, group: str, topics: Iterable[str],
                       timeout: float) -> None:
    """Wait until the group has committed everything in `topics`."""
    topics = list(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (lag := await group_lag(bootstrap, group, topics)) > 0:
        if loop.time() > deadline:
            raise TimeoutError(f"group {group} still {lag} messages behind on {topics}")
        await asyncio.sleep(0.3)
