"""A token bucket: `per_minute` tokens at once, refilled continuously. Pure, with an injectable
clock; the redrive rate limit and the model budget per service are both one."""
from __future__ import annotations

import time
from typing import Callable


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.clock = clock
        self.updated = clock()

    def _refilled(self, now: float) -> float:
        return min(self.capacity, self.tokens + (now - self.updated) * self.capacity / 60.0)

    def take(self) -> bool:
        now = self.clock()
        self.tokens = self._refilled(now)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def give_back(self) -> None:
        """A token taken for something that did not happen."""
        self.tokens = min(self.capacity, self.tokens + 1.0)

    def full(self, now: float) -> bool:
        """Refilled: the same as a new bucket."""
        return self._refilled(now) >= self.capacity
