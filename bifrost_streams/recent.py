"""What this worker published lately, for the dashboard (web/dashboard.py): its latest results
and its throughput. In memory and per process; the history of the whole group is GET /analyses.

`remember` runs once per published result on a path that does thousands a second, so it only
keeps a reference to the result; anything shown is formatted when the page is asked for.
Throughput comes from samples of the published-results count taken by a timer, not from
timestamps kept per result: a minute of those would cost memory in proportion to the rate.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

LATEST = 50
WINDOW_SECONDS = 60.0

_latest: Deque[Dict[str, Any]] = deque(maxlen=LATEST)
# (time.monotonic(), results this process published by then): none before it started, so a
# worker has a rate from its first result on, before the sampling timer first fires.
_samples: Deque[Tuple[float, float]] = deque([(time.monotonic(), 0.0)])


def remember(result: Dict[str, Any]) -> None:
    _latest.append(result)


def latest() -> List[Dict[str, Any]]:
    """The remembered results, newest first."""
    return list(reversed(_latest))


def sample(now: float, published: float) -> None:
    """Record how many results this process had published by `now` (time.monotonic())."""
    _samples.append((now, published))
    while now - _samples[0][0] > WINDOW_SECONDS:
        _samples.popleft()


def throughput(now: float, published: float) -> Optional[float]:
    """Results per second from the oldest sample of the last minute to (now, published);
    None before the first sample."""
    while _samples and now - _samples[0][0] > WINDOW_SECONDS:
        _samples.popleft()
    if not _samples or now <= _samples[0][0]:
        return None
    since, before = _samples[0]
    return max(0.0, published - before) / (now - since)


def clear() -> None:
    """Forget everything (tests)."""
    _latest.clear()
    _samples.clear()
