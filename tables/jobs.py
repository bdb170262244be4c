"""The idempotency table: every job's state and final result, by idempotency key.

Keys are co-partitioned with the re-keyed job stream (agents/analysis.py), so the worker that
owns a key's partition is the only writer. A finished job's stored result is what any
duplicate of the request gets back, unchanged.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from bifrost_streams.app import app, settings
from tables import changelog

DONE = "DONE"

jobs = app.Table(
    "jobs",
    default=None,
    key_type=str,
    help="Idempotency key -> {state, job_id, result} of finished jobs: duplicates never "
         "reach the model twice.",
)


def get(key: str) -> Optional[Dict[str, Any]]:
    return jobs.get(key)


async def mark_done(key: str, result: Dict[str, Any]) -> None:
    """Durable before the result is published, so a redelivery finds it."""
    await changelog.write_durably(jobs, key, changelog.stamp(
        {"state": DONE, "job_id": result["job_id"], "result": result}, time.time()))


@app.timer(interval=300.0, on_leader=False)
async def expire_old_jobs() -> None:
    """Finished jobs are kept for BIFROST_JOB_RETENTION_SECONDS (default 7 days)."""
    changelog.sweep(jobs, time.time(), settings.job_retention_seconds,
                 changelog.owned_partitions(app, settings.jobs_topic))
