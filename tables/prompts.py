"""What each analysed job sent to the model and what came back, for GET /jobs/{id}/prompt.

Keyed by idempotency key and written while the job's event is processed, so an entry lives on
the job's partition, beside its entry in the jobs table, and expires with it
(BIFROST_JOB_RETENTION_SECONDS). Only jobs whose analysis called a model have one: a cache hit
sent nothing. The prompt is the redacted one, exactly as sent.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from bifrost_streams.app import app, settings
from tables import changelog

prompts = app.Table(
    "prompts",
    default=None,
    help="Idempotency key -> the prompt a job sent to the model and the answer it got.",
)


def keep(key: str, sent: Dict[str, Any]) -> None:
    prompts[key] = changelog.stamp(sent, time.time())


def get(key: str) -> Optional[Dict[str, Any]]:
    return prompts.data.get(key)


@app.timer(interval=300.0, on_leader=False)
async def expire_old_prompts() -> None:
    changelog.sweep(prompts, time.time(), settings.job_retention_seconds,
                    changelog.owned_partitions(app, settings.jobs_topic))
