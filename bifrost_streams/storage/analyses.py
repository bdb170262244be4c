"""This project's own table of analyses (never Heimdall's analysis_results), and the results
that could not be stored in it (bifrost_parked_results).

The schema is created at start-up, idempotently. Rows are written by the persist agent from
analysis.result, so a row exists for every published result once PostgreSQL is reachable.
Every string is cleaned first (storage/sanitize.py). A result that still cannot be stored (a
value its column refuses, a missing field) is parked: kept as JSON text with the reason, so a
bad row never holds back the batch it came in, and nothing is silently dropped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

import psycopg2

from ..safe_messages import failure_kind
from .pool import execute_schema, get_pool
from .sanitize import clean, clean_text

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
CREATE TABLE IF NOT EXISTS bifrost_parked_results (
    digest      TEXT PRIMARY KEY,
    job_id      TEXT,
    error_kind  TEXT NOT NULL,
    error       TEXT NOT NULL,
    document    TEXT NOT NULL,
    parked_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

COLUMNS = ("job_id", "status", "severity", "confidence", "model_used", "summary", "root_cause",
           "recommendation", "error_code", "error_message", "trace_id", "log_id", "service_name",
           "provider", "cache_hit", "prompt_tokens", "completion_tokens", "total_tokens",
           "latency_ms", "result", "produced_at")
PARKED_COLUMNS = ("digest", "job_id", "error_kind", "error", "document")
# Faults of a row's values (SQLSTATE classes): data exceptions, integrity constraint
# violations, program limits (a JSON value nested too deep). Anything else (a lost
# connection, a server shutting down) is PostgreSQL's, and the whole batch is retried.
ROW_FAULT_CLASSES = ("22", "23", "54")
ERROR_CHARS = 300


@dataclass
class Stored:
    inserted: int = 0  # rows sent (a job already stored counts too: ON CONFLICT keeps it)
    parked: List["Unstorable"] = field(default_factory=list)


@dataclass(frozen=True)
class Unstorable:
    """A result, or a message on the result topic, that has no place in bifrost_analyses."""

    document: Any  # the parsed JSON, or the raw text when it was not JSON
    kind: str  # unreadable (not a result), unstorable (no column fits), refused (by PostgreSQL)
    error: str  # for the table: what was wrong, the database's first line included
    failure: str = ""  # for a log line: the exception's kind only, never a value

    @property
    def job_id(self) -> Optional[str]:
        job_id = self.document.get("job_id") if isinstance(self.document, dict) else None
        return clean_text(job_id)[:200] if isinstance(job_id, str) else None


async def create_schema(dsn: str) -> None:
    await execute_schema(dsn, SCHEMA)


def _typed(name: str, value: Any, types: tuple) -> Any:
    # psycopg2 would adapt a dict or a list into SQL that fails for reasons of its own.
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)
                              and bool not in types):
        raise TypeError(f"{name} must be {' or '.join(t.__name__ for t in types)} or null, "
                        f"got {type(value).__name__}")
    return value


def _count(name: str, value: Any) -> int:
    return _typed(name, value, (int,)) or 0


def row(result: Dict[str, Any]) -> tuple:
    """The result as a row, every string cleaned; TypeError or KeyError when a value has no
    column it fits (PostgreSQL judges the rest: ranges, the timestamp)."""
    result = clean(result)
    usage = _typed("token_usage", result.get("token_usage"), (dict,)) or {}
    extra = _typed("result", result.get("result"), (dict,)) or {}
    if not isinstance(result["job_id"], str) or not result["job_id"]:
        raise TypeError("job_id must be a non-empty string")
    text = {name: _typed(name, result.get(name), (str,)) for name in (
        "status", "severity", "model_used", "summary", "root_cause", "recommendation",
        "error_code", "error_message", "trace_id", "timestamp")}
    if text["status"] is None or text["timestamp"] is None:
        raise KeyError("status and timestamp are required")
    return (
        result["job_id"], text["status"], text["severity"],
        _typed("confidence", result.get("confidence"), (int, float)), text["model_used"],
        text["summary"], text["root_cause"], text["recommendation"], text["error_code"],
        text["error_message"], text["trace_id"], _typed("log_id", result.get("log_id"), (int,)),
        _typed("service_name", extra.get("service_name"), (str,)),
        _typed("provider", extra.get("provider"), (str,)),
        _typed("cache_hit", extra.get("cache_hit"), (bool,)),
        _count("prompt_tokens", usage.get("prompt_tokens")),
        _count("completion_tokens", usage.get("completion_tokens")),
        _count("total_tokens", usage.get("total_tokens")),
        _count("latency_ms", result.get("latency_ms")), json.dumps(extra, allow_nan=False),
        text["timestamp"],
    )


def _reason(exc: BaseException) -> str:
    """What went wrong, on one line, without the statement or the values it quoted."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return clean_text(f"{type(exc).__name__}: {first}")[:ERROR_CHARS]


