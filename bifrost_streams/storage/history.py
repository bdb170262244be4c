"""Reads bifrost_analyses back for the history views (/analyses and /analyses/stats).

Query-string values are parsed here, not in the views, so every rule is unit-testable without
a server; a bad value raises ParameterError naming its parameter. Values reach SQL only as
parameters; only fixed column names from this module are ever spliced into a statement.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ..families import IDS as FAMILY_IDS
from ..severity import SEVERITIES
from .analyses import COLUMNS
from .pool import get_pool
from .sanitize import clean_text

STATUSES = ("SUCCEEDED", "FAILED")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
DEFAULT_HOURS, MAX_HOURS = 24, 720
# PostgreSQL's OFFSET is a bigint; a larger number would fail in the database, not here.
MAX_OFFSET = 2**63 - 1

HISTORY_PARAMETERS = ("limit", "offset", "service_name", "model", "status", "severity",
                      "family", "since", "until")
STATS_PARAMETERS = ("hours",)


class ParameterError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class HistoryQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    service_name: Optional[str] = None
    model: Optional[str] = None
    status: Optional[str] = None
    severity: Optional[str] = None
    family: Optional[str] = None  # its finer children (`family.child`) match too
    since: Optional[datetime] = None  # inclusive
    until: Optional[datetime] = None  # exclusive, so adjacent windows never share a row


def _shown(value: str) -> str:
    # The value is echoed back to help the caller; a long one is cut so the answer stays small.
    return repr(value if len(value) <= 60 else value[:60] + "…")


def _reject_unknown(params: Mapping[str, str], known: Iterable[str]) -> None:
    # A misspelt filter (sevrity=HIGH) would otherwise answer unfiltered rows that look right.
    for name in params:
        if name not in known:
            raise ParameterError(name, f"unknown parameter {_shown(name)}; "
                                       f"known: {', '.join(known)}")


def _given(params: Mapping[str, str], name: str) -> Optional[str]:
    # An empty value (an unfilled form field) means "not given".
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if clean_text(value) != value:
        # No stored text holds a NUL or a lone surrogate, and psycopg2 would refuse the
        # query with an error of its own.
        raise ParameterError(name, f"{name} must not contain NUL or invalid characters")
    return value.strip()


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _given(params, name)
    if value is None:
        return default
    # int() would also take "1_000", "+5" and non-ASCII digits, and raises on more than 4300
    # digits; every bound here fits in 19.
    if not re.fullmatch(r"[0-9]{1,19}", value) or not low <= int(value) <= high:
        raise ParameterError(name, f"{name} must be an integer from {low} to {high}, "
                                   f"got {_shown(value)}")
    return int(value)


def _choice(params: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> Optional[str]:
    value = _given(params, name)
    if value is None:
        return None
    if value.upper() not in choices:
        raise ParameterError(name, f"{name} must be one of {', '.join(choices)}, "
                                   f"got {_shown(value)}")
    return value.upper()


def _family(params: Mapping[str, str]) -> Optional[str]:
    value = _given(params, "family")
    if value is not None and value.lower() not in FAMILY_IDS:
        raise ParameterError("family", f"family must be one of {', '.join(FAMILY_IDS)}, "
                                       f"got {_shown(value)}")
    return None if value is None else value.lower()


def _timestamp(params: Mapping[str, str], name: str) -> Optional[datetime]:
    value = _given(params, name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ParameterError(name, f"{name} must be an ISO-8601 timestamp such as "
                                   f"2026-01-31T10:00:00Z, got {_shown(value)}") from None
    # Contract timestamps are UTC, so one without an offset is read as UTC too.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_history(params: Mapping[str, str]) -> HistoryQuery:
    _reject_unknown(params, HISTORY_PARAMETERS)
    query = HistoryQuery(
        limit=_integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_integer(params, "offset", 0, 0, MAX_OFFSET),
        service_name=_given(params, "service_name"), model=_given(params, "model"),
        status=_choice(params, "status", STATUSES),
        severity=_choice(params, "severity", SEVERITIES),
        family=_family(params),
        since=_timestamp(params, "since"), until=_timestamp(params, "until"))
    if query.since and query.until and query.since > query.until:
        raise ParameterError("since", "since must not be later than until")
    return query


def parse_hours(params: Mapping[str, str]) -> int:
    _reject_unknown(params, STATS_PARAMETERS)
    return _integer(params, "hours", DEFAULT_HOURS, 1, MAX_HOURS)


def _where(query: HistoryQuery) -> Tuple[str, List[Any]]:
    conditions = [("service_name = %s", query.service_name), ("model_used = %s", query.model),
                  ("status = %s", query.status), ("severity = %s", query.severity),
                  ("produced_at >= %s", query.since), ("produced_at < %s", query.until)]
    used = [(sql, [value]) for sql, value in conditions if value is not None]
    if query.family is not None:
        used.append(("(result->>'category' = %s OR starts_with(result->>'category', %s))",
                     [query.family, query.family + "."]))
    if not used:
        return "", []
    return (" WHERE " + " AND ".join(sql for sql, _ in used),
            [value for _, values in used for value in values])


def history_sql(query: HistoryQuery) -> Tuple[str, List[Any]]:
    where, args = _where(query)
    # job_id breaks ties: produced_at has whole seconds, and pages must not overlap.
    return (f"SELECT {', '.join(COLUMNS)} FROM bifrost_analyses{where} "
            f"ORDER BY produced_at DESC, job_id DESC LIMIT %s OFFSET %s",
            args + [query.limit, query.offset])


def count_sql(query: HistoryQuery) -> Tuple[str, List[Any]]:
    where, args = _where(query)
    return f"SELECT count(*) FROM bifrost_analyses{where}", args


# One grouped pass gives every breakdown, all from the same snapshot of the table.
STATS_SQL = ("SELECT model_used, status, severity, count(*), sum(latency_ms), "
             "count(*) FILTER (WHERE cache_hit) FROM bifrost_analyses "
             "WHERE produced_at >= %s GROUP BY model_used, status, severity")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def item(row: Iterable[Any]) -> Dict[str, Any]:
    out = dict(zip(COLUMNS, row))
    out["confidence"] = None if out["confidence"] is None else float(out["confidence"])
    out["token_usage"] = {key: out.pop(key)
                          for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
    out["produced_at"] = iso(out["produced_at"])
    return out


def _average(total: float, count: int) -> Optional[float]:
    return round(total / count, 1) if count else None


def _busiest_first(entry: Tuple[Optional[str], List[int]]) -> Tuple[int, bool, str]:
    model, (count, _) = entry
    return -count, model is None, model or ""


def summarise(rows: Iterable[Tuple], hours: int, since: datetime) -> Dict[str, Any]:
    """rows: (model_used, status, severity, count, latency sum, cache hits) from STATS_SQL."""
    statuses = dict.fromkeys(STATUSES, 0)
    severities = dict.fromkeys(SEVERITIES, 0)
    models: Dict[Optional[str], List[int]] = {}
    count = latency = cache_hits = 0
    for model, status, severity, n, latency_sum, hits in rows:
        count, latency, cache_hits = count + n, latency + int(latency_sum or 0), cache_hits + hits
        statuses[status] = statuses.get(status, 0) + n
        if severity is not None:
            severities[severity] = severities.get(severity, 0) + n
        per_model = models.setdefault(model, [0, 0])
        per_model[0] += n
        per_model[1] += int(latency_sum or 0)
    return {
        "hours": hours, "since": iso(since),
        "totals": {"all": count, "succeeded": statuses["SUCCEEDED"],
                   "failed": statuses["FAILED"]},
        "avg_latency_ms": _average(latency, count), "cache_hits": cache_hits,
        # A failure before any model answered has no model: it is counted under null.
        "models": [{"model": model, "count": n, "avg_latency_ms": _average(total, n)}
                   for model, (n, total) in sorted(models.items(), key=_busiest_first)],
        "statuses": statuses, "severities": severities,
    }


async def fetch_history(dsn: str, query: HistoryQuery) -> Dict[str, Any]:
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(*history_sql(query))
            rows = await cur.fetchall()
            await cur.execute(*count_sql(query))
            (total,) = await cur.fetchone()
    return {"items": [item(row) for row in rows], "limit": query.limit,
            "offset": query.offset, "total": total}


async def fetch_stats(dsn: str, hours: int) -> Dict[str, Any]:
    since = datetime.now(timezone.utc) - timedelta(hours=hours)
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(STATS_SQL, (since,))
            rows = await cur.fetchall()
    return summarise(rows, hours, since)
