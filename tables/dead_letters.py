"""Dead letters waiting for an operator: one entry per job (or unparseable message) that
went to dlq.failed, with its reason, failures, redrives and first and last time seen.

An entry never holds the payload: only a redacted excerpt of at most EXCERPT_CHARS, and where
the original request lies (topic, partition, offset), which is where a redrive reads it back
(web/dlq.py). The dlq.failed event itself carries the whole payload, as the contract says.

Entries are written while the failing event is processed, so each lives on that event's
partition and only the worker owning it reads or changes it (with several workers the views
ask every worker, web/dlq.py). A redrive is written from a web view, outside any event: the
memory store takes such writes, and the entry's changelog partition is the one it recorded.
A job redriven and then served is removed. Entries expire BIFROST_DLQ_RETENTION_SECONDS after
their last failure, and a worker keeps at most BIFROST_DLQ_MAX_ENTRIES on its partitions (the
least recently failed leave first); both removals send tombstones, so a restart does not bring
them back.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

import structlog

from bifrost_streams.app import app, redaction_rules, settings
from bifrost_streams.records import DlqEvent
from bifrost_streams.redaction import redact_text
from tables import changelog

log = structlog.get_logger("bifrost.dead_letters")

WAITING = "WAITING"
REDRIVEN = "REDRIVEN"
# Enough to recognise a request in the /dlq listing; the request itself stays in its topic.
EXCERPT_CHARS = 1024
# Identifiers and messages come from the failing input: bounded like the excerpt.
FIELD_CHARS = 256
MESSAGE_CHARS = 1024
CUT = "…"

dead_letters = app.Table(
    "dead-letters",
    default=None,
    key_type=str,
    store="memory://local",  # see the module docstring; "memory://" parses as a falsy URL
    help="job id (else idempotency key, else topic/partition@offset) -> dead letter: reason, "
         "redacted excerpt and where the original request lies",
)


def key_of(event: DlqEvent) -> str:
    where = f"{event.original_topic}/{event.original_partition}@{event.original_offset}"
    key = event.job_id or event.idempotency_key or where
    return key if len(key) <= FIELD_CHARS else where


# Redacted before the cut, on this much: a secret that straddled the cut would otherwise lose
# the part its rule recognises and keep the rest (a PEM block of an RSA 4096 key is ~3.3 KB).
REDACTED_CHARS = 8 * EXCERPT_CHARS


def excerpt(payload: Any, limit: int = EXCERPT_CHARS) -> str:
    """The payload as JSON, redacted, at most `limit` characters (CUT marks a cut)."""
    text = json.dumps(payload, ensure_ascii=False)[:max(limit, REDACTED_CHARS)]
    return _bounded(redact_text(text, redaction_rules), limit)


def _bounded(text: Optional[str], limit: int) -> Optional[str]:
    if text is None or len(text) <= limit:
        return text
    return text[:limit - len(CUT)] + CUT


def _redacted(text: Optional[str], limit: int) -> Optional[str]:
    return None if text is None else _bounded(redact_text(text[:REDACTED_CHARS],
                                                          redaction_rules), limit)


def redrivable(payload: Any) -> bool:
    """Only a JSON request can be sent again: anything else (kept as {"raw": ...}) would fail
    the same way."""
    return isinstance(payload, dict) and "raw" not in payload


def record(event: DlqEvent, redrive: int = 0) -> None:
    """Called for each dlq.failed event, while its failing event is processed."""
    key = key_of(event)
    now = time.time()
    before: Dict[str, Any] = dead_letters.get(key) or {}
    dead_letters[key] = changelog.stamp({
        "key": key, "job_id": _bounded(event.job_id, FIELD_CHARS),
        "idempotency_key": _redacted(event.idempotency_key, FIELD_CHARS),
        "trace_id": _redacted(event.trace_id, FIELD_CHARS), "error_code": event.error_code,
        "error_message": _redacted(event.error_message, MESSAGE_CHARS),
        "original_topic": event.original_topic,
        "original_partition": event.original_partition,
        "original_offset": event.original_offset,
        "excerpt": excerpt(event.payload), "redrivable": redrivable(event.payload),
        "failures": before.get("failures", 0) + 1,
        "redrives": max(before.get("redrives", 0), redrive),
        "first_seen": before.get("first_seen", now), "last_seen": now, "state": WAITING,
    }, now)
    if len(dead_letters.data) > _trim_above[0]:
        trim()


# Counting the owned entries costs a pass over the table: the pass runs when the table holds
# more than the cap plus the standby copies counted by the last pass, and then removes the
# oldest tenth of the cap at once, so it runs once per tenth of the cap of new dead letters.
_trim_above = [0]


def trim() -> int:
    """Keep at most BIFROST_DLQ_MAX_ENTRIES on this worker's partitions (the least recently
    failed leave first); how many left."""
    cap = settings.dlq_max_entries
    owned = changelog.owned_partitions(app, settings.jobs_topic)
    mine = [(entry["last_seen"], key, entry["partition"])
            for key, entry in dead_letters.data.items() if entry.get("partition") in owned]
    removed = 0
    if len(mine) > cap:
        mine.sort()
        for _, key, partition in mine[:len(mine) - cap + cap // 10]:
            changelog.remove(dead_letters, partition, key)
            removed += 1
        log.warning("dead_letters_trimmed", removed=removed, kept=len(mine) - removed)
    _trim_above[0] = len(dead_letters.data) - (len(mine) - removed) + cap
    return removed


def expire(now: float) -> int:
    """Remove entries whose last failure is older than BIFROST_DLQ_RETENTION_SECONDS."""
    owned = changelog.owned_partitions(app, settings.jobs_topic)
    stale = [(key, entry["partition"]) for key, entry in list(dead_letters.data.items())
             if entry.get("partition") in owned
             and entry.get("last_seen", now) + settings.dlq_retention_seconds <= now]
    for key, partition in stale:
        changelog.remove(dead_letters, partition, key)
    return len(stale)


@app.timer(interval=60.0, on_leader=False)
async def expire_dead_letters() -> None:
    expire(time.time())
    trim()  # also counts again what a rebalance moved


def resolve(job_id: str) -> None:
    """A redriven job was served: it no longer waits (called while its event is processed)."""
    if job_id in dead_letters:
        del dead_letters[job_id]


def local_entries(error_code: Optional[str] = None) -> List[Dict[str, Any]]:
    """Entries on the partitions this worker owns (a standby's copies are not its to act on)."""
    owned = changelog.owned_partitions(app, settings.jobs_topic)
    return [entry for entry in dead_letters.values()
            if entry.get("partition") in owned
            and (error_code is None or entry["error_code"] == error_code)]


def mark_redriven(entry: Dict[str, Any], now: float) -> Dict[str, Any]:
    updated = {**entry, "redrives": entry["redrives"] + 1, "state": REDRIVEN,
               "last_redrive": now}
    changelog.write_soon(dead_letters, entry["key"], updated, entry["partition"])
    return updated


def waiting_count() -> int:
    return sum(1 for entry in local_entries() if entry["state"] == WAITING)
