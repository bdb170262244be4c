"""A Faust event as the tables and the batch helpers read it, for tests and benchmarks that run
them without a broker: its message's topic, partition, timestamp and reference count."""
from __future__ import annotations


class FakeMessage:
    def __init__(self, partition: int, topic: str, timestamp: float) -> None:
        self.partition, self.topic, self.timestamp = partition, topic, timestamp
        self.refcount = 1

    def incref(self) -> None:
        self.refcount += 1


class FakeEvent:
    def __init__(self, partition: int, topic: str = "analysis.request",
                 timestamp: float = 0.0) -> None:
        self.message = FakeMessage(partition, topic, timestamp)
