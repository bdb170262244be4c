"""Where each Kinesis shard was read up to: "<stream>/<shard id>" -> sequence number.

A value is written only after every record up to that sequence number is on logs.ingestion,
acknowledged by the broker (acks=all), and it is written durably: save() returns once the
changelog holds it. So a stored checkpoint is always a true statement, whichever worker wrote
it and however it stopped, and a restart that resumes AFTER_SEQUENCE_NUMBER loses nothing;
it re-reads at most the batch between the last produce and its checkpoint.

The readers run outside any event (agents/kinesis_source.py), where a RocksDB table refuses
writes (it picks its partition database from the current event). Hence the memory://local
store with our own changelog writes, as tables/template_counts.py does: the table is rebuilt
from the changelog before the worker's readers start.

A key's changelog partition is the murmur2 partition of the key (topics.key_partition); the
worker that owns that partition (it also owns the same partition of every co-partitioned
topic) is the only one that reads that shard, so each key has one writer and its owner has
it restored.
"""
from __future__ import annotations

from typing import Optional, Set

from bifrost_streams.app import app, settings
from bifrost_streams.kafka.topics import key_partition
from tables import changelog

checkpoints = None
if settings.kinesis_stream_name:
    # Declared only when the Kinesis source is on: no changelog topic for a worker without it.
    checkpoints = app.Table("kinesis-checkpoints", default=None, key_type=str, value_type=str,
                            store="memory://local",  # "memory://" parses as an empty URL
                            help="<stream>/<shard id> -> the sequence number forwarded last")


def key(stream: str, shard_id: str) -> str:
    return f"{stream}/{shard_id}"


def partition(stream: str, shard_id: str) -> int:
    return key_partition(key(stream, shard_id), app.conf.topic_partitions)


def owned_partitions() -> Set[int]:
    return changelog.owned_partitions(app, checkpoints.changelog_topic.get_topic_name())


def get(stream: str, shard_id: str) -> Optional[str]:
    return checkpoints.data.get(key(stream, shard_id))


async def save(stream: str, shard_id: str, sequence_number: str) -> None:
    """Store the checkpoint; return once the broker has it in the changelog."""
    name = key(stream, shard_id)
    await changelog.write_soon(checkpoints, name, sequence_number, partition(stream, shard_id))
