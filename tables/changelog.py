"""Table writes that we send to the changelog ourselves: expiry and durable writes.

Expiry is enforced by our code, not by RocksDB TTL: an expired entry is removed from the local
store and a tombstone goes to the changelog, so a recovering worker does not bring it back.
Each stored value records the partition it was written under, so the sweep (which runs outside
any event) knows which changelog partition the tombstone belongs to.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Collection, Dict, Optional

import faust
from faust.streams import current_event


def stamp(value: Dict[str, Any], now: float) -> Dict[str, Any]:
    """Add the write time and the current event's partition to a value about to be stored."""
    event = current_event()
    if event is None:
        raise RuntimeError("table values are written while processing an event")
    return {**value, "stored_at": now, "partition": event.message.partition}


def expired(value: Optional[Dict[str, Any]], now: float, ttl: float) -> bool:
    return value is not None and value.get("stored_at", now) + ttl <= now


def sweep(table: faust.Table, now: float, ttl: float,
          partitions: Optional[Collection[int]] = None) -> int:
    """Delete expired entries; return how many.

    A table co-partitioned with its stream sweeps only `partitions` (those this worker owns)
    and sends each tombstone to the partition the entry was written under. A table with
    use_partitioner sweeps every local entry: its tombstone goes where partition_for_key
    sent the write."""
    removed = 0
    for key, value in list(table.items()):
        if isinstance(value, (bytes, bytearray)):  # a table that stores its own JSON
            value = json.loads(value)
        if not expired(value, now, ttl):
            continue
        if table.use_partitioner:
            partition = table.partition_for_key(key)
        elif value.get("partition") in (partitions or ()):
            partition = value["partition"]
        else:
            continue
        remove(table, partition, key)
        removed += 1
    return removed


def remove(table: faust.Table, partition: int, key: Any) -> bool:
    """Delete key from the local store and send its tombstone to `partition`, so that a
    recovering worker does not bring it back; whether the store held it."""
    held = table.data.pop(key, None) is not None
    table.send_changelog(partition, key, None, value_serializer="raw")
    return held


def owned_partitions(app: faust.App, topic: str) -> set:
    """Partitions of `topic` this worker actively owns (standbys must not write tombstones)."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def write_soon(table: faust.Table, key: str, value: Any,
               partition: Optional[int] = None) -> Awaitable:
    """Store key -> value; the returned future resolves once the changelog holds it (acks=all).
    The changelog partition is `partition`, else the table's own choice for the key.

    A plain `table[key] = value` only queues the changelog write; a result published before
    that write is delivered could reach Heimdall while a crash loses the table entry, and the
    redelivered request would then be answered a second, different time. Callers await the
    future before they publish; a batch awaits all of its futures at once.
    """
    if partition is None:
        partition = table.partition_for_key(key)
    delivered = table.send_changelog(partition, key, value)
    table.data[key] = value
    return delivered

