"""Model calls a service may cause per minute (BIFROST_MODEL_BUDGET_PER_MINUTE).

Every new template is a model call, so a stream of unique lines would be a stream of calls; past
its budget a service's jobs are answered by the rules provider (agents/analysis.py). A token
bucket per service: `per_minute` calls at once, refilled continuously.

At most `max_services` buckets are kept. A bucket that has refilled is the same as a new one and
is dropped first; when none has, further services share one bucket, so inventing service
names buys no calls.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, List

SHARED = "\x00shared"  # a service of this name would only share the bucket


class ModelBudget:
    def __init__(self, per_minute: int, max_services: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0 or max_services < 1:
            raise ValueError("per_minute must be >= 0 and max_services >= 1")
        self.per_minute = per_minute  # 0: no limit
        self.max_services = max_services
        self.clock = clock
        # service -> [tokens, updated], least recently used first
        self._buckets: "OrderedDict[str, List[float]]" = OrderedDict()

    def take(self, service: str) -> bool:
        """One call for `service` if its budget has one left."""
        if self.per_minute == 0:
            return True
        now = self.clock()
        bucket = self._bucket(service, now)
        tokens = min(float(self.per_minute),
                     bucket[0] + (now - bucket[1]) * self.per_minute / 60.0)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _bucket(self, service: str, now: float) -> List[float]:
        bucket = self._buckets.get(service)
        if bucket is None:
            if len(self._buckets) >= self.max_services:
                self._drop_refilled(now)
            if len(self._buckets) >= self.max_services:
                service = SHARED
                bucket = self._buckets.get(SHARED)
            if bucket is None:
                bucket = self._buckets[service] = [float(self.per_minute), now]
        self._buckets.move_to_end(service)
        return bucket

    def _drop_refilled(self, now: float) -> None:
        full = [name for name, (tokens, updated) in self._buckets.items()
                if name != SHARED
                and tokens + (now - updated) * self.per_minute / 60.0 >= self.per_minute]
        for name in full:
            del self._buckets[name]

    def tracked(self) -> int:
        return len(self._buckets)
