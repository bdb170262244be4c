"""The result cache: an analysis by (log template, model, prompt version, output language),
with expiry.

Expiry is enforced here (tombstones reach the changelog), not by RocksDB TTL, so a restored
worker never serves an entry that had expired.

The cache key (a template id) is unrelated to the job stream's key, so an entry written
while handling one partition must be found while handling any other. With use_partitioner a
read searches every partition this worker holds, and the changelog partition follows a
hash of the key, so a restarted worker gets each entry back wherever it was written. With
several workers an entry written by another one is a miss until the next rebalance: an extra model
call, never a wrong answer. (A GlobalTable would share entries at once, but its standby
recovery has stalled stream processing after a restart here.)
"""
from __future__ import annotations

import time
import zlib
from typing import Any, Dict, Optional

import faust

from bifrost_streams.app import app, settings
from tables import changelog

class KeyHashedTable(faust.Table):
    """Changelog partition from a hash of the key, not from the event being processed.

    Computed here rather than by the producer's partitioner: that one needs the changelog
    topic's metadata, which the producer may not have yet for the first writes after start."""

    def partition_for_key(self, key: Any) -> int:
        return zlib.crc32(str(key).encode("utf-8")) % self.app.conf.topic_partitions


results = app.tables.add(KeyHashedTable(
    app,
    name="result-cache",
    beacon=app.tables.beacon,
    use_partitioner=True,  # reads search every local partition
    default=None,
    key_type=str,
    help="template id|model|prompt version|language -> analysis; expires after "
         "BIFROST_CACHE_TTL_SECONDS.",
))


# Entries read or written lately, decoded: a storm asks for one entry thousands of times a
# second, and each read of the table searched every partition's RocksDB and decoded its JSON
# (a twentieth of the cache path). Cleared whenever the sweep may have removed entries; an
# entry another worker wrote meanwhile is an equally valid analysis of the same template.
_recent: Dict[str, Dict[str, Any]] = {}
RECENT_MAX = 10000


def lookup(key: str) -> Optional[Dict[str, Any]]:
    entry = _recent.get(key)
    if entry is None:
        entry = results.get(key)
        if entry is not None:
            _remember(key, entry)
    if changelog.expired(entry, time.time(), settings.cache_ttl_seconds):
        _recent.pop(key, None)
        results.pop(key, None)
        return None
    return entry


def store(key: str, analysis: Dict[str, Any]) -> None:
    entry = changelog.stamp(analysis, time.time())
    results[key] = entry
    _remember(key, entry)


def _remember(key: str, entry: Dict[str, Any]) -> None:
    if len(_recent) >= RECENT_MAX:
        _recent.clear()
    _recent[key] = entry


def expire() -> None:
    changelog.sweep(results, time.time(), settings.cache_ttl_seconds)
    _recent.clear()


@app.timer(interval=60.0, on_leader=False)
async def expire_cache_entries() -> None:
    expire()
