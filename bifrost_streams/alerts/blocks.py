"""Slack messages in Block Kit: one alert, or the digest of alerts held back. Pure.

Every text from a log or a model passes the app's redaction rules first: a summary can quote
the log line it explains, secrets and all. Everything that comes from an event (service,
summary, ids, even the severity and counts, since anyone who can write to the alert topic
shapes the event) is escaped for Slack (&, <, > are its link and mention syntax, in mrkdwn,
plain_text and the fallback text alike), so `<!channel>`, `<@U123>` or `<https://x|click>`
arrive as inert text; a link's URL is percent-encoded and only http(s) links are made.
Texts are cut to Block Kit's limits (a header holds 150 characters, a section 3000) after
escaping, because Slack refuses the whole message otherwise.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional
from urllib.parse import quote, urlsplit

from bifrost_streams.alerts.digest import Digest
from bifrost_streams.alerts.rule import TEMPLATE_THRESHOLD
from bifrost_streams.redaction import Rule, redact_text

EMOJI = {"CRITICAL": ":red_circle:", "HIGH": ":large_orange_circle:",
         "MEDIUM": ":large_yellow_circle:", "LOW": ":white_circle:"}
SUMMARY_CHARS = 1500
LINE_CHARS = 200
SERVICES_SHOWN = 8
SECTION_CHARS = 3000
URL_CHARS = 2800  # a base URL and a job id of 200 characters, each quoted to up to 12
# What a URL may keep as it is: RFC 3986's reserved and unreserved characters and "%" (an id
# in it is quoted already), minus "&", which Slack would read as an entity.
_URL_SAFE = "/:?#[]@!$'()*+,;=%-._~"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(escaped: str, limit: int) -> str:
    """An escaped text cut to `limit` characters, never inside an entity."""
    if len(escaped) <= limit:
        return escaped
    head = escaped[:limit - 1]
    amp = head.rfind("&", max(0, len(head) - 4))
    if amp >= 0 and ";" not in head[amp:]:
        head = head[:amp]
    return head + "…"


def link_url(url: Any) -> Optional[str]:
    """The URL made safe inside Slack's <url|label>, or None when it is not an http(s) URL
    (or too long to be one of ours)."""
    if not isinstance(url, str) or len(url) > URL_CHARS:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # an unbalanced "[" in the host, say
        return None
    if scheme not in ("http", "https"):
        return None
    safe = quote(url, safe=_URL_SAFE)
    return safe if len(safe) <= URL_CHARS else None


class Text:
    """Redacts, escapes (&, <, > are Slack's link and mention syntax) and cuts."""

    def __init__(self, rules: Optional[List[Rule]]) -> None:
        self.rules = rules

    def __call__(self, value: Any, limit: int) -> str:
        text = redact_text(str(value), self.rules) if value is not None else "-"
        return cut(escape(text), limit)

    def code(self, value: Any, limit: int) -> str:
        """For inside `...`: a backquote in the value would end the code span early."""
        return self(value, limit).replace("`", "'")

    def link(self, url: Any, label: str) -> str:
        safe = link_url(url)
        return f"<{safe}|{escape(label)}>" if safe else escape(label)


def _mrkdwn(text: str) -> Dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _occurrences(text: Text, occurrences: Any) -> str:
    if not occurrences or not isinstance(occurrences, dict):
        return "-"
    return (f"{text(occurrences.get('1m', 0), 20)} this minute · "
            f"{text(occurrences.get('1h', 0), 20)} this hour")


def alert_message(alert: Dict[str, Any], rules: Optional[List[Rule]] = None) -> Dict[str, Any]:
    text = Text(rules)
    severity = text(alert.get("severity") or "UNKNOWN", 20)
    emoji = EMOJI.get(str(alert.get("severity")), ":warning:")
    service = text(alert.get("service"), 60)
    if alert.get("reason") == TEMPLATE_THRESHOLD:
        title = f"{emoji} Template storm · {service}"
        lead = (f"*A template reached {text(alert.get('threshold'), 20)} occurrences in one "
                f"minute*\n")
    else:
        title = f"{emoji} {severity} · {service}"
        lead = ""
    summary = text(alert.get("summary"), SUMMARY_CHARS)
    fields = [_mrkdwn(f"*Service*\n{text(alert.get('service'), 200)}"),
              _mrkdwn(f"*Severity*\n{severity}"),
              _mrkdwn(f"*Occurrences*\n{_occurrences(text, alert.get('occurrences'))}")]
    if alert.get("environment"):
        fields.append(_mrkdwn(f"*Environment*\n{text(alert['environment'], 200)}"))
    family = ""
    if alert.get("category"):
        fields.append(_mrkdwn(f"*Failure family*\n`{text.code(alert['category'], 120)}`"))
        family = f" ({text(alert['category'], 120)})"
    return {
        "text": f"{severity} alert from {service}{family}: {text(alert.get('summary'), 300)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(title, 150),
                                        "emoji": True}},
            {"type": "section", "text": _mrkdwn(f"{lead}{summary}")},
            {"type": "section", "fields": fields},
            # A link rather than a button: a button posted by an incoming webhook shows a
            # warning in Slack when nobody answers its interaction callback.
            {"type": "section", "text": _mrkdwn(text.link(alert.get("link"),
                                                          "View the analysis"))},
            {"type": "context", "elements": [_mrkdwn(
                f"job `{text.code(alert.get('job_id'), 80)}` · template "
                f"`{text.code(alert.get('template_id'), 200)}` · raised "
                f"{text(alert.get('raised_at'), 40)}")]},
        ],
    }


