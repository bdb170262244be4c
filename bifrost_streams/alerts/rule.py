"""Which results raise an alert, and the alert event they raise on notification.alert.

Checked in publish_result for every result, thousands a second: a result that raises nothing
costs a set lookup and two dict lookups. Pure: no Kafka, no clock.
"""
from __future__ import annotations

import hashlib
import uuid
from typing import Any, Dict, Iterable, Optional
from urllib.parse import quote

SEVERITY = "severity"
TEMPLATE_THRESHOLD = "template_threshold"

# alert_id = uuid5(this, job_id|reason): a result published twice (a redelivered request gets
# its stored result again) raises the same alert_id, which the alerts agent sends once.
_ALERT_NAMESPACE = uuid.UUID("6d1c3f0e-2b7a-4c55-9a43-1f6e0b8d2c71")


def webhook_key(url: Optional[str]) -> str:
    """The alert topic's message key: one webhook, one partition, one throttle.

    A hash, because the URL is the webhook's credential: it must not travel on Kafka or
    appear in a log line. "log-only" when no webhook is configured."""
    if not url:
        return "log-only"
    return "slack-" + hashlib.sha256(url.encode()).hexdigest()[:12]


class AlertRule:
    def __init__(self, severities: Iterable[str], threshold: int, link_base: str,
                 webhook_url: Optional[str]) -> None:
        self.severities = frozenset(severities)
        self.threshold = threshold
        # 0 turns template alerts off: no count is ever -1.
        self._crossing = threshold if threshold > 0 else -1
        self.link_base = link_base.rstrip("/")
        self.key = webhook_key(webhook_url)

    def check(self, result: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The alert this result raises, or None.

        A template alerts when its count in the current 1-minute window *equals* the
        threshold: the one result that crosses it, so a storm raises one alert per window.
        A severe result alerts unless it repeats a template already answered this minute
        (storm_suppressed): in a storm most results are severe (the rules provider calls
        every ERROR line HIGH), and an alert per request would double the hot path's
        Kafka traffic to say what the first alert and the threshold alert already say."""
        extra = result["result"]
        occurrences = extra.get("occurrences")
        if occurrences is not None and occurrences.get("1m") == self._crossing:
            return self.alert(result, TEMPLATE_THRESHOLD)
        if result["severity"] in self.severities and not extra.get("storm_suppressed"):
            return self.alert(result, SEVERITY)
        return None

    def alert(self, result: Dict[str, Any], reason: str) -> Dict[str, Any]:
        extra = result["result"]
        job_id = result["job_id"]
        return {
            "alert_id": str(uuid.uuid5(_ALERT_NAMESPACE, f"{job_id}|{reason}")),
            "reason": reason,
            "service": extra.get("service_name") or "unknown",
            "environment": extra.get("environment"),
            "severity": result["severity"],
            # A FAILED result has no summary; its error (or the template) says what happened.
            "summary": result["summary"] or result["error_message"] or extra.get("template"),
            "category": extra.get("category"),
            "template_id": extra.get("template_id"),
            "occurrences": extra.get("occurrences") or {},
            "threshold": self.threshold if reason == TEMPLATE_THRESHOLD else None,
            "job_id": job_id,
            # Quoted: a job id is the request's, and "/", "?", "|" or ">" in it must stay
            # inside the path segment (and inside Slack's <url|label>).
            "link": f"{self.link_base}/jobs/{quote(str(job_id), safe='')}",
            # The result's own time, so a re-published result raises an identical event.
            "raised_at": result["timestamp"],
        }
