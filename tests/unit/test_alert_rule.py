"""The alert rule: which results raise an alert, and the event they raise."""
from __future__ import annotations

import pytest

from bifrost_streams.alerts.rule import SEVERITY, TEMPLATE_THRESHOLD, AlertRule, webhook_key

WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


def _rule(threshold: int = 50, severities=("HIGH", "CRITICAL")) -> AlertRule:
    return AlertRule(severities, threshold, "https://bifrost.example/", WEBHOOK)


def _result(severity="LOW", one_minute=1, job_id="job-1", status="SUCCEEDED", **extra):
    return {"job_id": job_id, "status": status, "severity": severity,
            "summary": "Database connection refused" if status == "SUCCEEDED" else None,
            "error_message": None if status == "SUCCEEDED" else "model timed out",
            "timestamp": "2026-01-31T10:00:02Z",
            "result": {"service_name": "user-service", "environment": "production",
                       "template_id": "user-service:abc123",
                       "template": "ERROR connection to <*> refused",
                       "occurrences": {"1m": one_minute, "1h": one_minute + 7}, **extra}}


@pytest.mark.parametrize("severity", ["HIGH", "CRITICAL"])
def test_a_high_or_critical_result_raises_a_severity_alert(severity):
    alert = _rule().check(_result(severity))
    assert alert is not None
    assert alert["reason"] == SEVERITY and alert["severity"] == severity
    assert alert["service"] == "user-service" and alert["environment"] == "production"
    assert alert["summary"] == "Database connection refused"
    assert alert["template_id"] == "user-service:abc123"
    assert alert["occurrences"] == {"1m": 1, "1h": 8}
    assert alert["job_id"] == "job-1"
    assert alert["link"] == "https://bifrost.example/jobs/job-1"
    assert alert["raised_at"] == "2026-01-31T10:00:02Z"
    assert alert["threshold"] is None


@pytest.mark.parametrize("severity", ["LOW", "MEDIUM", None])
def test_results_below_the_severities_raise_nothing(severity):
    assert _rule().check(_result(severity, one_minute=3)) is None


def test_a_severe_repeat_of_a_template_within_its_minute_raises_nothing():
    rule = _rule()
    assert rule.check(_result("HIGH", 1, storm_suppressed=False)) is not None
    assert rule.check(_result("HIGH", 2, storm_suppressed=True)) is None
    assert rule.check(_result("CRITICAL", 2)) is not None  # from the model, not the cache


def test_the_configured_severities_are_the_ones_that_alert():
    rule = _rule(severities=("MEDIUM",))
    assert rule.check(_result("MEDIUM")) is not None
    assert rule.check(_result("CRITICAL")) is None


def test_a_template_alerts_once_per_window_when_its_count_reaches_the_threshold():
    rule = _rule(threshold=50)
    # Two one-minute windows of a storm: the counts run 1..120, then start again at 1.
    counts = list(range(1, 121)) + list(range(1, 81))
    raised = [rule.check(_result("MEDIUM", n, job_id=f"job-{i}"))
              for i, n in enumerate(counts)]
    alerts = [alert for alert in raised if alert is not None]
    assert [alert["occurrences"]["1m"] for alert in alerts] == [50, 50]
    assert all(alert["reason"] == TEMPLATE_THRESHOLD and alert["threshold"] == 50
               for alert in alerts)
    assert {alert["job_id"] for alert in alerts} == {"job-49", "job-169"}


def test_a_threshold_of_zero_turns_template_alerts_off():
    rule = _rule(threshold=0)
    assert all(rule.check(_result("LOW", n)) is None for n in range(0, 200))


def test_a_severe_result_that_crosses_the_threshold_raises_one_template_alert():
    alert = _rule(threshold=5).check(_result("HIGH", 5, storm_suppressed=True))
    assert alert["reason"] == TEMPLATE_THRESHOLD and alert["severity"] == "HIGH"


def test_a_failed_result_crossing_the_threshold_says_what_failed():
    alert = _rule(threshold=2).check(_result(None, 2, status="FAILED"))
    assert alert["summary"] == "model timed out" and alert["severity"] is None


def test_a_result_without_template_counts_is_judged_by_severity_only():
    result = _result("HIGH")
    del result["result"]["occurrences"]
    assert _rule().check(result)["occurrences"] == {}
    low = _result("LOW")
    del low["result"]["occurrences"]
    assert _rule().check(low) is None


def test_the_alert_id_is_the_same_for_the_same_result_and_differs_otherwise():
    rule = _rule(threshold=5)
    first = rule.check(_result("HIGH", job_id="job-1"))
    assert rule.check(_result("HIGH", job_id="job-1")) == first  # a re-published result
    assert rule.check(_result("HIGH", job_id="job-2"))["alert_id"] != first["alert_id"]
    crossing = rule.check(_result("HIGH", 5, job_id="job-1"))
    assert crossing["alert_id"] != first["alert_id"]


def test_the_webhook_key_names_the_webhook_without_revealing_it():
    key = webhook_key(WEBHOOK)
    assert key == webhook_key(WEBHOOK) and key.startswith("slack-")
    assert "XXXXSECRET" not in key and "hooks.slack.com" not in key
    assert key != webhook_key(WEBHOOK + "2")
    assert webhook_key(None) == webhook_key("") == "log-only"
    assert _rule().key == key
