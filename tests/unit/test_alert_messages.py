"""Digest folding and the Block Kit messages Slack gets."""
from __future__ import annotations

import json

import pytest

from bifrost_streams.alerts.blocks import alert_message, digest_message
from bifrost_streams.alerts.digest import fold
from bifrost_streams.redaction import compile_rules

SECRETS = ("hunter2", "AKIAIOSFODNN7EXAMPLE", "EMP-123456")
RULES = compile_rules([("employee_id", r"EMP-\d{6}")])


def _alert(i: int, severity: str = "HIGH", service: str = "svc-a", **changes):
    alert = {"alert_id": f"id-{i}", "reason": "severity", "service": service,
             "environment": "production", "severity": severity,
             "summary": f"Summary number {i}", "template_id": f"{service}:t{i}",
             "occurrences": {"1m": 3, "1h": 40}, "threshold": None, "job_id": f"job-{i}",
             "link": f"https://bifrost.example/jobs/job-{i}",
             "raised_at": f"2026-01-31T10:00:{i:02d}Z"}
    alert.update(changes)
    return alert


def _texts(message) -> str:
    return json.dumps(message)


def test_fold_counts_everything_held_by_severity_service_and_reason():
    alerts = ([_alert(i, "HIGH", "svc-a") for i in range(30)]
              + [_alert(i, "CRITICAL", "svc-b") for i in range(30, 40)]
              + [_alert(i, None, "svc-c", reason="template_threshold") for i in range(40, 45)])
    digest = fold(list(reversed(alerts)), first=5)
    assert digest.count == 45
    assert digest.by_severity == [("CRITICAL", 10), ("HIGH", 30), ("UNKNOWN", 5)]
    assert digest.by_service == [("svc-a", 30), ("svc-b", 10), ("svc-c", 5)]
    assert dict(digest.by_reason) == {"severity": 40, "template_threshold": 5}
    assert [alert["job_id"] for alert in digest.first] == [f"job-{i}" for i in range(5)]
    assert (digest.since, digest.until) == ("2026-01-31T10:00:00Z", "2026-01-31T10:00:44Z")


def test_fold_refuses_nothing_to_fold():
    with pytest.raises(ValueError):
        fold([])


def test_an_alert_message_shows_service_severity_summary_occurrences_and_the_link():
    message = alert_message(_alert(7, "CRITICAL", "user-service"))
    blocks = message["blocks"]
    assert [block["type"] for block in blocks] == ["header", "section", "section", "section",
                                                   "context"]
    assert blocks[0]["text"]["type"] == "plain_text"
    assert "CRITICAL" in blocks[0]["text"]["text"] and "user-service" in blocks[0]["text"]["text"]
    assert blocks[1]["text"]["text"] == "Summary number 7"
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert fields[:3] == ["*Service*\nuser-service", "*Severity*\nCRITICAL",
                          "*Occurrences*\n3 this minute · 40 this hour"]
    assert "<https://bifrost.example/jobs/job-7|View the analysis>" in blocks[3]["text"]["text"]
    assert "job-7" in blocks[4]["elements"][0]["text"]
    assert "CRITICAL" in message["text"] and "Summary number 7" in message["text"]


def test_a_template_alert_says_the_threshold_it_reached():
    message = alert_message(_alert(1, "MEDIUM", reason="template_threshold", threshold=50))
    assert "Template storm" in message["blocks"][0]["text"]["text"]
    assert "reached 50 occurrences in one minute" in message["blocks"][1]["text"]["text"]


def test_secrets_in_a_summary_are_redacted_everywhere_in_the_message():
    summary = ("Login failed with password=hunter2 using key AKIAIOSFODNN7EXAMPLE "
               "for EMP-123456")
    single = alert_message(_alert(1, summary=summary), RULES)
    digest = digest_message(fold([_alert(i, summary=summary) for i in range(3)]), 5, 60, RULES)
    for message in (single, digest):
        text = _texts(message)
        assert not [secret for secret in SECRETS if secret in text]
        assert "[REDACTED:" in text and "Login failed" in text


def test_mrkdwn_control_characters_cannot_forge_a_link():
    message = alert_message(_alert(1, summary="a <https://evil.example|click> & b"))
    text = message["blocks"][1]["text"]["text"]
    assert "<https://evil.example" not in text
    assert "&lt;https://evil.example|click&gt; &amp; b" in text


def test_long_texts_are_cut_to_slack_limits():
    message = alert_message(_alert(1, service="s" * 400, summary="x" * 10_000))
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    for block in message["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000


def test_a_digest_message_gives_the_count_the_breakdown_and_the_first_few():
    alerts = ([_alert(i, "HIGH", f"svc-{i % 12}") for i in range(40)]
              + [_alert(i, "CRITICAL", "svc-0") for i in range(40, 45)])
    message = digest_message(fold(alerts), 5, 60, RULES)
    blocks = message["blocks"]
    assert "45 alerts held back" in blocks[0]["text"]["text"]
    assert "at most 5 messages in 60 s" in blocks[1]["text"]["text"]
    severity, services, reasons = (field["text"] for field in blocks[2]["fields"])
    assert severity == "*By severity*\nCRITICAL 5 · HIGH 40"
    assert services.startswith("*By service*\nsvc-0: 9") and "…and 4 more services" in services
    assert reasons == "*By reason*\nseverity 45"
    first = blocks[3]["text"]["text"]
    assert first.count("<https://bifrost.example/jobs/job-") == 5 and "…and 40 more" in first
    assert len(first) <= 3000
    assert "45 alerts" in message["text"]
    json.dumps(message)  # what is posted
