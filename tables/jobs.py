"""The idempotency table: every job's state and final result, by idempotency key.

Keys are co-partitioned with the re-keyed job stream (agents/analysis.py), so the worker that
owns a key's partition is the only writer. A finished job's stored result is what any
duplicate of the request gets back, unchanged.
"""
from __future__ import annotations

import json
import time
from typing import Any, Awaitable, Dict, Optional

import faust

from bifrost_streams.analysis.analyzer import DONE
from bifrost_streams.app import app, settings
from tables import changelog


jobs = app.Table(
    "jobs",
    default=None,
    # Stored as the JSON we build: the result inside is the very bytes that are published,
    # encoded once (a second encoding cost a tenth of the cache path).
    schema=faust.Schema(key_type=str, value_type=bytes, key_serializer="raw",
                        value_serializer="raw"),
    help="Idempotency key -> {state, job_id, result} of finished jobs: duplicates never "
         "reach the model twice.",
)


def get(key: str) -> Optional[Dict[str, Any]]:
    # From the store itself: the table's own get asks RocksDB twice for a stored key and
    # goes through layers that cost more than the read.
    stored = jobs.data.get(key)
    # The RocksDB store hands the value back already decoded (by the app's JSON serializer),
    # the memory store as the bytes that were written.
    if stored is None or isinstance(stored, dict):
        return stored
    return json.loads(stored)


def mark_done(key: str, job_id: str, result_json: bytes) -> Awaitable:
    """Store the finished job; await the returned future before publishing its result, so a
    redelivery always finds it."""
    head = json.dumps(changelog.stamp({"state": DONE, "job_id": job_id}, time.time()))
    return changelog.write_soon(jobs, key,
                                head[:-1].encode() + b', "result": ' + result_json + b"}")


@app.timer(interval=300.0, on_leader=False)
async def expire_old_jobs() -> None:
    """Finished jobs are kept for BIFROST_JOB_RETENTION_SECONDS (default 7 days)."""
    changelog.sweep(jobs, time.time(), settings.job_retention_seconds,
                 changelog.owned_partitions(app, settings.jobs_topic))
