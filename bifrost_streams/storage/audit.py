"""Audit rows for actions taken through the web views: who redrove which job, when, why, and
what came of it. Written by the worker that acted; kept in this project's database."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from .pool import execute_schema, get_pool
from .sanitize import clean

SCHEMA = """
CREATE TABLE IF NOT EXISTS bifrost_redrive_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    dlq_key     TEXT NOT NULL,
    job_id      TEXT,
    error_code  TEXT,
    attempt     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    worker      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bifrost_redrive_audit_job ON bifrost_redrive_audit (job_id, at);
"""

COLUMNS = ("actor", "reason", "dlq_key", "job_id", "error_code", "attempt", "outcome",
           "worker")


async def create_schema(dsn: str) -> None:
    await execute_schema(dsn, SCHEMA)


async def write(dsn: str, rows: Iterable[Dict[str, Any]]) -> int:
    # The actor and the reason are typed by a person, the ids come from a dead letter: any
    # of them can hold a NUL or a lone surrogate, which PostgreSQL's text cannot.
    values: List[tuple] = [tuple(clean(row[column]) for column in COLUMNS) for row in rows]
    if not values:
        return 0
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(values))
            await cur.execute(f"INSERT INTO bifrost_redrive_audit ({', '.join(COLUMNS)}) "
                              f"VALUES {placeholders}", [v for row in values for v in row])
    return len(values)
