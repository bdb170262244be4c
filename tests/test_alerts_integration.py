"""Alerts end to end: results on the real broker, the alerts agent, a local Slack stand-in.

The throttle's window is shortened to WINDOW seconds (BIFROST_ALERT_WINDOW_SECONDS); the
behaviour is the same as with the default minute.
"""
from __future__ import annotations

import re

import pytest

from bifrost_streams.alerts.rule import webhook_key
from tests.requests_corpus import inline_request
from tests.support.kafka_io import (as_messages, produce, read_all, read_topic,
                                    wait_drained)
from tests.support.services import wait_for
from tests.support.slack_server import FakeSlack

pytestmark = pytest.mark.integration

WINDOW = 15.0
RETRY_AFTER = 2


@pytest.fixture
def slack():
    server = FakeSlack().start()
    yield server
    server.stop()


def _metric(worker, name: str, **labels: str) -> float:
    code, body = worker.get("/metrics")
    assert code == 200
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    sample = f"{name}{{{selector}}}" if labels else name
    match = re.search(rf"^{re.escape(sample)} (\S+)$", body.decode(), re.M)
    # A labelled counter appears only once counted; a plain gauge is always there.
    assert match or labels, f"no {sample} in /metrics"
    return float(match.group(1)) if match else 0.0


def _job_of(message) -> str:
    """The job an alert message links to."""
    section = message.body["blocks"][3]["text"]["text"]
    return re.search(r"/jobs/([^|>]+)\|", section).group(1)


async def test_fifty_high_results_five_alone_then_one_digest_and_a_429_loses_nothing(
        pipeline_env, worker_factory, fake_ollama, slack):
    env = pipeline_env
    bootstrap, alert_topic = env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_ALERT_TOPIC"]
    fake_ollama.severity = "HIGH"
    slack.answer(3, 429, {"Retry-After": str(RETRY_AFTER)})
    worker = worker_factory(SLACK_WEBHOOK_URL=slack.webhook_url,
                            BIFROST_ALERT_WINDOW_SECONDS=str(WINDOW),
                            BIFROST_PUBLIC_URL="https://bifrost.example").start().wait_ready()
    # Fifty different templates (the words differ), so fifty HIGH analyses.
    requests = [inline_request(f"ERROR unique failure in module-{chr(97 + i // 26)}"
                               f"{chr(97 + i % 26)}", f"svc-{i % 3}") for i in range(50)]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(requests))

    wait_for(lambda: len(slack.accepted()) >= 5, 120, "five alerts sent alone")
    first_sent = slack.accepted()[0].at
    raised = await read_topic(bootstrap, alert_topic, lambda records: len(records) >= 50, 60,
                              "fifty alerts raised")
    # The exact count below needs every alert raised before the window opens again.
    assert slack.all()[-1].at < first_sent + WINDOW, "the machine is too slow for this window"
    assert {record["key"] for record in raised} == {webhook_key(slack.webhook_url)}
    assert not [r for r in raised if FakeSlack.PATH in r["raw"].decode()]

    digest = wait_for(lambda: len(slack.accepted()) >= 6 and slack.accepted()[5], WINDOW + 60,
                      "the digest")
    posts = slack.all()
    assert [post.status for post in posts] == [200, 200, 429, 200, 200, 200, 200]
    # The 429 delayed the third alert by Retry-After; the same message then went through.
    assert posts[3].body == posts[2].body
    assert posts[3].at - posts[2].at >= RETRY_AFTER - 0.05

    alone = slack.accepted()[:5]
    assert all(post.at < first_sent + WINDOW for post in alone)
    assert all("HIGH · svc-" in post.body["blocks"][0]["text"]["text"] for post in alone)
    jobs_alone = {_job_of(post) for post in alone}
    assert len(jobs_alone) == 5 and jobs_alone <= {r["request_id"] for r in requests}

    # The digest waited for the window and covers the other 45: all 50 are accounted for.
    assert digest.at - first_sent >= WINDOW - 0.25
    blocks = digest.body["blocks"]
    assert "45 alerts held back" in blocks[0]["text"]["text"]
    assert blocks[2]["fields"][0]["text"] == "*By severity*\nHIGH 45"
    digest_jobs = set(re.findall(r"/jobs/([^|>]+)\|", blocks[3]["text"]["text"]))
    assert len(digest_jobs) == 5 and not digest_jobs & jobs_alone
    assert _metric(worker, "bifrost_alerts_total", outcome="sent") == 5
    assert _metric(worker, "bifrost_alerts_total", outcome="digested") == 45
    assert _metric(worker, "bifrost_alerts_held") == 0
    assert _metric(worker, "bifrost_slack_requests_total", status="429") == 1

    # Redelivered requests re-publish their stored results: the same alerts, not sent again.
    again = [r for r in requests if r["request_id"] in jobs_alone]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(again))
    wait_for(lambda: _metric(worker, "bifrost_alerts_total", outcome="duplicate") == 5, 60,
             "five duplicate alerts")
    assert len(slack.all()) == 7
    assert len(await read_all(bootstrap, alert_topic)) == 55

    assert FakeSlack.PATH not in worker.log_path.read_text()


async def test_alerts_held_when_the_worker_dies_are_sent_by_the_next_one(
        pipeline_env, worker_factory, fake_ollama, slack, tmp_path):
    env = pipeline_env
    bootstrap, alert_topic = env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_ALERT_TOPIC"]
    fake_ollama.severity = "CRITICAL"
    # A window far longer than the test: the first worker sends two, then only holds.
    alerting = {"SLACK_WEBHOOK_URL": slack.webhook_url, "THROTTLE_MAX_PER_MINUTE": "2",
                "BIFROST_ALERT_WINDOW_SECONDS": "600"}
    first = worker_factory("first", **alerting).start().wait_ready()
    requests = [inline_request(f"FATAL disk controller fault on shelf-{chr(97 + i)}", "storage")
                for i in range(12)]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(requests))
    wait_for(lambda: _metric(first, "bifrost_alerts_held") == 10, 120, "ten alerts held")
    # Committed offsets come after the producer's flush: the held table's writes are durable.
    await wait_drained(bootstrap, env["BIFROST_APP_ID"], [alert_topic], timeout=60)
    assert len(slack.all()) == 2
    first.kill()

    second = worker_factory("second", BIFROST_DATA_DIR=str(tmp_path / "data-2"), **alerting)
    second.start().wait_ready(180)
    digest = wait_for(lambda: len(slack.accepted()) >= 3 and slack.accepted()[2], 120,
                      "the digest from the second worker")
    assert "10 alerts held back" in digest.body["blocks"][0]["text"]["text"]
    assert digest.body["blocks"][2]["fields"][0]["text"] == "*By severity*\nCRITICAL 10"
    alone = {_job_of(post) for post in slack.accepted()[:2]}
    in_digest = set(re.findall(r"/jobs/([^|>]+)\|", digest.body["blocks"][3]["text"]["text"]))
    assert len(in_digest) == 5 and not in_digest & alone
    assert _metric(second, "bifrost_alerts_total", outcome="digested") == 10
    assert _metric(second, "bifrost_alerts_held") == 0
    assert len(slack.all()) == 3
