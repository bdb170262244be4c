"""GET /dlq: dead letters waiting; POST /dlq/redrive: send some back to analysis.request.

Dead letters live on the worker owning their partition (tables/dead_letters.py), so both
views ask every worker of the group and merge the answers. A redrive reads the original
request back from its topic/partition/offset (a dead letter keeps only that and an excerpt)
and re-publishes its bytes, keyed by its job id, with a header naming the attempt; the job
then runs again even though its FAILED result is stored. A request the topic no longer holds
is refused as original_gone. It needs the bearer token BIFROST_ADMIN_TOKEN
(without it configured, redrives are off), is refused past BIFROST_REDRIVE_MAX_ATTEMPTS and
beyond BIFROST_REDRIVE_PER_MINUTE per worker, and leaves one audit row per job it decides on.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any, Dict, List, Optional, Tuple

import psycopg2
import structlog
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from bifrost_streams import metrics
from bifrost_streams.app import app, bootstrap, settings
from bifrost_streams.kafka.originals import OriginalReader
from bifrost_streams.outcomes import REDRIVE_HEADER, send_bytes
from bifrost_streams.storage import audit
from bifrost_streams.safe_messages import failure_kind
from bifrost_streams.token_bucket import TokenBucket
from bifrost_streams.web import access
from bifrost_streams.web.peers import ROUTED_HEADER, ask_others, self_url
from tables import dead_letters

log = structlog.get_logger("bifrost.web.dlq")

MAX_LIMIT = 1000
MAX_JOBS = 1000
CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
SHOWN = ("key", "job_id", "idempotency_key", "trace_id", "error_code", "error_message",
         "failures", "redrives", "first_seen", "last_seen", "state", "original_topic",
         "original_partition", "original_offset")


class BadRequest(ValueError):
    pass


# `per_minute` redrives, refilled continuously.
limit = TokenBucket(settings.redrive_per_minute)


@app.page("/dlq")
class DeadLettersView(View):
    async def get(self, request: Request) -> Response:
        try:
            code = _error_code(request.query.get("error_code"))
            size = _limit(request.query.get("limit", "100"))
        except BadRequest as exc:
            return self.error(400, str(exc))
        items = [{name: entry.get(name) for name in SHOWN}
                 for entry in dead_letters.local_entries(code)]
        unanswered = []
        if not request.headers.get(ROUTED_HEADER):
            for url, status, answer in await ask_others(request):
                if status == 200:
                    items.extend(answer["items"])
                else:
                    unanswered.append(url)
        items.sort(key=lambda item: item["last_seen"], reverse=True)
        return self.json({"total": len(items), "items": items[:size],
                          "waiting": sum(1 for i in items if i["state"] == dead_letters.WAITING),
                          "unanswered_workers": unanswered})


@app.page("/dlq/redrive")
class RedriveView(View):
    async def post(self, request: Request) -> Response:
        refusal = access.admin_refusal(request.headers.get("Authorization", ""),
                                       settings.admin_token, "redrives")
        if refusal is not None:
            log.warning("redrive_unauthorised", reason=refusal, peer=request.remote)
            return self.json({"error": refusal}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="bifrost"'})
        body = await request.read()
        try:
            selector, actor, reason = _parse(body)
        except BadRequest as exc:
            return self.error(400, str(exc))
        outcome = await _redrive_here(selector, actor, reason)
        if not request.headers.get(ROUTED_HEADER):
            for url, status, answer in await ask_others(request, body):
                if status != 200 and status != 429:
                    outcome["unanswered_workers"].append(url)
                    continue
                for name in ("redriven", "refused"):
                    outcome[name].extend(answer[name])
                outcome["found"].extend(answer["found"])
        wanted = selector.get("job_ids")
        if wanted is not None:
            found = set(outcome["found"])
            outcome["not_found"] = [key for key in wanted if key not in found]
        limited = [r for r in outcome["refused"] if r["reason"] == "rate_limited"]
        status = 429 if limited and not outcome["redriven"] else 200
        return self.json(outcome, status=status,
                         headers={"Retry-After": "60"} if status == 429 else None)


def _error_code(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not CODE.match(value):
        raise BadRequest("error_code must be an error code such as LOG_NOT_FOUND")
    return value


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return number


def _text(body: Dict[str, Any], name: str, longest: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise BadRequest(f"{name} is required: a non-empty string of at most {longest} "
                         f"characters")
    return value.strip()


def _parse(raw: bytes) -> Tuple[Dict[str, Any], str, str]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    actor, reason = _text(body, "actor", 200), _text(body, "reason", 1000)
    chosen = [name for name in ("job_id", "job_ids", "error_code") if name in body]
    if len(chosen) != 1:
        raise BadRequest("name exactly one of job_id, job_ids or error_code")
    if chosen[0] == "error_code":
        code = body["error_code"]
        if not isinstance(code, str):
            raise BadRequest("error_code must be a string")
        return {"error_code": _error_code(code)}, actor, reason
    ids = [body["job_id"]] if chosen[0] == "job_id" else body["job_ids"]
    if (not isinstance(ids, list) or not 1 <= len(ids) <= MAX_JOBS
            or not all(isinstance(i, str) and i for i in ids)):
        raise BadRequest(f"{chosen[0]} must name 1 to {MAX_JOBS} jobs as strings")
    return {"job_ids": list(dict.fromkeys(ids))}, actor, reason


async def _redrive_here(selector: Dict[str, Any], actor: str, reason: str) -> Dict[str, Any]:
    """Redrive the chosen dead letters that live on this worker."""
    if "error_code" in selector:
        entries = [e for e in dead_letters.local_entries(selector["error_code"])
                   if e["state"] == dead_letters.WAITING]
    else:
        wanted = set(selector["job_ids"])
        entries = [e for e in dead_letters.local_entries() if e["key"] in wanted]
    redriven: List[Dict[str, Any]] = []
    refused: List[Dict[str, Any]] = []
    rows = []
    async with OriginalReader(bootstrap, settings.max_request_bytes) as reader:
        for entry in entries:
            attempt = entry["redrives"] + 1
            if entry["redrives"] >= settings.redrive_max_attempts:
                outcome = "max_attempts"
            # (An entry written before excerpts were kept has its payload instead.)
            elif not entry.get("redrivable", dead_letters.redrivable(entry.get("payload"))):
                outcome = "not_redrivable"  # not JSON, or cut short: the same bytes fail again
            elif not limit.take():
                outcome = "rate_limited"
            else:
                outcome = await _send_original(reader, entry, attempt)
                if outcome != "redriven":
                    limit.give_back()
            metrics.REDRIVES.labels(outcome).inc()
            item = {"key": entry["key"], "job_id": entry["job_id"], "attempt": attempt}
            if outcome == "redriven":
                redriven.append(item)
            else:
                refused.append({**item, "reason": outcome})
            rows.append({"actor": actor, "reason": reason, "dlq_key": entry["key"],
                         "job_id": entry["job_id"], "error_code": entry["error_code"],
                         "attempt": attempt, "outcome": outcome, "worker": self_url()})
    await _audit(rows)
    return {"redriven": redriven, "refused": refused, "found": [e["key"] for e in entries],
            "unanswered_workers": []}


async def _send_original(reader: OriginalReader, entry: Dict[str, Any], attempt: int) -> str:
    """Read the request back from where it arrived and publish it again, unchanged."""
    try:
        raw = await reader.read(entry["original_topic"], entry["original_partition"],
                                entry["original_offset"])
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        log.warning("redrive_original_unreadable", key=entry["key"], error=type(exc).__name__)
        return "original_unreadable"
    if raw is None or not _same_job(raw, entry["job_id"]):
        # Deleted by the topic's retention, or the offset holds another message now.
        return "original_gone"
    await send_bytes(settings.request_topic, entry["job_id"] or entry["key"], raw,
                     headers=[(REDRIVE_HEADER, str(attempt).encode())])
    dead_letters.mark_redriven(entry, time.time())
    return "redriven"


def _same_job(raw: bytes, job_id: Optional[str]) -> bool:
    if job_id is None:
        return True
    try:
        document = json.loads(raw)
    except ValueError:
        return False
    return isinstance(document, dict) and job_id in (
        document.get("job_id"), document.get("request_id"), document.get("requestId"))


async def _audit(rows: List[Dict[str, Any]]) -> None:
    for row in rows:
        log.info("redrive_audit", **row)
    if settings.database_url is None or not rows:
        return
    try:
        await audit.write(settings.database_url, rows)
    except (psycopg2.Error, OSError) as exc:
        # The action happened; its record is in the log line above.
        log.error("redrive_audit_not_stored", failure=failure_kind(exc), rows=len(rows))
