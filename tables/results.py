"""The result cache: an analysis by (log fingerprint, model, prompt version), with expiry.

Expiry is enforced here (tombstones reach the changelog), not by RocksDB TTL, so a restored
worker never serves an entry that had expired.

A global table: the cache key (a log fingerprint) is unrelated to the job stream's key, so an
entry written while handling one partition must be found while handling any other. Every
worker reads the whole changelog; each writes under the partition of the job it handles.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from bifrost_streams.app import app, settings
from tables import changelog

results = app.GlobalTable(
    "result-cache",
    default=None,
    key_type=str,
    help="fingerprint|model|prompt version -> analysis; expires after BIFROST_CACHE_TTL_SECONDS.",
)


def cache_key(fingerprint: str, model: str, prompt_version: str) -> str:
    return f"{fingerprint}|{model}|{prompt_version}"


def lookup(key: str) -> Optional[Dict[str, Any]]:
    entry = results.get(key)
    if changelog.expired(entry, time.time(), settings.cache_ttl_seconds):
        del results[key]
        return None
    return entry


def store(key: str, analysis: Dict[str, Any]) -> None:
    results[key] = changelog.stamp(analysis, time.time())


@app.timer(interval=60.0, on_leader=False)
async def expire_cache_entries() -> None:
    changelog.sweep(results, time.time(), settings.cache_ttl_seconds,
                 changelog.owned_partitions(app, settings.jobs_topic))
