"""Dead letters waiting for an operator: one entry per job (or unparseable message) that
went to dlq.failed, with its reason, failures, redrives and first and last time seen.

Entries are written while the failing event is processed, so each lives on that event's
partition and only the worker owning it reads or changes it (with several workers the views
ask every worker, web/dlq.py). A redrive is written from a web view, outside any event: the
memory store takes such writes, and the entry's changelog partition is the one it recorded.
A job redriven and then served is removed.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from bifrost_streams.app import app, settings
from bifrost_streams.records import DlqEvent
from tables import changelog

WAITING = "WAITING"
REDRIVEN = "REDRIVEN"

dead_letters = app.Table(
    "dead-letters",
    default=None,
    key_type=str,
    store="memory://local",  # see the module docstring; "memory://" parses as a falsy URL
    help="job id (else idempotency key, else topic/partition@offset) -> dead letter",
)


def key_of(event: DlqEvent) -> str:
    return (event.job_id or event.idempotency_key
            or f"{event.original_topic}/{event.original_partition}@{event.original_offset}")


def record(event: DlqEvent, redrive: int = 0) -> None:
    """Called for each dlq.failed event, while its failing event is processed."""
    key = key_of(event)
    now = time.time()
    before: Dict[str, Any] = dead_letters.get(key) or {}
    dead_letters[key] = changelog.stamp({
        "key": key, "job_id": event.job_id, "idempotency_key": event.idempotency_key,
        "trace_id": event.trace_id, "error_code": event.error_code,
        "error_message": event.error_message, "original_topic": event.original_topic,
        "original_partition": event.original_partition,
        "original_offset": event.original_offset, "payload": event.payload,
        "failures": before.get("failures", 0) + 1,
        "redrives": max(before.get("redrives", 0), redrive),
        "first_seen": before.get("first_seen", now), "last_seen": now, "state": WAITING,
    }, now)


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
    dead_letters.send_changelog(entry["partition"], entry["key"], updated)
    dead_letters.data[entry["key"]] = updated
    return updated


def waiting_count() -> int:
    return sum(1 for entry in local_entries() if entry["state"] == WAITING)
