"""Reads the log text of a job from Heimdall's log_entries (never writes there).

Heimdall publishes the request inside its own open transaction, so a row can be invisible for
a moment: a missing row is retried with back-off before it is called missing.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import List, Optional

import psycopg2
from tenacity import (AsyncRetrying, retry_if_exception_type, stop_after_attempt,
                      wait_exponential)

from .. import codes, metrics
from ..codes import JobFailed
from ..safe_messages import database_failure
from .pool import get_pool


@dataclass(frozen=True)
class LogEntry:
    log_id: int
    content: str
    service_name: Optional[str]
    environment: Optional[str]
    severity: Optional[str]


class _NotYet(Exception):
    pass


async def _read(dsn: str, log_id: int) -> LogEntry:
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id, log_content, service_name, environment, severity "
                "FROM log_entries WHERE id = %s", (log_id,))
            row = await cur.fetchone()
    if row is None:
        raise _NotYet()
    return LogEntry(*row)


async def fetch_log(dsn: Optional[str], log_id: int, attempts: int) -> LogEntry:
    """The row, or JobFailed(LOG_NOT_FOUND / LOG_SOURCE_UNAVAILABLE) after `attempts` tries."""
    if dsn is None:
        raise JobFailed(codes.LOG_SOURCE_UNAVAILABLE,
                        "no database configured (HEIMDALL_DATABASE_URL / BIFROST_DATABASE_URL); "
                        "only inline requests can be served")
    retrying = AsyncRetrying(
        retry=retry_if_exception_type((_NotYet, psycopg2.Error, OSError, asyncio.TimeoutError)),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.1, max=2),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                entry = await _read(dsn, log_id)
    except _NotYet:
        metrics.LOG_FETCH.labels("not_found").inc()
        raise JobFailed(codes.LOG_NOT_FOUND,
                        f"log_entries has no row with id {log_id} after {attempts} attempts"
                        ) from None
    except (psycopg2.Error, OSError, asyncio.TimeoutError) as exc:
        metrics.LOG_FETCH.labels("error").inc()
        # The driver's text names the database host and user: the message names the kind.
        raise JobFailed(codes.LOG_SOURCE_UNAVAILABLE,
                        f"{database_failure('the log database', exc)} after {attempts} "
                        f"attempts") from None
    metrics.LOG_FETCH.labels("ok").inc()
    return entry


# The rows searched for a job's context: the ids just below its own (the primary key's index
# bounds the scan), logged by the same service within the window before it.
CONTEXT_ROWS = 200
CONTEXT_SECONDS = 60
CONTEXT_QUERY_SECONDS = 2.0


async def preceding(dsn: str, log_id: int, limit: int) -> List[str]:
    """Up to `limit` texts the row's service logged just before it, oldest first."""
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT e.log_content FROM log_entries e, log_entries f "
                "WHERE f.id = %s AND e.id < f.id AND e.id >= f.id - %s "
                "AND e.service_name IS NOT DISTINCT FROM f.service_name "
                "AND e.timestamp >= f.timestamp - make_interval(secs => %s) "
                "ORDER BY e.id DESC LIMIT %s",
                (log_id, CONTEXT_ROWS, CONTEXT_SECONDS, limit))
            rows = await cur.fetchall()
    return [row[0] for row in reversed(rows)]


class HeimdallLogs:
    """The analyser's log source: Heimdall's log_entries at `dsn`, read with retries."""

    def __init__(self, dsn: Optional[str], attempts: int) -> None:
        self.dsn = dsn
        self.attempts = attempts

    async def fetch(self, log_id: int) -> LogEntry:
        return await fetch_log(self.dsn, log_id, self.attempts)

    async def preceding(self, log_id: int, limit: int) -> List[str]:
        if self.dsn is None:
            return []
        return await asyncio.wait_for(preceding(self.dsn, log_id, limit), CONTEXT_QUERY_SECONDS)
