"""The dashboard at / in headless Chromium, on a real worker (Apache Kafka, PostgreSQL, the fake
Ollama): it loads without a console error and shows the result just produced."""
from __future__ import annotations

import re

import pytest

from tests.requests_corpus import inline_request
from tests.support.browser import chromium
from tests.support.kafka_io import as_messages, produce, read_topic

pytestmark = pytest.mark.integration


def _row(text: str, first_cell: str) -> list:
    """The cells of the table row that starts with first_cell, as the browser shows it."""
    rows = [line.split("\t") for line in text.splitlines() if line.startswith(first_cell + "\t")]
    assert len(rows) == 1, (first_cell, text)
    return rows[0]


async def test_the_dashboard_shows_a_result_just_produced(pipeline_env, worker_factory):
    env = pipeline_env
    worker = worker_factory().start().wait_ready()
    request = inline_request("ERROR Redis GET session:17 failed: connection refused", "orders")
    job_id = request["request_id"]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages([request]))
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: any(r["value"]["job_id"] == job_id for r in rs), 90,
                               "the request's result")
    (produced,) = [r["value"] for r in records if r["value"]["job_id"] == job_id]
    assert produced["status"] == "SUCCEEDED"

    async with chromium() as browser:
        page = await browser.load(f"http://127.0.0.1:{worker.port}/")
        # The same browser does see a failed load: an empty list above is not a deaf one.
        missing = await browser.load(f"http://127.0.0.1:{worker.port}/no-such-page")

    assert page.errors == []
    assert any("404" in error for error in missing.errors), missing.errors
    assert "<title>bifrost-streams</title>" in page.html

    job, status, severity, family, summary, model, cache_hit, latency, timestamp = _row(
        page.text, job_id)
    assert (status, severity, family, summary, model) == (
        "SUCCEEDED", produced["severity"], produced["result"]["category"], produced["summary"],
        produced["model_used"])
    assert (cache_hit, latency, timestamp) == (
        {True: "yes", False: "no"}[produced["result"]["cache_hit"]],
        str(produced["latency_ms"]), produced["timestamp"])

    assert _row(page.text, "SUCCEEDED")[1] == "1"
    assert _row(page.text, "FAILED")[1] == "0"
    assert _row(page.text, produced["result"]["category"])[1] == "1"  # its family
    assert _row(page.text, "ollama")[1] == "closed"  # it answered
    template = _row(page.text, "orders")
    assert template[1:3] == ["HIGH", "1"] and template[4] == produced["result"]["template_id"]
    assert re.search(r"\b0 waiting\b", page.text)  # the DLQ

    # One result since the worker started, more than a second ago (its broker and tables took
    # longer than that), and less than a minute ago.
    figure = re.search(r"([0-9]+\.[0-9]+) results/s", page.text)
    assert figure and 0 < float(figure.group(1)) <= 1, page.text
