"""Occurrences per severity x template in tumbling windows of a minute and an hour.

Hand-rolled rather than Faust's windowed tables: those send a changelog message for every
increment (two windows and a key index: three per request), which halved the cache path's
throughput. Here each event bumps an in-memory total and a timer flushes the totals that
changed once a second, so a storm of one template costs one changelog write per window per
second. A crash loses at most the last second's counts, which are statistics, not results.

Keys start with the partition of the event that counted them, so each key has one writer
(the worker owning that partition) and goes to that changelog partition: a restored count is
exact. Windows follow the requests' Kafka timestamps, so a replayed backlog is counted in the
minutes it happened. A timestamp is set by whoever produced the request, so it is bounded: a
time after now counts as now (a request dated 2099 would otherwise hold the newest window,
which /templates and the dashboard show, for ever), and so does a time whose window has
already expired (older than 11 minutes for the minute, 4 hours for the hour): such a window
would be dropped at the next flush, and a stream of old dates would make one key each.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from typing import Dict, List, Optional, Set, Tuple

from faust.streams import current_event

from bifrost_streams.app import app, settings
from tables import changelog

WINDOWS = {"1m": 60, "1h": 3600}
# How long a finished window stays readable.
KEEP_SECONDS = {"1m": 600, "1h": 3 * 3600}

# In memory, rebuilt from the changelog at start-up: the flush timer writes outside any
# event, which the RocksDB store refuses (it picks its partition database by the event).
counts = app.Table("template-counts", default=None, key_type=str, value_type=int,
                   store="memory://local",  # "memory://" parses as an empty, falsy URL
                   help="partition|window|start|severity|template id -> occurrences")
_totals: Dict[str, int] = {}  # the keys counted since start-up, flushed or not
_dirty: Set[str] = set()
# A key a template and window: a stream of unique lines would add keys for hours before they
# expire. Past the cap, templates without a key of their own in a window share this one, so
# their counts stay, summed, and a storm of distinct lines still shows (and alerts) as one.
OVERFLOW_TEMPLATE = "_overflow:distinct templates past the cap"


def _key(partition: int, window: str, start: int, severity: str, template_id: str) -> str:
    # The template id starts with its service and may hold any character: it goes last.
    return f"{partition}|{window}|{start}|{severity}|{template_id}"


def _split(key: str) -> Tuple[int, str, int, str, str]:
    partition, window, start, severity, template_id = key.split("|", 4)
    return int(partition), window, int(start), severity, template_id


def window_start(event_time: Optional[float], window: str, now: float) -> int:
    """The start of the window an event counts in: its own, unless that lies after now or
    has expired already, then the current one."""
    size = WINDOWS[window]
    current = int(now // size * size)
    if not isinstance(event_time, (int, float)) or not math.isfinite(event_time) \
            or event_time > now:
        return current
    start = int(event_time // size * size)
    return current if start + size + KEEP_SECONDS[window] <= now else start


def count(template_id: str, severity: str) -> Dict[str, int]:
    """Count one occurrence; return the running counts in this event's windows."""
    message = current_event().message
    now = time.time()
    running = {}
    for window in WINDOWS:
        start = window_start(message.timestamp, window, now)
        key = _key(message.partition, window, start, severity, template_id)
        total = _totals.get(key)
        if total is None:
            total = counts.get(key)  # counted before a restart
        if total is None and len(_totals) >= settings.max_templates:
            key = _key(message.partition, window, start, severity, OVERFLOW_TEMPLATE)
            total = _totals.get(key)
        if total is None:
            total = 0
        _totals[key] = running[window] = total + 1
        _dirty.add(key)
    return running


@app.timer(interval=1.0, on_leader=False)
async def flush_counts() -> None:
    owned = changelog.owned_partitions(app, settings.jobs_topic)
    for key in list(_dirty):
        partition = _split(key)[0]
        if partition in owned:  # a revoked partition's counts belong to its new owner now
            changelog.write_soon(counts, key, _totals[key], partition)
    _dirty.clear()
    now = time.time()
    for key in [k for k in _totals if _finished(k, now)]:
        del _totals[key]


def _finished(key: str, now: float) -> bool:
    """Expired, or dated after now: such a key was counted before times were bounded, and
    came back from the changelog."""
    _, window, start, _, _ = _split(key)
    return start + WINDOWS[window] + KEEP_SECONDS[window] <= now or start > now


@app.timer(interval=60.0, on_leader=False)
async def expire_counts() -> None:
    owned = changelog.owned_partitions(app, settings.jobs_topic)
    now = time.time()
    for key in [k for k in list(counts.data.keys()) if _finished(k, now)]:
        partition = _split(key)[0]
        if partition in owned:
            changelog.remove(counts, partition, key)


def top(window: str, limit: int) -> Tuple[Optional[int], List[Tuple[Tuple[str, str, str], int]]]:
    """The newest window holding counts (its start), and its (service, template id, severity)
    by occurrences, summed over this worker's partitions.

    Newest by the stream's time, like the counting: by the wall clock, a view asked just after
    the hour would show an empty hour while the requests of the last one were still being
    counted."""
    # Stored counts, overlaid with the newer in-memory totals of the same keys.
    current = {**counts.data, **_totals}
    now = time.time()
    starts = [start for _, key_window, start, _, _ in map(_split, current)
              if key_window == window and start <= now]
    if not starts:
        return None, []
    newest = max(starts)
    totals: Counter = Counter()
    for key, value in current.items():
        _, key_window, key_start, severity, template_id = _split(key)
        if (key_window, key_start) == (window, newest):
            totals[(template_id.rsplit(":", 1)[0], template_id, severity)] += value
    return newest, totals.most_common(limit)