def row_fault(exc: BaseException) -> bool:
    """True when the row's values are at fault, not the database or the connection."""
    if isinstance(exc, psycopg2.Error):
        return (exc.pgcode or "")[:2] in ROW_FAULT_CLASSES
    # psycopg2 refuses some values before sending them (a NUL, an unencodable character).
    return isinstance(exc, (ValueError, TypeError, UnicodeError, RecursionError))


def parked_row(item: Unstorable) -> tuple:
    # ASCII JSON: NUL, surrogates and every other character survive as escapes, in TEXT.
    try:
        document = json.dumps(item.document, ensure_ascii=True, default=repr)
    except (RecursionError, ValueError):
        document = json.dumps({"unrepresentable": type(item.document).__name__})
    digest = hashlib.sha256(f"{item.kind}|{document}".encode()).hexdigest()
    return digest, item.job_id, item.kind, clean_text(item.error)[:ERROR_CHARS], document


async def _insert(cur, table: str, columns: Tuple[str, ...], rows: List[tuple],
                  conflict: str) -> None:
    # aiopg runs in autocommit; one multi-row statement keeps the rows together.
    values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    await cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} "
                      f"ON CONFLICT ({conflict}) DO NOTHING",
                      [value for r in rows for value in r])


async def insert_results(dsn: str, results: Iterable[Dict[str, Any]],
                         unstorable: Iterable[Unstorable] = ()) -> Stored:
    """Insert the results; park those that cannot be stored, and `unstorable` as well.

    The batch goes in one statement. When PostgreSQL refuses it for a value, each row is
    tried alone and the refused ones are parked, so the others are stored and the batch is
    done. A redelivered result is the stored one unchanged, so the first row written stands;
    parking is keyed by a digest of what is parked, so a retried batch parks nothing twice."""
    stored = Stored()
    rows: List[Tuple[Dict[str, Any], tuple]] = []
    parked: List[Unstorable] = list(unstorable)
    for result in results:
        try:
            rows.append((result, row(result)))
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            parked.append(Unstorable(result, "unstorable", _reason(exc), failure_kind(exc)))
    if not rows and not parked:
        return stored
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            if rows:
                try:
                    await _insert(cur, "bifrost_analyses", COLUMNS, [r for _, r in rows],
                                  "job_id")
                    stored.inserted = len(rows)
                except Exception as exc:  # noqa: BLE001 - sorted by row_fault just below
                    if not row_fault(exc):
                        raise
                    for result, one in rows:
                        try:
                            await _insert(cur, "bifrost_analyses", COLUMNS, [one], "job_id")
                            stored.inserted += 1
                        except Exception as refused:  # noqa: BLE001
                            if not row_fault(refused):
                                raise
                            parked.append(Unstorable(result, "refused", _reason(refused),
                                                     failure_kind(refused)))
            if parked:
                await _insert(cur, "bifrost_parked_results", PARKED_COLUMNS,
                              [parked_row(item) for item in parked], "digest")
    stored.parked = parked
    return stored
