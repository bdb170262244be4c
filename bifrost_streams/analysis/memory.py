"""In-memory stores and services for the analyser: what its tests and benchmarks run on
instead of Faust tables, Kafka and PostgreSQL (the worker's are in tables/*.py)."""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, Awaitable, Dict, List, Optional, Tuple

from .. import codes
from ..codes import JobFailed
from ..mining.miner import Match, MinerConfig, TemplateMiner
from ..records import AnalysisRequest
from ..storage.logs import LogEntry
from .analyzer import DONE, Stores


class MemoryJobs:
    def __init__(self) -> None:
        self.done: Dict[str, Dict[str, Any]] = {}

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        return self.done.get(key)

    def mark_done(self, key: str, job_id: str, result_json: bytes) -> Awaitable[Any]:
        self.done[key] = {"state": DONE, "job_id": job_id, "result": json.loads(result_json)}
        written: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        written.set_result(None)
        return written


class MemoryResults:
    def __init__(self) -> None:
        self.entries: Dict[str, Dict[str, Any]] = {}

    def lookup(self, key: str) -> Optional[Dict[str, Any]]:
        return self.entries.get(key)

    def store(self, key: str, analysis: Dict[str, Any]) -> None:
        self.entries[key] = analysis


class MemoryTemplates:
    def __init__(self, config: Optional[MinerConfig] = None) -> None:
        self.miner = TemplateMiner(config or MinerConfig())

    def classify(self, service: str, text: str) -> Match:
        return self.miner.add(service, text)


class MemoryCounts:
    """Every occurrence counts in every window (a test's events all fall in one minute)."""

    def __init__(self) -> None:
        self.seen: Counter = Counter()

    def count(self, template_id: str, severity: str) -> Dict[str, int]:
        self.seen[template_id, severity] += 1
        total = self.seen[template_id, severity]
        return {"1m": total, "5m": total, "1h": total}


class MemoryPrompts:
    def __init__(self) -> None:
        self.sent: Dict[str, Dict[str, Any]] = {}

    def keep(self, key: str, sent: Dict[str, Any]) -> None:
        self.sent[key] = sent


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.resolved: List[str] = []

    def resolve(self, job_id: str) -> None:
        self.resolved.append(job_id)


class MemoryLogs:
    """Log rows by id; a missing one fails as the PostgreSQL source does after its retries."""

    def __init__(self, rows: Optional[Dict[int, LogEntry]] = None) -> None:
        self.rows = dict(rows or {})

    async def fetch(self, log_id: int) -> LogEntry:
        entry = self.rows.get(log_id)
        if entry is None:
            raise JobFailed(codes.LOG_NOT_FOUND, f"log_entries has no row with id {log_id}")
        return entry

    async def preceding(self, log_id: int, limit: int) -> List[str]:
        service = self.rows[log_id].service_name
        before = [row.content for key, row in sorted(self.rows.items())
                  if key < log_id and row.service_name == service]
        return before[-limit:]


class RecordedFailures:
    """The dead letters the analyser published: (job_id, code, message)."""

    def __init__(self) -> None:
        self.sent: List[Tuple[Optional[str], str, str]] = []

    async def publish_job_dlq(self, request: AnalysisRequest, code: str, message: str) -> None:
        self.sent.append((request.job_id, code, message))


def memory_stores() -> Stores:
    return Stores(jobs=MemoryJobs(), results=MemoryResults(), templates=MemoryTemplates(),
                  counts=MemoryCounts(), dead_letters=MemoryDeadLetters(),
                  prompts=MemoryPrompts())
