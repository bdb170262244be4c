"""Alerts held back by the throttle, and alerts sent alone (so that each is sent once).

Written by the alerts agent and by its timer, which runs outside any event: like
tables/template_counts.py the tables are kept in memory (rebuilt from their changelogs at
start-up) and every write names its changelog partition, the partition of the alert's event.
All alerts of a webhook share one key, hence one partition and one writer.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List

from bifrost_streams.app import app, settings
from tables import changelog

held_alerts = app.Table("alerts-held", default=None, key_type=str,
                        store="memory://local",  # "memory://" parses as an empty, falsy URL
                        help="alert id -> alert held back by the throttle, until it is sent "
                             "in a digest")
sent_alerts = app.Table("alerts-sent", default=None, key_type=str, store="memory://local",
                        help="alert id -> {stored_at, partition} of alerts sent alone; kept "
                             "BIFROST_JOB_RETENTION_SECONDS, like the jobs they come from")


def _changelog_partition(partition: int) -> int:
    # The alert topic is created with the app's partition count, but it may have existed
    # before with another: a write must still land on a partition the changelog has.
    return partition % app.conf.topic_partitions


def _owned() -> set:
    return changelog.owned_partitions(app, settings.alert_topic)


class TableStore:
    """dispatch.AlertStore on the two tables."""

    def known(self, alert_id: str) -> bool:
        return alert_id in held_alerts.data or alert_id in sent_alerts.data

    def hold(self, partition: int, alert: Dict[str, Any]) -> None:
        value = {**alert, "partition": partition, "stored_at": time.time()}
        changelog.write_soon(held_alerts, alert["alert_id"], value,
                             _changelog_partition(partition))

    def held(self) -> List[Dict[str, Any]]:
        owned = _owned()
        # A standby copy of another worker's partition is that worker's to send.
        return sorted((alert for alert in held_alerts.data.values()
                       if alert["partition"] in owned), key=lambda alert: alert["stored_at"])

    def held_count(self) -> int:
        return len(held_alerts.data)

    def sent(self, partition: int, alert_id: str) -> None:
        value = {"stored_at": time.time(), "partition": partition}
        changelog.write_soon(sent_alerts, alert_id, value, _changelog_partition(partition))
        held = held_alerts.data.get(alert_id)
        if held is not None:
            self.release([held])

    def release(self, alerts: List[Dict[str, Any]]) -> None:
        for alert in alerts:
            changelog.remove(held_alerts, _changelog_partition(alert["partition"]),
                             alert["alert_id"])


store = TableStore()


@app.timer(interval=600.0, on_leader=False)
async def expire_sent_alerts() -> None:
    changelog.sweep(sent_alerts, time.time(), settings.job_retention_seconds, _owned())
