"""Reading a request back from its topic/partition/offset on the real broker: what a redrive
does, including an offset the topic no longer holds."""
from __future__ import annotations

import asyncio
import uuid

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete

from bifrost_streams.kafka.originals import OriginalReader
from tests.support.kafka_io import produce


async def _topic(bootstrap: str) -> str:
    name = f"originals-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def test_a_record_is_read_at_its_offset_and_a_deleted_one_is_gone(kafka):
    bootstrap = kafka.bootstrap
    topic = await _topic(bootstrap)
    values = [f'{{"job_id": "job-{i}"}}'.encode() for i in range(5)]
    big = b'{"job_id": "big", "pad": "' + b"x" * (900 * 1024) + b'"}'
    producer_messages = [(b"k", value) for value in values] + [(b"k", big)]
    # One key: every record lands on one partition, at offsets 0..5 in order.
    await produce(bootstrap, topic, producer_messages)
    async with OriginalReader(bootstrap, 1024 * 1024) as reader:
        found = [await reader.read(topic, p, 3) for p in (0, 1)]
    partition = 0 if found[0] == values[3] else 1
    assert found[partition] == values[3] and found[1 - partition] is None

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, partition): RecordsToDelete(2)},
                                   timeout_ms=10_000)
    finally:
        await admin.close()

    async with OriginalReader(bootstrap, 1024 * 1024) as reader:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await reader.read(topic, partition, 1) is None  # deleted by "retention"
        assert await reader.read(topic, partition, 4) == values[4]
        assert await reader.read(topic, partition, 5) == big  # near the largest request
        assert await reader.read(topic, partition, 6) is None  # never written
        assert await reader.read(f"{topic}-missing", 0, 0) is None
        assert await reader.read(topic, 7, 0) is None  # no such partition
        assert loop.time() - started < 30
