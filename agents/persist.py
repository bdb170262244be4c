"""Stores every published result in PostgreSQL (bifrost_analyses), in batches.

It reads analysis.result, so a row is written for exactly what Heimdall received, and the
offsets commit only after the batch is in the database: while PostgreSQL is down this agent
waits and retries, and nothing is lost. A message that cannot be stored (not a result, or a
value PostgreSQL refuses) is parked in bifrost_parked_results, logged and counted; it never
holds back the batch it came in.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Tuple

import psycopg2
import structlog

from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.safe_messages import failure_kind
from bifrost_streams.storage import audit
from bifrost_streams.storage.analyses import Unstorable, create_schema, insert_results

log = structlog.get_logger("bifrost.persist")

BATCH = 500
BATCH_SECONDS = 0.5
RETRY_SECONDS = (0.5, 1, 2, 5, 10)

persisted_topic = app.topic(settings.result_topic, key_type=str, value_type=bytes,
                            value_serializer="raw")
schema_ready = asyncio.Event()


async def _with_retry(what: str, action):
    attempt = 0
    while True:
        try:
            return await action()
        except (psycopg2.Error, OSError, asyncio.TimeoutError) as exc:
            delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
            attempt += 1
            metrics.PERSISTED.labels("retry").inc()
            # The driver's text can name the host and the user: the log gets its kind.
            log.warning("postgres_unavailable", action=what, failure=failure_kind(exc),
                        retry_in_s=delay)
            await asyncio.sleep(delay)


if settings.database_url:
    @app.task
    async def create_tables() -> None:
        await _with_retry("create_schema", lambda: create_schema(settings.database_url))
        await _with_retry("create_audit_schema",
                          lambda: audit.create_schema(settings.database_url))
        schema_ready.set()
        log.info("schema_ready", tables=["bifrost_analyses", "bifrost_parked_results",
                                         "bifrost_redrive_audit"])

    @app.agent(persisted_topic)
    async def persist(stream):
        async for batch in stream.take(BATCH, within=BATCH_SECONDS):
            await schema_ready.wait()
            rows, unreadable = _read(batch)
            stored = await _with_retry("insert", lambda: insert_results(
                settings.database_url, rows.values(), unreadable))
            metrics.PERSISTED.labels("ok").inc(stored.inserted)
            if stored.parked:
                metrics.PERSISTED.labels("parked").inc(len(stored.parked))
            for item in stored.parked:
                log.error("result_parked", job_id=item.job_id, kind=item.kind,
                          failure=item.failure or item.error, table="bifrost_parked_results")


def _read(batch) -> Tuple[Dict[str, Dict[str, Any]], List[Unstorable]]:
    """The batch's results by job id (a redelivered result is the same one), and the messages
    that are not results at all."""
    rows: Dict[str, Dict[str, Any]] = {}
    unreadable: List[Unstorable] = []
    for raw in batch:
        try:
            result = json.loads(raw)
        except (ValueError, TypeError, RecursionError) as exc:
            # Not ours: someone else wrote to analysis.result. Kept, as text.
            text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
            unreadable.append(Unstorable(text, "unreadable", f"not JSON: {type(exc).__name__}"))
            continue
        job_id = result.get("job_id") if isinstance(result, dict) else None
        if not isinstance(job_id, str):
            unreadable.append(Unstorable(result, "unreadable", "no job_id string"))
            continue
        rows[job_id] = result
    return rows, unreadable
