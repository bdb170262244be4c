"""The order of things for one webhook: send an alert now, or hold it and send everything held
as one digest when the throttle's window opens again.

Held alerts live in a changelog-backed table (tables/alerts.py), not in unacknowledged
events: Faust waits for every unacknowledged event before a rebalance or a shutdown
completes, and a held alert can wait a whole window. Alerts sent alone are remembered so a
re-published result does not alert twice; alerts folded into a digest are not (a storm would
fill the table), so a duplicate of one can at worst count again in a later digest.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, cast

import structlog

from bifrost_streams import metrics
from bifrost_streams.alerts.blocks import alert_message, digest_message
from bifrost_streams.alerts.digest import fold
from bifrost_streams.alerts.slack import SlackRejected, SlackUnavailable, SlackWebhook
from bifrost_streams.alerts.throttle import Throttle
from bifrost_streams.redaction import Rule

log = structlog.get_logger("bifrost.alerts")

Alert = Dict[str, Any]


class AlertStore(Protocol):
    def known(self, alert_id: str) -> bool: ...  # held now, or sent alone before

    def hold(self, partition: int, alert: Alert) -> None: ...

    def held(self) -> List[Alert]: ...  # this worker's, each with its "partition"

    def held_count(self) -> int: ...

    def sent(self, partition: int, alert_id: str) -> None: ...  # and no longer held

    def release(self, alerts: List[Alert]) -> None: ...  # no longer held


def _brief(alert: Alert) -> Dict[str, Any]:
    """An alert as a log line carries it (the log's own processor redacts the summary)."""
    return {key: alert.get(key) for key in ("alert_id", "reason", "service", "severity",
                                             "summary", "occurrences", "job_id", "link")}


class Dispatcher:
    def __init__(self, webhook: Optional[SlackWebhook], throttle: Throttle, store: AlertStore,
                 rules: Optional[List[Rule]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.webhook = webhook
        self.throttle = throttle
        self.store = store
        self.rules = rules
        self.clock = clock
        # The agent and the timer both send; one at a time keeps the throttle's count true.
        self._lock = asyncio.Lock()

    async def accept(self, alert: Alert, partition: int) -> None:
        if self.webhook is None:
            metrics.ALERTS.labels("logged").inc()
            log.warning("alert", **_brief(alert), note="SLACK_WEBHOOK_URL is unset")
            return
        async with self._lock:
            if self.store.known(alert["alert_id"]):
                metrics.ALERTS.labels("duplicate").inc()
                return
            # What waits already goes first: a new alert must not take the slot it waits for.
            await self._send_held()
            if self.throttle.allows(self.clock()):
                await self._deliver([alert], partition)
            else:
                self._hold(partition, alert)

    async def send_due(self) -> None:
        """Called by a timer: the digest goes out as soon as the window lets it.

        Skipped while a send is under way (the agent's: it sends what is held first), so
        the timer never queues up behind a Slack retry."""
        if self.webhook is None or self._lock.locked():
            return
        # Also right after a restart, when the held table came back from its changelog.
        metrics.ALERTS_HELD.set(self.store.held_count())
        if not self.throttle.allows(self.clock()):
            return
        async with self._lock:
            await self._send_held()

    async def _send_held(self) -> None:
        if not self.throttle.allows(self.clock()):
            return
        held = self.store.held()
        if held:
            await self._deliver(held, None)

    def _hold(self, partition: int, alert: Alert) -> None:
        self.store.hold(partition, alert)
        metrics.ALERTS.labels("held").inc()
        metrics.ALERTS_HELD.set(self.store.held_count())

    async def _deliver(self, alerts: List[Alert], new_in: Optional[int]) -> None:
        """Send one alert alone or several as a digest. `new_in`: the partition of a new
        alert's event (None: the alerts were held already)."""
        webhook = cast(SlackWebhook, self.webhook)  # the callers return early without one
        self.throttle.record(self.clock())
        if len(alerts) == 1:
            message = alert_message(alerts[0], self.rules)
        else:
            message = digest_message(fold(alerts), self.throttle.limit, self.throttle.window,
                                     self.rules)
        try:
            await webhook.post(message)
        except SlackUnavailable as exc:
            if exc.retry_after is not None:
                self.throttle.pause_until(self.clock() + exc.retry_after)
            log.warning("alerts_deferred", webhook=webhook.key, alerts=len(alerts),
                        answer=str(exc), retry_after_s=exc.retry_after)
            if new_in is not None:
                self._hold(new_in, alerts[0])
            return
        except SlackRejected as exc:
            metrics.ALERTS.labels("failed").inc(len(alerts))
            log.error("alerts_refused", webhook=webhook.key, answer=str(exc),
                      count=len(alerts), alerts=[_brief(alert) for alert in alerts[:20]])
            if new_in is None:
                self.store.release(alerts)
        else:
            if len(alerts) == 1:
                partition = new_in if new_in is not None else alerts[0]["partition"]
                self.store.sent(partition, alerts[0]["alert_id"])
                metrics.ALERTS.labels("sent").inc()
            else:
                self.store.release(alerts)
                metrics.ALERTS.labels("digested").inc(len(alerts))
        metrics.ALERTS_HELD.set(self.store.held_count())
