"""The dispatcher on the alert tables, with a webhook stand-in and a clock the test moves."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from prometheus_client import REGISTRY

from bifrost_streams.alerts.dispatch import Dispatcher
from bifrost_streams.alerts.slack import SlackRejected, SlackUnavailable
from bifrost_streams.alerts.throttle import Throttle
from tables import alerts as alert_tables


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Webhook:
    key = "slack-test"

    def __init__(self) -> None:
        self.posted: List[Dict[str, Any]] = []
        self.failures: List[Exception] = []  # raised by the next posts, in order

    async def post(self, message: Dict[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.posted.append(message)

    def headers(self) -> List[str]:
        return [message["blocks"][0]["text"]["text"] for message in self.posted]


def _alert(i: int) -> Dict[str, Any]:
    return {"alert_id": f"alert-{i}", "reason": "severity", "service": "svc",
            "environment": None, "severity": "HIGH", "summary": f"summary {i}",
            "template_id": "svc:t", "occurrences": {"1m": 1, "1h": 1}, "threshold": None,
            "job_id": f"job-{i}", "link": f"https://bifrost.example/jobs/job-{i}",
            "raised_at": f"2026-01-31T10:00:{i % 60:02d}Z"}


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("bifrost_alerts_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def changelog(monkeypatch):
    """The tables' changelog writes, as (table, partition, key, value); this worker owns 0."""
    writes = []
    for table in (alert_tables.held_alerts, alert_tables.sent_alerts):
        table.data.clear()
        monkeypatch.setattr(table, "send_changelog",
                            lambda partition, key, value, table=table, **kw:
                            writes.append((table.name, partition, key, value)))
    monkeypatch.setattr(alert_tables, "_owned", lambda: {0})
    return writes


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def webhook():
    return Webhook()


@pytest.fixture
def dispatcher(changelog, clock, webhook):
    return Dispatcher(webhook, Throttle(5, 60), alert_tables.store, clock=clock)


async def _accept_all(dispatcher, clock, alerts, step=0.1):
    for alert in alerts:
        await dispatcher.accept(alert, 0)
        clock.now += step


async def test_fifty_alerts_go_five_alone_then_one_digest_of_the_other_45(dispatcher, clock,
                                                                          webhook, changelog):
    before = {outcome: _count(outcome) for outcome in ("sent", "held", "digested")}
    start = clock.now
    await _accept_all(dispatcher, clock, [_alert(i) for i in range(50)])
    assert len(webhook.posted) == 5
    assert all("HIGH · svc" in header for header in webhook.headers())
    assert [m["blocks"][3]["text"]["text"] for m in webhook.posted] == [
        f"<https://bifrost.example/jobs/job-{i}|View the analysis>" for i in range(5)]
    assert len(alert_tables.store.held()) == 45
    held_writes = [w for w in changelog if w[0] == "alerts-held" and w[3] is not None]
    assert len(held_writes) == 45 and all(w[1] == 0 for w in held_writes)

    clock.now = start + 59.9
    await dispatcher.send_due()
    assert len(webhook.posted) == 5  # the window has not opened yet
    clock.now = start + 60
    await dispatcher.send_due()
    assert len(webhook.posted) == 6
    assert "45 alerts held back" in webhook.headers()[5]
    assert alert_tables.store.held() == []
    tombstones = [w for w in changelog if w[0] == "alerts-held" and w[3] is None]
    assert len(tombstones) == 45
    await dispatcher.send_due()
    assert len(webhook.posted) == 6  # nothing left, nothing sent twice
    after = {outcome: _count(outcome) - before[outcome] for outcome in before}
    assert after == {"sent": 5, "held": 45, "digested": 45}


async def test_a_new_alert_does_not_take_the_place_of_those_held(dispatcher, clock, webhook):
    start = clock.now
    await _accept_all(dispatcher, clock, [_alert(i) for i in range(6)], step=1.0)
    assert len(webhook.posted) == 5 and len(alert_tables.store.held()) == 1
    clock.now = start + 60.5  # the first send has aged out, the second not yet
    await dispatcher.accept(_alert(99), 0)
    assert webhook.posted[5]["blocks"][1]["text"]["text"] == "summary 5"
    assert [alert["alert_id"] for alert in alert_tables.store.held()] == ["alert-99"]


async def test_an_alert_is_sent_once_however_often_it_arrives(dispatcher, clock, webhook,
                                                              changelog):
    before = _count("duplicate")
    await dispatcher.accept(_alert(1), 0)
    await dispatcher.accept(_alert(1), 0)
    assert len(webhook.posted) == 1
    assert ("alerts-sent", 0, "alert-1") in [w[:3] for w in changelog]
    await _accept_all(dispatcher, clock, [_alert(i) for i in range(2, 7)])
    await dispatcher.accept(_alert(6), 0)  # a duplicate of one that is held
    assert [alert["alert_id"] for alert in alert_tables.store.held()] == ["alert-6"]
    assert _count("duplicate") - before == 2


async def test_slack_unavailable_holds_the_alert_until_retry_after(dispatcher, clock, webhook):
    webhook.failures.append(SlackUnavailable("HTTP 429: rate_limited", retry_after=30))
    start = clock.now
    await dispatcher.accept(_alert(1), 0)
    assert webhook.posted == [] and len(alert_tables.store.held()) == 1
    clock.now = start + 29
    await dispatcher.send_due()
    assert webhook.posted == []
    clock.now = start + 30
    await dispatcher.send_due()
    assert webhook.headers() == ["{} HIGH · svc".format(":large_orange_circle:")]
    assert alert_tables.store.held() == [] and alert_tables.store.known("alert-1")


async def test_a_digest_slack_cannot_take_stays_held_for_the_next_window(dispatcher, clock,
                                                                         webhook):
    start = clock.now
    await _accept_all(dispatcher, clock, [_alert(i) for i in range(8)])
    webhook.failures.append(SlackUnavailable("HTTP 503: error", retry_after=None))
    clock.now = start + 60
    await dispatcher.send_due()
    assert len(webhook.posted) == 5 and len(alert_tables.store.held()) == 3
    clock.now = start + 61  # the failed attempt took a place; the next ones are free
    await dispatcher.send_due()
    assert "3 alerts held back" in webhook.headers()[5]


async def test_a_refused_message_is_logged_as_failed_not_kept(dispatcher, clock, webhook):
    before = _count("failed")
    webhook.failures.append(SlackRejected("HTTP 400: invalid_blocks"))
    await dispatcher.accept(_alert(1), 0)
    assert webhook.posted == [] and alert_tables.store.held() == []
    assert not alert_tables.store.known("alert-1")
    assert _count("failed") - before == 1


async def test_without_a_webhook_alerts_are_logged_and_counted_only(changelog, clock):
    before = _count("logged")
    dispatcher = Dispatcher(None, Throttle(5, 60), alert_tables.store, clock=clock)
    for i in range(8):
        await dispatcher.accept(_alert(i), 0)
    await dispatcher.send_due()
    assert _count("logged") - before == 8
    assert changelog == [] and alert_tables.store.held() == []
