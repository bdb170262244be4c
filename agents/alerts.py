"""The alerts agent: notification.alert in, Slack messages out (or log lines, without a
webhook).

outcomes.publish_result raises the alerts (bifrost_streams/alerts/rule.py), keyed by the
webhook, so one partition, hence one worker and one throttle, sees all of a webhook's alerts.
The URL comes from SLACK_WEBHOOK_URL only, never from an event.
"""
from __future__ import annotations

import json

import structlog

from bifrost_streams import metrics
from bifrost_streams.alerts.dispatch import Dispatcher
from bifrost_streams.alerts.slack import SlackWebhook
from bifrost_streams.alerts.throttle import Throttle
from bifrost_streams.app import app, redaction_rules, settings
from tables.alerts import store

log = structlog.get_logger("bifrost.alerts")

alert_topic = app.topic(settings.alert_topic, key_type=str, value_type=bytes,
                        value_serializer="raw")
webhook = SlackWebhook(settings.slack_webhook_url) if settings.slack_webhook_url else None
dispatcher = Dispatcher(webhook, Throttle(settings.throttle_max_per_minute,
                                          settings.alert_window_seconds),
                        store, redaction_rules)



@app.task
async def announce_where_alerts_go() -> None:
    if webhook is None:
        log.info("alerts_logged_only", note="SLACK_WEBHOOK_URL is unset: alerts are logged "
                                            "and counted, not sent")
    else:
        log.info("alerts_to_slack", webhook=webhook.key,
                 max_per_window=settings.throttle_max_per_minute,
                 window_s=settings.alert_window_seconds)


def _read(value: bytes) -> dict:
    alert = json.loads(value)
    if not isinstance(alert, dict) or not {"alert_id", "link"} <= alert.keys():
        raise ValueError("not an alert: no alert_id or link")
    # The id keys the alerts table: a list or a megabyte there would fail later, and worse.
    if not isinstance(alert["alert_id"], str) or not 0 < len(alert["alert_id"]) <= 100:
        raise ValueError("not an alert: alert_id must be a string of 1 to 100 characters")
    return alert


@app.agent(alert_topic)
async def deliver_alerts(stream):
    async for event in stream.events():
        await _deliver(event)


async def _deliver(event) -> None:
    try:
        alert = _read(event.value)
    except (ValueError, TypeError) as exc:
        # Not raised by us: someone else wrote to the topic. Skip it, loudly.
        metrics.ALERTS.labels("failed").inc()
        log.error("unreadable_alert", error=f"{type(exc).__name__}: {exc}",
                  partition=event.message.partition, offset=event.message.offset)
        return
    try:
        await dispatcher.accept(alert, event.message.partition)
    except Exception:  # a bug must not stop the alerts behind this one: say so, go on
        metrics.ALERTS.labels("failed").inc()
        log.exception("alert_crashed", alert_id=alert["alert_id"], job_id=alert.get("job_id"))


@app.timer(interval=0.5, on_leader=False)
async def send_held_alerts() -> None:
    # During a rebalance the held table is being restored: a digest now would tell only part.
    if not app.rebalancing:
        await dispatcher.send_due()


@app.on_before_shutdown.connect
async def close_webhook(sender, **kwargs) -> None:
    if webhook is not None:
        await webhook.close()
