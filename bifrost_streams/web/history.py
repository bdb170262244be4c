"""History views over PostgreSQL: GET /analyses and GET /analyses/stats (JSON).

They read bifrost_analyses, which every worker writes, so any worker answers for the whole
group. A bad parameter is the caller's to fix (400); no database, or one that does not answer,
is not (503).
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

import psycopg2
import structlog
from faust.web import Request, Response, View

from bifrost_streams.app import app, settings
from bifrost_streams.safe_messages import database_failure, failure_kind
from bifrost_streams.storage import history

log = structlog.get_logger("bifrost.web.history")

PERSISTENCE_OFF = ("persistence is off (BIFROST_DATABASE_URL is unset): "
                   "no analyses are stored, so there is no history")


async def _answer(view: View, request: Request, parse: Callable[[Mapping[str, str]], Any],
                  fetch: Callable[[str, Any], Awaitable[dict]]) -> Response:
    try:
        parsed = parse(request.query)
    except history.ParameterError as exc:
        return view.error(400, str(exc))
    if settings.database_url is None:
        return view.error(503, PERSISTENCE_OFF)
    try:
        return view.json(await fetch(settings.database_url, parsed))
    except (psycopg2.Error, OSError, asyncio.TimeoutError) as exc:
        # The driver's message can name hosts and users: neither the caller nor the log
        # gets it, only its kind (and SQLSTATE).
        log.warning("history_unavailable", path=request.path, failure=failure_kind(exc))
        return view.error(503, database_failure("PostgreSQL", exc))


@app.page("/analyses")
class AnalysesView(View):
    async def get(self, request: Request) -> Response:
        return await _answer(self, request, history.parse_history, history.fetch_history)


@app.page("/analyses/stats")
class AnalysesStatsView(View):
    async def get(self, request: Request) -> Response:
        return await _answer(self, request, history.parse_hours, history.fetch_stats)
