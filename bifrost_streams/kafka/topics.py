"""Topic partition counts: match what exists, create what is missing, refuse a mismatch.

Heimdall's guide creates analysis.request with 3 partitions. Our internal topics (the re-keyed
job stream and the tables' changelogs) must have the same count as each other, or the jobs
table would be read from the wrong partitions. This check runs before Faust declares anything.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Dict, Iterable, List, Optional

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

DEFAULT_PARTITIONS = 3


class PartitionMismatch(RuntimeError):
    """Existing topics disagree on the partition count; the worker must not start."""


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bifrost-preflight")
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def key_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in the Java client and aiokafka)
    gives a UTF-8 key: where a message keyed `key` lands on the job stream."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def existing_partitions(bootstrap: str, names: Iterable[str]) -> Dict[str, int]:
    async with _admin(bootstrap) as admin:
        # Describe only what is listed: some brokers (noida-db, or Kafka with
        # auto.create.topics.enable) create a topic with 1 partition when asked about it.
        present = set(await admin.list_topics())
        wanted = [name for name in names if name in present]
        described = await admin.describe_topics(wanted) if wanted else []
    return {t["topic"]: len(t["partitions"]) for t in described
            if t.get("error_code", 0) == 0 and t.get("partitions")}


def decide_partitions(configured: Optional[int], request_topic: str, internal: List[str],
                      existing: Dict[str, int]) -> int:
    """The one partition count for the request topic and every internal topic, or raise."""
    found = {name: existing[name] for name in [request_topic, *internal] if name in existing}
    counts = set(found.values())
    if configured is not None:
        counts.add(configured)
    if len(counts) > 1:
        listing = ", ".join(f"{name}={n}" for name, n in sorted(found.items()))
        raise PartitionMismatch(
            f"partition counts disagree: {listing}"
            + (f", BIFROST_PARTITIONS={configured}" if configured is not None else "")
            + ". The jobs table is co-partitioned with these topics, so they must all have one "
              "count. Set BIFROST_PARTITIONS to the request topic's count, or use a new "
              "BIFROST_APP_ID (fresh internal topics) after increasing the request topic.")
    return counts.pop() if counts else DEFAULT_PARTITIONS


async def create_missing(bootstrap: str, wanted: Dict[str, int], replication: int) -> List[str]:
    created = []
    async with _admin(bootstrap) as admin:
        for name, partitions in wanted.items():
            try:
                await admin.create_topics([NewTopic(name, partitions, replication)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    return created
