"""How many messages one webhook may get: at most `limit` in any `window` seconds.

A sliding log of send times rather than fixed windows: with fixed ones, five sends at the end
of one minute and five at the start of the next would put ten in a few seconds. Pure: the
caller passes the clock's time.
"""
from __future__ import annotations

from collections import deque
from typing import Deque


class Throttle:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._sent: Deque[float] = deque()
        self._paused_until = 0.0

    def allows(self, now: float) -> bool:
        self._forget(now)
        return now >= self._paused_until and len(self._sent) < self.limit

    def record(self, now: float) -> None:
        """A message goes out now: it takes a place in the window whatever its answer."""
        self._sent.append(now)

    def pause_until(self, moment: float) -> None:
        """Nothing before `moment`: the receiver said so (Retry-After)."""
        self._paused_until = max(self._paused_until, moment)

    def opens_at(self, now: float) -> float:
        """The earliest time a message may go out (`now` if it may go now)."""
        self._forget(now)
        opens = self._sent[0] + self.window if len(self._sent) >= self.limit else now
        return max(opens, self._paused_until, now)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] + self.window <= now:
            self._sent.popleft()
