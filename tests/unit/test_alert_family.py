"""The failure family in alert events and their Slack messages."""
from __future__ import annotations

from bifrost_streams.alerts.blocks import alert_message
from bifrost_streams.alerts.rule import AlertRule


def _result(**extra):
    return {"job_id": "job-1", "status": "SUCCEEDED", "severity": "HIGH",
            "summary": "Database connection refused", "error_message": None,
            "timestamp": "2026-01-31T10:00:02Z",
            "result": {"service_name": "user-service", "template_id": "user-service:abc",
                       "occurrences": {"1m": 1, "1h": 2}, **extra}}


def test_an_alert_names_the_results_family_and_slack_shows_it():
    rule = AlertRule(("HIGH",), 50, "https://bifrost.example", None)
    alert = rule.check(_result(category="network.connection_refused"))
    assert alert["category"] == "network.connection_refused"
    message = alert_message(alert)
    fields = [field["text"] for field in message["blocks"][2]["fields"]]
    assert "*Failure family*\n`network.connection_refused`" in fields
    assert message["text"].startswith("HIGH alert from user-service (network.connection_refused)")


def test_a_result_without_a_family_shows_none():
    alert = AlertRule(("HIGH",), 50, "https://bifrost.example", None).check(_result())
    assert alert["category"] is None
    message = alert_message(alert)
    assert not any("Failure family" in field["text"] for field in message["blocks"][2]["fields"])
    assert message["text"].startswith("HIGH alert from user-service: ")
