"""GET /jobs/{job_id}: a job's state and result, answered by the worker that holds them.

Two hops at most: the worker owning the job id's partition knows the job's idempotency key
(tables/job_ids.py); the worker owning that key's partition holds the jobs table entry. Any
worker may be asked; it forwards (web/peers.py).
"""
from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import quote

from faust.web import Request, Response, View

from bifrost_streams import wiring
from bifrost_streams.app import app
from bifrost_streams.kafka.topics import key_partition
from bifrost_streams.web.peers import forward, is_mine
from tables import job_ids, jobs


def _partition(key: str) -> int:
    return key_partition(key, app.conf.topic_partitions)


def _topic() -> str:
    return jobs.jobs.changelog_topic.get_topic_name()


def describe(job_id: str, key: str, indexed: bool) -> Optional[Dict[str, Any]]:
    """What this worker knows of the job, whose key's partition it owns; None: nothing."""
    stored = jobs.get(key)
    if stored is not None and stored.get("state") == jobs.DONE:
        result = stored["result"]
        return {"job_id": job_id, "idempotency_key": key, "state": jobs.DONE,
                "status": result["status"], "finished_at": stored.get("stored_at"),
                # A copy of a job under the same idempotency key gets the first one's result.
                "answered_as": stored.get("job_id"), "result": result}
    if key in wiring.running_jobs:
        return {"job_id": job_id, "idempotency_key": key, "state": "RUNNING"}
    if indexed:
        return {"job_id": job_id, "idempotency_key": key, "state": "ACCEPTED"}
    return None


def _answer(view: View, job_id: str, found: Optional[Dict[str, Any]]) -> Response:
    if found is None:
        return view.error(404, f"no job {job_id!r} is known: not received, or older than "
                               f"BIFROST_JOB_RETENTION_SECONDS")
    return view.json(found)


# Registered before /jobs/{job_id}, which would otherwise match it.
@app.page("/jobs/by-key")
class JobByKeyView(View):
    """The second hop: the owner of the idempotency key's partition answers."""

    async def get(self, request: Request) -> Response:
        key, job_id = request.query.get("key"), request.query.get("job_id")
        if not key or not job_id:
            return self.error(400, "key and job_id are required")
        partition = _partition(key)
        if not is_mine(_topic(), partition):
            return await forward(self, request, _topic(), partition)
        return _answer(self, job_id, describe(job_id, key, indexed=True))


@app.page("/jobs/{job_id}")
class JobView(View):
    async def get(self, request: Request, job_id: str) -> Response:
        partition = _partition(job_id)
        if not is_mine(_topic(), partition):
            return await forward(self, request, _topic(), partition)
        key = job_ids.key_for(job_id)
        if key is None or _partition(key) == partition or is_mine(_topic(), _partition(key)):
            return _answer(self, job_id, describe(job_id, key or job_id, key is not None))
        return await forward(self, request, _topic(), _partition(key),
                             path=f"/jobs/by-key?key={quote(key, safe='')}"
                                  f"&job_id={quote(job_id, safe='')}")
