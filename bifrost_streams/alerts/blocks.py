"""Slack messages in Block Kit: one alert, or the digest of alerts held back. Pure.

Every text from a log or a model passes the app's redaction rules first: a summary can quote
the log line it explains, secrets and all. Texts are cut to Block Kit's limits (a header holds
150 characters, a section 3000), because Slack refuses the whole message otherwise.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from bifrost_streams.alerts.digest import Digest
from bifrost_streams.alerts.rule import TEMPLATE_THRESHOLD
from bifrost_streams.redaction import Rule, redact_text

EMOJI = {"CRITICAL": ":red_circle:", "HIGH": ":large_orange_circle:",
         "MEDIUM": ":large_yellow_circle:", "LOW": ":white_circle:"}
SUMMARY_CHARS = 1500
LINE_CHARS = 200
SERVICES_SHOWN = 8


class Text:
    """Redacts, escapes for mrkdwn (&, <, > are Slack's link syntax) and cuts."""

    def __init__(self, rules: Optional[List[Rule]]) -> None:
        self.rules = rules

    def plain(self, value: Any, limit: int) -> str:
        text = redact_text(str(value), self.rules) if value is not None else "-"
        return text if len(text) <= limit else text[:limit - 1] + "…"

    def mrkdwn(self, value: Any, limit: int) -> str:
        text = self.plain(value, limit)
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> Dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _occurrences(occurrences: Dict[str, int]) -> str:
    if not occurrences:
        return "-"
    return (f"{occurrences.get('1m', 0)} this minute · "
            f"{occurrences.get('1h', 0)} this hour")


def alert_message(alert: Dict[str, Any], rules: Optional[List[Rule]] = None) -> Dict[str, Any]:
    text = Text(rules)
    severity = alert.get("severity") or "UNKNOWN"
    service = text.plain(alert.get("service"), 60)
    if alert.get("reason") == TEMPLATE_THRESHOLD:
        title = f"{EMOJI.get(severity, ':warning:')} Template storm · {service}"
        lead = f"*A template reached {alert.get('threshold')} occurrences in one minute*\n"
    else:
        title = f"{EMOJI.get(severity, ':warning:')} {severity} · {service}"
        lead = ""
    summary = text.mrkdwn(alert.get("summary"), SUMMARY_CHARS)
    fields = [_mrkdwn(f"*Service*\n{text.mrkdwn(alert.get('service'), 200)}"),
              _mrkdwn(f"*Severity*\n{severity}"),
              _mrkdwn(f"*Occurrences*\n{_occurrences(alert.get('occurrences') or {})}")]
    if alert.get("environment"):
        fields.append(_mrkdwn(f"*Environment*\n{text.mrkdwn(alert['environment'], 200)}"))
    return {
        "text": f"{severity} alert from {service}: {text.plain(alert.get('summary'), 300)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": text.plain(title, 150),
                                        "emoji": True}},
            {"type": "section", "text": _mrkdwn(f"{lead}{summary}")},
            {"type": "section", "fields": fields},
            # A link rather than a button: a button posted by an incoming webhook shows a
            # warning in Slack when nobody answers its interaction callback.
            {"type": "section", "text": _mrkdwn(f"<{alert['link']}|View the analysis>")},
            {"type": "context", "elements": [_mrkdwn(
                f"job `{text.mrkdwn(alert.get('job_id'), 80)}` · template "
                f"`{text.mrkdwn(alert.get('template_id'), 200)}` · raised "
                f"{text.mrkdwn(alert.get('raised_at'), 40)}")]},
        ],
    }


def digest_message(digest: Digest, limit: int, window: float,
                   rules: Optional[List[Rule]] = None) -> Dict[str, Any]:
    text = Text(rules)
    severities = " · ".join(f"{name} {n}" for name, n in digest.by_severity)
    services = "\n".join(f"{text.mrkdwn(name, 60)}: {n}"
                         for name, n in digest.by_service[:SERVICES_SHOWN])
    if len(digest.by_service) > SERVICES_SHOWN:
        services += f"\n…and {len(digest.by_service) - SERVICES_SHOWN} more services"
    lines = [f"• *{alert.get('severity') or 'UNKNOWN'}* {text.mrkdwn(alert.get('service'), 60)}"
             f": {text.mrkdwn(alert.get('summary'), LINE_CHARS)} <{alert['link']}|view>"
             for alert in digest.first]
    more = digest.count - len(digest.first)
    return {
        "text": f"{digest.count} alerts held back by the throttle: {severities}",
        "blocks": [
            {"type": "header", "text": {
                "type": "plain_text", "emoji": True,
                "text": f":package: {digest.count} alerts held back by the throttle"}},
            {"type": "section", "text": _mrkdwn(
                f"This channel gets at most {limit} messages in {window:g} s. These "
                f"{digest.count} alerts were raised between {text.mrkdwn(digest.since, 40)} "
                f"and {text.mrkdwn(digest.until, 40)}.")},
            {"type": "section", "fields": [
                _mrkdwn(f"*By severity*\n{severities}"),
                _mrkdwn(f"*By service*\n{services}"),
                _mrkdwn("*By reason*\n" + " · ".join(f"{reason} {n}"
                                                     for reason, n in digest.by_reason))]},
            {"type": "section", "text": _mrkdwn(
                f"*The first {len(digest.first)}*\n" + "\n".join(lines)
                + (f"\n…and {more} more" if more > 0 else ""))},
        ],
    }
