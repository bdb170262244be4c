"""Occurrences per service x template x severity in tumbling windows of a minute and an hour.

Keys carry the partition of the event that counted them: a key then has one writer (the
worker owning that partition) and one changelog partition, so a restored count is exact. The
view adds the partitions up. Windows follow the requests' Kafka timestamps, so a backlog
replayed after an outage is counted in the minutes it happened.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Dict, List, Tuple

from faust.streams import current_event

from bifrost_streams.app import app

WINDOWS = {"1m": (60.0, timedelta(minutes=10)), "1h": (3600.0, timedelta(hours=3))}

counts = {
    name: app.Table(f"template-counts-{name}", default=int, key_type=str, value_type=int,
                    help=f"partition|severity|template id -> occurrences per {name}")
    .tumbling(size, expires=expires, key_index=True).relative_to_stream()
    for name, (size, expires) in WINDOWS.items()
}


def count(template_id: str, severity: str) -> Dict[str, int]:
    """Count one occurrence; return the running counts in this event's windows."""
    # The template id starts with its service and may hold any character: it goes last.
    key = f"{current_event().message.partition}|{severity}|{template_id}"
    running = {}
    for name, table in counts.items():
        table[key] += 1
        running[name] = table[key].current()
    return running


def top(window: str, limit: int) -> List[Tuple[Tuple[str, str, str], int]]:
    """(service, template id, severity) by occurrences in the window holding now, summed over
    this worker's partitions."""
    totals: Counter = Counter()
    for key, value in counts[window].items().now():
        _, severity, template_id = key.split("|", 2)
        service = template_id.rsplit(":", 1)[0]
        totals[(service, template_id, severity)] += value
    return totals.most_common(limit)
