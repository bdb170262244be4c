"""The alerts the throttle held back, folded into what one digest message says. Pure."""
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


def fold(alerts: Sequence[Dict[str, Any]], first: int = 5) -> Digest:
    if not alerts:
        raise ValueError("a digest folds at least one alert")
    ordered = sorted(alerts, key=lambda alert: alert.get("raised_at") or "")
    severities = Counter(alert.get("severity") or "UNKNOWN" for alert in ordered)
    rank = {name: index for index, name in enumerate(SEVERITY_ORDER)}
    return Digest(
        count=len(ordered),
        by_severity=sorted(severities.items(), key=lambda item: rank.get(item[0], len(rank))),
        by_service=Counter(alert.get("service") or "unknown" for alert in ordered).most_common(),
        by_reason=Counter(alert.get("reason") for alert in ordered).most_common(),
        first=list(ordered[:first]),
        since=ordered[0].get("raised_at") or "",
        until=ordered[-1].get("raised_at") or "",
    )
