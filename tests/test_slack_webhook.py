"""The Slack sender against a local webhook stand-in: retries, Retry-After, refusals, and a
webhook URL that never reaches a log line."""
from __future__ import annotations

import json
import time

import pytest
from structlog.testing import capture_logs

from bifrost_streams.alerts.dispatch import Dispatcher
from bifrost_streams.alerts.slack import (SlackRejected, SlackUnavailable, SlackWebhook,
                                          retry_after_seconds)
from bifrost_streams.alerts.throttle import Throttle
from tests.support.services import free_port
from tests.support.slack_server import FakeSlack

MESSAGE = {"text": "HIGH alert", "blocks": [{"type": "section",
                                            "text": {"type": "mrkdwn", "text": "hello"}}]}
SECRET = FakeSlack.PATH.rsplit("/", 1)[1]


@pytest.fixture
def slack():
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
async def webhook(slack):
    sender = SlackWebhook(slack.webhook_url, timeout=5, give_up_after=5)
    yield sender
    await sender.close()


async def test_a_message_is_posted_once_as_json(slack, webhook):
    await webhook.post(MESSAGE)
    assert [(r.body, r.status) for r in slack.all()] == [(MESSAGE, 200)]


async def test_a_429_is_retried_after_retry_after_and_not_lost(slack, webhook):
    slack.answer(1, 429, {"Retry-After": "1"})
    started = time.monotonic()
    await webhook.post(MESSAGE)
    first, second = slack.all()
    assert (first.status, second.status) == (429, 200)
    assert second.body == first.body == MESSAGE
    assert second.at - first.at >= 0.95 and time.monotonic() - started >= 0.95


async def test_server_errors_are_retried_with_back_off(slack, webhook):
    slack.answer(1, 503)
    slack.answer(2, 500)
    await webhook.post(MESSAGE)
    assert [r.status for r in slack.all()] == [503, 500, 200]
    gaps = [b.at - a.at for a, b in zip(slack.all(), slack.all()[1:])]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95  # 0.5 s, then 1 s


async def test_a_retry_after_beyond_the_deadline_hands_the_message_back(slack, webhook):
    slack.answer(1, 429, {"Retry-After": "30"})
    with pytest.raises(SlackUnavailable) as raised:
        await webhook.post(MESSAGE)
    assert raised.value.retry_after == 30
    assert len(slack.all()) == 1  # no waiting past the deadline, no second try now


async def test_a_client_error_is_a_refusal_without_retries(slack, webhook):
    slack.answer(1, 400)
    with pytest.raises(SlackRejected, match="HTTP 400: invalid_blocks"):
        await webhook.post(MESSAGE)
    assert len(slack.all()) == 1


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("Sat, 31 Jan 2026 10:00:30 GMT",
                               now=1769853600.0) == pytest.approx(30.0)
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") == 0.0


class _Store:
    """Enough of an AlertStore for alerts that are sent or refused."""

    def __init__(self) -> None:
        self.held_alerts = []

    def known(self, alert_id):
        return False

    def hold(self, partition, alert):
        self.held_alerts.append({**alert, "partition": partition})

    def held(self):
        return list(self.held_alerts)

    def held_count(self):
        return len(self.held_alerts)

    def sent(self, partition, alert_id):
        pass

    def release(self, alerts):
        self.held_alerts = []


def _alert(i):
    return {"alert_id": f"a{i}", "reason": "severity", "service": "svc", "severity": "HIGH",
            "summary": "s", "occurrences": {}, "job_id": f"j{i}",
            "link": f"http://x/jobs/j{i}", "raised_at": "2026-01-31T10:00:00Z"}


async def test_the_webhook_url_never_reaches_a_log_line(slack):
    slack.answer(1, 500)
    slack.answer(2, 429, {"Retry-After": "9"})
    slack.answer(3, 400)
    reachable = SlackWebhook(slack.webhook_url, timeout=2, give_up_after=1)
    unreachable = SlackWebhook(f"http://127.0.0.1:{free_port()}{FakeSlack.PATH}", timeout=2,
                               give_up_after=1)
    with capture_logs() as logs:
        for sender in (reachable, unreachable):
            dispatcher = Dispatcher(sender, Throttle(100, 60), _Store())
            await dispatcher.accept(_alert(1), 0)  # 500, then a 429 past the deadline
            await dispatcher.accept(_alert(2), 0)  # held behind a1 ...
            dispatcher.throttle = Throttle(100, 60)  # ... until Retry-After is forgotten
            await dispatcher.accept(_alert(3), 0)  # 400: a1+a2 digest refused
            await sender.close()
    events = {entry["event"] for entry in logs}
    assert {"slack_retry", "alerts_deferred", "alerts_refused"} <= events
    assert {entry.get("webhook") for entry in logs} >= {reachable.key, unreachable.key}
    text = json.dumps(logs, default=str)
    assert SECRET not in text and "/services/" not in text
