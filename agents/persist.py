"""Stores every published result in PostgreSQL (bifrost_analyses), in batches.

It reads analysis.result, so a row is written for exactly what Heimdall received, and the
offsets commit only after the batch is in the database: while PostgreSQL is down this agent
waits and retries, and nothing is lost.
"""
from __future__ import annotations

import asyncio
import json

import psycopg2
import structlog

from bifrost_streams import metrics
from bifrost_streams.app import app, settings
from bifrost_streams.storage import audit
from bifrost_streams.storage.analyses import create_schema, insert_results

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
            log.warning("postgres_unavailable", action=what, error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)


if settings.database_url:
    @app.task
    async def create_tables() -> None:
        await _with_retry("create_schema", lambda: create_schema(settings.database_url))
        await _with_retry("create_audit_schema",
                          lambda: audit.create_schema(settings.database_url))
        schema_ready.set()
        log.info("schema_ready", tables=["bifrost_analyses", "bifrost_redrive_audit"])

    @app.agent(persisted_topic)
    async def persist(stream):
        async for batch in stream.take(BATCH, within=BATCH_SECONDS):
            await schema_ready.wait()
            rows = {}
            for raw in batch:
                try:
                    result = json.loads(raw)
                    rows[result["job_id"]] = result
                except (ValueError, TypeError, KeyError) as exc:
                    # Not ours to fix: someone else wrote to analysis.result. Skip, loudly.
                    metrics.PERSISTED.labels("skipped").inc()
                    log.error("unreadable_result", error=str(exc))
            await _with_retry("insert", lambda: insert_results(settings.database_url,
                                                               rows.values()))
            metrics.PERSISTED.labels("ok").inc(len(rows))
