"""A circuit breaker per provider (over 50% failures opens it; 60 s later it
half-opens for a trial call; a trial success closes it, a trial failure opens it again).

While open, calls are refused at once, so requests go straight to the next provider instead
of each waiting out timeouts and retries against a backend that is down.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Deque

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class Breaker:
    def __init__(self, *, window: int = 20, min_calls: int = 5, failure_rate: float = 0.5,
                 open_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str], None] = lambda state: None) -> None:
        self.window: Deque[bool] = deque(maxlen=window)
        self.min_calls = min_calls
        self.failure_rate = failure_rate
        self.open_seconds = open_seconds
        self.clock = clock
        self.on_change = on_change
        self.state = CLOSED
        self.opened_at = 0.0
        self.trial_running = False

    def allow(self) -> bool:
        """May a call go out now? In half-open state, one trial call at a time."""
        if self.state == OPEN and self.clock() - self.opened_at >= self.open_seconds:
            self._set(HALF_OPEN)
        if self.state == OPEN:
            return False
        if self.state == HALF_OPEN:
            if self.trial_running:
                return False
            self.trial_running = True
        return True

    def record(self, success: bool) -> None:
        if self.state == HALF_OPEN:
            self.trial_running = False
            if success:
                self.window.clear()
                self._set(CLOSED)
            else:
                self._open()
            return
        self.window.append(success)
        failures = self.window.count(False)
        if (len(self.window) >= self.min_calls
                and failures / len(self.window) > self.failure_rate):
            self._open()

    def _open(self) -> None:
        self.opened_at = self.clock()
        self.window.clear()
        self._set(OPEN)

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_change(state)
