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
from typing import Callable

from .token_bucket import TokenBucket

SHARED = "\x00shared"  # a service of this name would only share the bucket


class ModelBudget:
    def __init__(self, per_minute: int, max_services: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0 or max_services < 1:
            raise ValueError("per_minute must be >= 0 and max_services >= 1")
        self.per_minute = per_minute  # 0: no limit
        self.max_services = max_services
        self.clock = clock
        # service -> its bucket, least recently used first
        self._buckets: "OrderedDict[str, TokenBucket]" = OrderedDict()

    def take(self, service: str) -> bool:
        """One call for `service` if its budget has one left."""
        if self.per_minute == 0:
            return True
        return self._bucket(service, self.clock()).take()

    def _bucket(self, service: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(service)
        if bucket is None:
            if len(self._buckets) >= self.max_services:
                self._drop_refilled(now)
            if len(self._buckets) >= self.max_services:
                service = SHARED
                bucket = self._buckets.get(SHARED)
            if bucket is None:
                bucket = self._buckets[service] = TokenBucket(self.per_minute, self.clock)
        self._buckets.move_to_end(service)
        return bucket

    def _drop_refilled(self, now: float) -> None:
        full = [name for name, bucket in self._buckets.items()
                if name != SHARED and bucket.full(now)]
        for name in full:
            del self._buckets[name]

    def tracked(self) -> int:
        return len(self._buckets)
