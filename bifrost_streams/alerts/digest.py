"""The alerts the throttle held back, folded into what one digest message says. Pure.

The alerts come from an event: a field of any JSON type is counted by its text, so an odd
value (a list where a name belongs) is shown, not a crash of the timer that sends digests.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


@dataclass(frozen=True)
class Digest:
    count: int
    by_severity: List[Tuple[str, int]]  # most severe first
    by_service: List[Tuple[str, int]]  # most alerts first
    by_reason: List[Tuple[str, int]]
    first: List[Dict[str, Any]]  # the earliest few, in full
    since: str  # raised_at of the earliest and the latest
    until: str


def _name(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    return value if isinstance(value, str) else str(value)


def fold(alerts: Sequence[Dict[str, Any]], first: int = 5) -> Digest:
    if not alerts:
        raise ValueError("a digest folds at least one alert")
    ordered = sorted(alerts, key=lambda alert: _name(alert.get("raised_at"), ""))
    severities = Counter(_name(alert.get("severity"), "UNKNOWN") for alert in ordered)
    rank = {name: index for index, name in enumerate(SEVERITY_ORDER)}
    return Digest(
        count=len(ordered),
        by_severity=sorted(severities.items(), key=lambda item: rank.get(item[0], len(rank))),
        by_service=Counter(_name(alert.get("service"), "unknown")
                           for alert in ordered).most_common(),
        by_reason=Counter(_name(alert.get("reason"), "unknown")
                          for alert in ordered).most_common(),
        first=list(ordered[:first]),
        since=_name(ordered[0].get("raised_at"), ""),
        until=_name(ordered[-1].get("raised_at"), ""),
    )
