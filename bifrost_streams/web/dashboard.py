"""GET /: a page for operators: throughput, results by status and by failure family, the
latest results, DLQ size, circuit breakers and the top templates of the minute. It reloads
itself every few seconds.

Server-rendered and self-contained: no template engine, no script, nothing fetched from
anywhere (the favicon is a data URI, else the browser asks for /favicon.ico and logs its 404).
Every value passes through html.escape: summaries and templates come from logs and models.

The figures are this worker's (its process, its partitions), like /templates; the group's
history is GET /analyses.

Faust's production index also claims "/"; this page is registered at autodiscovery, before
the worker applies Faust's blueprints, and aiohttp serves the first route added for a path.
"""
from __future__ import annotations

import html
import time
from typing import Any, Dict, Iterable, List, Optional

from faust.web import Request, Response, View
from prometheus_client import Counter

from bifrost_streams import metrics, recent, wiring
from bifrost_streams.app import app
from bifrost_streams.records import result_timestamp
from tables import dead_letters, template_counts, templates

REFRESH_SECONDS = 5
TOP_TEMPLATES = 10
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
section { margin-bottom: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.figure { font-size: 1.6em; font-weight: bold; }
.note { color: #666; }
"""


def _counts(counter: Counter, label: str) -> Dict[str, float]:
    """A labelled counter's value per label value, as /metrics shows them."""
    return {sample.labels[label]: sample.value for family in counter.collect()
            for sample in family.samples if sample.name.endswith("_total")}


def results_by_status() -> Dict[str, float]:
    return _counts(metrics.RESULTS, "status")


def results_by_family() -> Dict[str, float]:
    """Analysed results per failure family since this worker started."""
    return _counts(metrics.RESULTS_BY_FAMILY, "family")


def dlq_size() -> int:
    """Dead letters waiting for a redrive on this worker's partitions."""
    return dead_letters.waiting_count()


@app.timer(interval=1.0, on_leader=False)
async def sample_throughput() -> None:
    recent.sample(time.monotonic(), sum(results_by_status().values()))


def snapshot() -> Dict[str, Any]:
    """What the page shows, read from this process."""
    statuses = results_by_status()
    start, ranked = template_counts.top("1m", TOP_TEMPLATES)
    top = [{"service": service, "template_id": template_id, "severity": severity,
            "occurrences": occurrences,
            "template": (templates.templates.get(template_id) or {}).get("template")}
           for (service, template_id, severity), occurrences in ranked]
    return {"generated_at": result_timestamp(),
            "throughput": recent.throughput(time.monotonic(), sum(statuses.values())),
            "statuses": statuses, "families": results_by_family(), "dlq_size": dlq_size(),
            "breakers": wiring.router().breaker_states(),
            "templates_start": result_timestamp(start) if start is not None else None,
            "templates": top, "latest": recent.latest()}


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _table(table_id: str, headers: List[str], rows: List[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    if rows:
        body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>"
                       for row in rows)
    else:
        body = f'<tr><td colspan="{len(headers)}">none yet</td></tr>'
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _throughput(rate: Optional[float]) -> str:
    return "measuring" if rate is None else f"{rate:.2f}"


def _latest_row(result: Dict[str, Any]) -> List[Any]:
    summary = result.get("summary")
    if summary is None and result.get("error_code"):
        summary = f'{result["error_code"]}: {result.get("error_message") or ""}'
    extra = result.get("result") or {}
    cache_hit = extra.get("cache_hit")
    return [result.get("job_id"), result.get("status"), result.get("severity"),
            extra.get("category"), summary,
            result.get("model_used"), {True: "yes", False: "no"}.get(cache_hit),
            result.get("latency_ms"), result.get("timestamp")]


def render(data: Dict[str, Any]) -> str:
    statuses = {"SUCCEEDED": 0, "FAILED": 0, **data["statuses"]}
    window = data["templates_start"]
    sections = [
        '<section><h2>Throughput</h2><p><span id="throughput" class="figure">'
        f'{_throughput(data["throughput"])}</span> results/s over the last minute</p></section>',
        '<section><h2>Results by status</h2>'
        + _table("statuses", ["status", "results"],
                 [[status, int(count)] for status, count in sorted(statuses.items())])
        + '</section>',
        '<section><h2>Failure families</h2>'
        + _table("families", ["family", "results"],
                 [[family, int(count)] for family, count in
                  sorted(data["families"].items(), key=lambda item: (-item[1], item[0]))])
        + '</section>',
        '<section><h2>Dead-letter queue</h2><p><span id="dlq-size" class="figure">'
        f'{_e(data["dlq_size"])}</span> waiting (GET /dlq lists them)</p></section>',
        '<section><h2>Circuit breakers</h2>'
        + _table("breakers", ["provider", "state"], sorted(data["breakers"].items()))
        + '</section>',
        f'<section><h2>Top templates{_e(f" (minute from {window})" if window else "")}</h2>'
        + _table("templates", ["service", "severity", "occurrences", "template", "template id"],
                 [[t["service"], t["severity"], t["occurrences"], t["template"],
                   t["template_id"]] for t in data["templates"]])
        + '</section>',
        '<section><h2>Latest results</h2>'
        + _table("latest", ["job id", "status", "severity", "family", "summary", "model",
                            "cache hit", "latency ms", "timestamp"],
                 [_latest_row(result) for result in data["latest"]])
        + '</section>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<link rel="icon" href="data:,"><title>bifrost-streams</title>'
        f'<style>{STYLE}</style></head><body><h1>bifrost-streams</h1>'
        f'<p class="note">This worker, at {_e(data["generated_at"])}; '
        f'the page reloads every {REFRESH_SECONDS} s.</p>'
        + "".join(sections) + '</body></html>\n')


@app.page("/")
class DashboardView(View):
    async def get(self, request: Request) -> Response:
        return self.html(render(snapshot()))
