"""GET /jobs/{job_id}: a job's state and result, answered by the worker that holds them;
GET /jobs/{job_id}/prompt (admin token): what the job sent to the model and got back.

Two hops at most: the worker owning the job id's partition knows the job's idempotency key
(tables/job_ids.py); the worker owning that key's partition holds the jobs table entry and
the prompt. Any worker may be asked; it forwards (web/peers.py).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional
from urllib.parse import quote

from faust.web import Request, Response, View

from bifrost_streams import wiring
from bifrost_streams.app import app, settings
from bifrost_streams.kafka.topics import key_partition
from bifrost_streams.web.access import admin_refusal
from bifrost_streams.web.peers import forward, is_mine
from tables import job_ids, jobs, prompts


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


def sent(job_id: str, key: str, indexed: bool) -> Optional[Dict[str, Any]]:
    """What the job sent to the model and got back; None: no model call of its own."""
    found = prompts.get(key)
    if found is None:
        return None
    return {"job_id": job_id, "idempotency_key": key,
            **{name: value for name, value in found.items()
               if name not in ("stored_at", "partition")}}


# What the owner of a job's key answers, by the part asked for.
PARTS: Dict[str, Callable[[str, str, bool], Optional[Dict[str, Any]]]] = {
    "": describe, "prompt": sent}
MISSING = {"": "not received, or older than BIFROST_JOB_RETENTION_SECONDS",
           "prompt": "no model call of its own (answered from the cache or by a copy), not "
                     "received, or older than BIFROST_JOB_RETENTION_SECONDS"}


def _answer(view: View, job_id: str, part: str,
            found: Optional[Dict[str, Any]]) -> Response:
    if found is None:
        what = f"the prompt of job {job_id!r}" if part else f"job {job_id!r}"
        return view.error(404, f"no {what} is known: {MISSING[part]}")
    return view.json(found)


async def _route(view: View, request: Request, job_id: str, part: str) -> Response:
    partition = _partition(job_id)
    if not is_mine(_topic(), partition):
        return await forward(view, request, _topic(), partition)
    key = job_ids.key_for(job_id)
    if key is None or _partition(key) == partition or is_mine(_topic(), _partition(key)):
        return _answer(view, job_id, part, PARTS[part](job_id, key or job_id, key is not None))
    return await forward(view, request, _topic(), _partition(key),
                         path=f"/jobs/by-key?key={quote(key, safe='')}"
                              f"&job_id={quote(job_id, safe='')}&part={part}")


# Registered before /jobs/{job_id}, which would otherwise match it.
@app.page("/jobs/by-key")
class JobByKeyView(View):
    """The second hop: the owner of the idempotency key's partition answers."""

    async def get(self, request: Request) -> Response:
        key, job_id = request.query.get("key"), request.query.get("job_id")
        part = request.query.get("part", "")
        if not key or not job_id or part not in PARTS:
            return self.error(400, "key and job_id are required; part is empty or prompt")
        if part and (refused := _refused(self, request)) is not None:
            return refused
        partition = _partition(key)
        if not is_mine(_topic(), partition):
            return await forward(self, request, _topic(), partition)
        return _answer(self, job_id, part, PARTS[part](job_id, key, True))


@app.page("/jobs/{job_id}/prompt")
class JobPromptView(View):
    """The redacted prompt exactly as sent and the answer, for the admin token only: a
    prompt quotes log text, which the read token alone does not show in full."""

    async def get(self, request: Request, job_id: str) -> Response:
        refused = _refused(self, request)
        if refused is not None:
            return refused
        return await _route(self, request, job_id, "prompt")


@app.page("/jobs/{job_id}")
class JobView(View):
    async def get(self, request: Request, job_id: str) -> Response:
        return await _route(self, request, job_id, "")


def _refused(view: View, request: Request) -> Optional[Response]:
    reason = admin_refusal(request.headers.get("Authorization", ""), settings.admin_token,
                           "prompt views")
    if reason is None:
        return None
    return view.json({"error": reason}, status=401,
                     headers={"WWW-Authenticate": 'Bearer realm="bifrost"'})