def digest_message(digest: Digest, limit: int, window: float,
                   rules: Optional[List[Rule]] = None) -> Dict[str, Any]:
    text = Text(rules)
    severities = " · ".join(f"{text(name, 20)} {n}" for name, n in digest.by_severity)
    services = "\n".join(f"{text(name, 60)}: {n}"
                         for name, n in digest.by_service[:SERVICES_SHOWN])
    if len(digest.by_service) > SERVICES_SHOWN:
        services += f"\n…and {len(digest.by_service) - SERVICES_SHOWN} more services"
    reasons = " · ".join(f"{text(reason, 40)} {n}" for reason, n in digest.by_reason)
    lines = [f"• *{text(alert.get('severity') or 'UNKNOWN', 20)}* "
             f"{text(alert.get('service'), 60)}: {text(alert.get('summary'), LINE_CHARS)} "
             f"{text.link(alert.get('link'), 'view')}"
             for alert in digest.first]
    heading = f"*The first {len(digest.first)}*"
    shown = _fitting(lines, SECTION_CHARS - len(heading) - 40)
    more = digest.count - shown
    if shown < len(digest.first):
        heading = f"*The first {shown}*"
    return {
        "text": f"{digest.count} alerts held back by the throttle: {severities}",
        "blocks": [
            {"type": "header", "text": {
                "type": "plain_text", "emoji": True,
                "text": f":package: {digest.count} alerts held back by the throttle"}},
            {"type": "section", "text": _mrkdwn(
                f"This channel gets at most {limit} messages in {window:g} s. These "
                f"{digest.count} alerts were raised between {text(digest.since, 40)} "
                f"and {text(digest.until, 40)}.")},
            {"type": "section", "fields": [
                _mrkdwn(f"*By severity*\n{severities}"),
                _mrkdwn(f"*By service*\n{services}"),
                _mrkdwn(f"*By reason*\n{reasons}")]},
            {"type": "section", "text": _mrkdwn(
                heading + "\n" + "\n".join(lines[:shown])
                + (f"\n…and {more} more" if more > 0 else ""))},
        ],
    }


def _fitting(lines: List[str], room: int) -> int:
    """How many of the lines fit in `room` characters, joined by newlines."""
    used = 0
    for count, line in enumerate(lines):
        used += len(line) + 1
        if used > room:
            return count
    return len(lines)
