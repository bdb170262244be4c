"""Job id -> idempotency key, for GET /jobs/{job_id}.

The jobs table is keyed by idempotency key; a caller knows the job id. Heimdall keys its
requests by job id, so the intake writes this entry while the request is on the job id's
partition, and the view finds it on the worker owning that partition. Requests whose job id
is their idempotency key (the inline form) need no entry.
"""
from __future__ import annotations

import time
from typing import Optional

from bifrost_streams.app import app, settings
from tables import changelog

job_ids = app.Table("job-ids", default=None, key_type=str,
                    help="job id -> idempotency key of requests in the job form")


def remember(job_id: str, idempotency_key: str) -> None:
    """Called while the request is processed on the job id's partition."""
    job_ids[job_id] = changelog.stamp({"key": idempotency_key}, time.time())


def key_for(job_id: str) -> Optional[str]:
    entry = job_ids.get(job_id)
    return entry["key"] if entry else None


@app.timer(interval=300.0, on_leader=False)
async def expire_job_ids() -> None:
    """Kept as long as finished jobs are (BIFROST_JOB_RETENTION_SECONDS)."""
    changelog.sweep(job_ids, time.time(), settings.job_retention_seconds,
                    changelog.owned_partitions(app, settings.jobs_topic))
