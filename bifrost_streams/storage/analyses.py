"""This project's own table of analyses (never Heimdall's analysis_results).

The schema is created at start-up, idempotently. Rows are written by the persist agent from
analysis.result, so a row exists for every published result once PostgreSQL is reachable.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List

from .pool import execute_schema, get_pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS bifrost_analyses (
    job_id          TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    severity        TEXT,
    confidence      NUMERIC(3, 2),
    model_used      TEXT,
    summary         TEXT,
    root_cause      TEXT,
    recommendation  TEXT,
    error_code      TEXT,
    error_message   TEXT,
    trace_id        TEXT,
    log_id          BIGINT,
    service_name    TEXT,
    provider        TEXT,
    cache_hit       BOOLEAN,
    prompt_tokens   INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens    INTEGER NOT NULL DEFAULT 0,
    latency_ms      BIGINT NOT NULL DEFAULT 0,
    result          JSONB NOT NULL DEFAULT '{}'::jsonb,
    produced_at     TIMESTAMPTZ NOT NULL,
    stored_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bifrost_analyses_produced_at ON bifrost_analyses (produced_at);
CREATE INDEX IF NOT EXISTS bifrost_analyses_service ON bifrost_analyses (service_name, produced_at);
"""

COLUMNS = ("job_id", "status", "severity", "confidence", "model_used", "summary", "root_cause",
           "recommendation", "error_code", "error_message", "trace_id", "log_id", "service_name",
           "provider", "cache_hit", "prompt_tokens", "completion_tokens", "total_tokens",
           "latency_ms", "result", "produced_at")

async def create_schema(dsn: str) -> None:
    await execute_schema(dsn, SCHEMA)


def row(result: Dict[str, Any]) -> tuple:
    usage = result.get("token_usage") or {}
    extra = result.get("result") or {}
    return (
        result["job_id"], result["status"], result.get("severity"), result.get("confidence"),
        result.get("model_used"), result.get("summary"), result.get("root_cause"),
        result.get("recommendation"), result.get("error_code"), result.get("error_message"),
        result.get("trace_id"), result.get("log_id"), extra.get("service_name"),
        extra.get("provider"), extra.get("cache_hit"), int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0), int(usage.get("total_tokens") or 0),
        int(result.get("latency_ms") or 0), json.dumps(extra), result["timestamp"],
    )


async def insert_results(dsn: str, results: Iterable[Dict[str, Any]]) -> int:
    rows: List[tuple] = [row(r) for r in results]
    if not rows:
        return 0
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            # aiopg runs in autocommit; one multi-row statement keeps the batch atomic. A
            # redelivered result is the stored one unchanged, so the first row written stands.
            values = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(rows))
            await cur.execute(
                f"INSERT INTO bifrost_analyses ({', '.join(COLUMNS)}) VALUES {values} "
                f"ON CONFLICT (job_id) DO NOTHING",
                [value for r in rows for value in r])
    return len(rows)
