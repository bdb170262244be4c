"""GET /templates: the top log templates by occurrences in the newest window (by the
requests' timestamps) that holds any.

Counts are this worker's partitions (tables/template_counts.py); with several workers each
answers for its own share of the jobs.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from faust.web import Request, Response, View

from bifrost_streams.app import app
from tables import template_counts, templates

MAX_LIMIT = 500


@app.page("/templates")
class TemplatesView(View):
    async def get(self, request: Request) -> Response:
        window = request.query.get("window", "1m")
        if window not in template_counts.WINDOWS:
            return self.error(400, f"window must be one of {', '.join(template_counts.WINDOWS)}")
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        start, ranked = template_counts.top(window, limit)
        items = []
        for (service, template_id, severity), occurrences in ranked:
            known = templates.templates.get(template_id) or {}
            items.append({"service": service, "template_id": template_id,
                          "template": known.get("template"), "severity": severity,
                          "occurrences": occurrences})
        return self.json({"window": window, "start": _iso(start), "items": items})


def _iso(start: Optional[int]) -> Optional[str]:
    if start is None:
        return None
    return datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
