"""The dashboard without servers: what a published result leaves for it, throughput from
samples, and HTML in which text from logs and models cannot become markup."""
from __future__ import annotations

import pytest

from bifrost_streams import outcomes, recent
from bifrost_streams.web import dashboard

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def result(job_id: str, **fields) -> dict:
    return {"job_id": job_id, "status": "SUCCEEDED", "severity": "HIGH", "summary": "ok",
            "model_used": "fake-model", "latency_ms": 12, "timestamp": "2026-01-31T10:00:00Z",
            "error_code": None, "error_message": None,
            "result": {"cache_hit": False, "category": "network.timeout"},
            **fields}


@pytest.fixture(autouse=True)
def fresh():
    recent.clear()
    yield
    recent.clear()


async def test_a_published_result_is_remembered_newest_first(monkeypatch):
    async def sent(*_args):
        return None
    monkeypatch.setattr(outcomes, "send_bytes", sent)
    published = [result(f"job-{n}") for n in range(recent.LATEST + 5)]
    for item in published:
        await outcomes.publish_result(item)
    latest = recent.latest()
    assert len(latest) == recent.LATEST
    assert latest[0] is published[-1]  # a reference, not a copy
    assert latest == published[::-1][:recent.LATEST]


def test_throughput_is_over_the_last_minute_of_samples():
    assert recent.throughput(100.0, 0) is None  # nothing sampled yet
    recent.sample(0.0, 0)
    recent.sample(30.0, 600)
    assert recent.throughput(30.0, 600) == pytest.approx(20.0)
    recent.sample(60.0, 900)
    assert recent.throughput(60.0, 900) == pytest.approx(15.0)
    # The sample at 0 s is out of the minute now: the rate runs from 30 s.
    recent.sample(70.0, 1000)
    assert recent.throughput(70.0, 1000) == pytest.approx(400 / 40)
    assert recent.throughput(200.0, 1000) is None  # no sample in the last minute


def test_text_from_logs_and_models_is_escaped():
    recent.remember(result("job-1", summary=HOSTILE))
    recent.remember(result("job-2", status="FAILED", summary=None, severity=None,
                           error_code="TIMEOUT", error_message=HOSTILE, result={}))
    data = dashboard.snapshot()
    data["breakers"] = {HOSTILE: "closed"}
    data["templates"] = [{"service": "svc", "template_id": "svc:1", "severity": "ERROR",
                          "occurrences": 3, "template": HOSTILE}]
    page = dashboard.render(data)
    escaped = ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; '
               '&lt;img src=x onerror=alert(1)&gt;')
    assert "<script" not in page and "<img" not in page
    assert page.count(escaped) == 4  # summary, error message, breaker, template
    assert "TIMEOUT: " + escaped in page
    assert page.index("job-2") < page.index("job-1")  # newest first


def test_the_page_shows_this_processes_figures():
    recent.remember(result("job-1"))
    page = dashboard.render(dashboard.snapshot())
    assert '<meta http-equiv="refresh"' in page and '<link rel="icon" href="data:,">' in page
    assert 'id="throughput" class="figure">measuring<' in page  # no sample taken yet
    assert "<td>ollama</td><td>closed</td>" in page  # the unit tests' provider chain
    assert "<td>job-1</td><td>SUCCEEDED</td><td>HIGH</td><td>network.timeout</td><td>ok</td>" \
           "<td>fake-model</td><td>no</td><td>12</td>" in page
    assert '<table id="families">' in page
    assert "src=" not in page and "href=\"http" not in page  # nothing loaded from elsewhere
