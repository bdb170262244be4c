"""The shard reader (bifrost_streams/ingestion/kinesis.py) against moto's Kinesis server,
without Kafka: checkpoint order, resume without gap or re-read, failures, stopping, resharding,
speed."""
from __future__ import annotations

import asyncio
import gzip
import json
import time
import uuid
from collections import Counter
from typing import Dict, List, Optional

import aioboto3
import pytest

from bifrost_streams.ingestion.kinesis import KinesisSource
from tests.support.kinesis import CREDENTIALS, MotoKinesis

pytestmark = pytest.mark.integration


@pytest.fixture
def kinesis():
    server = MotoKinesis().start()
    yield server
    server.stop()


class Store:
    def __init__(self) -> None:
        self.values: Dict[str, str] = {}
        self.saves: List[tuple] = []

    def get(self, shard_id: str) -> Optional[str]:
        return self.values.get(shard_id)

    async def save(self, shard_id: str, sequence_number: str) -> None:
        self.values[shard_id] = sequence_number
        self.saves.append((shard_id, sequence_number))


class Sink:
    """Records what was forwarded; may fail or hold a batch when told to."""

    def __init__(self) -> None:
        self.records = []
        self.fail_next = 0
        self.hold: Optional[asyncio.Event] = None
        self.holding = asyncio.Event()

    async def __call__(self, batch) -> None:
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        if self.fail_next:
            self.fail_next -= 1
            self.records += batch[: len(batch) // 2]  # half got out before the failure
            raise ConnectionError("broker went away")
        self.records += batch

    def texts(self) -> List[str]:
        return [r.data for r in self.records]


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def source(kinesis, name, store, sink, wants=lambda shard: True, **kwargs) -> KinesisSource:
    def client():
        return aioboto3.Session(**CREDENTIALS).client("kinesis", endpoint_url=kinesis.url)
    kwargs.setdefault("idle_seconds", 0.05)
    return KinesisSource(client, name, store, sink, wants, **kwargs)


async def run_until(src: KinesisSource, condition, what: str, timeout: float = 30) -> None:
    task = asyncio.ensure_future(src.run())
    try:
        await until(lambda: condition() or task.done(), timeout, what)
        assert not task.done(), task.exception()
    finally:
        await src.stop(task, 10)


def lines(prefix: str, count: int):
    return [(f"k{i}", f"ERROR {prefix} {i}".encode()) for i in range(count)]


async def test_every_shard_then_resume_after_the_checkpoint(kinesis):
    name = f"s-{uuid.uuid4().hex[:6]}"
    shards = kinesis.create_stream(name, 2)
    placed = kinesis.put(name, lines("first", 120))
    store, sink = Store(), Sink()
    await run_until(source(kinesis, name, store, sink), lambda: len(sink.records) >= 120,
                    "120 records")
    assert sorted(sink.texts()) == sorted(f"ERROR first {i}" for i in range(120))
    last = {shard: seq for shard, seq in placed}
    assert store.values == last and set(last) == set(shards)
    # Within a shard, records are forwarded in their order, named by shard and sequence.
    for shard in shards:
        mine = [r.origin for r in sink.records if f"/{shard}/" in r.origin]
        assert mine == [f"kinesis:{name}/{shard}/{seq}/0" for s, seq in placed if s == shard]

    # A new reader with the same checkpoints forwards only what came after them.
    kinesis.put(name, lines("second", 80))
    resumed = Sink()
    await run_until(source(kinesis, name, store, resumed), lambda: len(resumed.records) >= 80,
                    "80 new records")
    assert sorted(resumed.texts()) == sorted(f"ERROR second {i}" for i in range(80))


async def test_a_failed_forward_leaves_the_checkpoint_and_reads_again(kinesis):
    name = f"s-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(name, 1)
    kinesis.put(name, lines("x", 50))
    store, sink = Store(), Sink()
    sink.fail_next = 1
    await run_until(source(kinesis, name, store, sink),
                    lambda: len(set(sink.texts())) >= 50 and store.values, "50 records")
    counts = Counter(sink.texts())
    assert set(counts) == {f"ERROR x {i}" for i in range(50)}  # no gap
    assert sum(counts.values()) == 75  # the failed half-batch, forwarded again
    assert len(store.saves) == 1  # saved only after the whole batch went out


async def test_stop_lets_the_batch_in_flight_finish_and_checkpoint(kinesis):
    name = f"s-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(name, 1)
    placed = kinesis.put(name, lines("y", 30))
    store, sink = Store(), Sink()
    sink.hold = asyncio.Event()
    src = source(kinesis, name, store, sink)
    task = asyncio.ensure_future(src.run())
    await until(sink.holding.is_set, 30, "a batch in flight")
    stopping = asyncio.ensure_future(src.stop(task, 10))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waiting for the batch, not abandoning it
    sink.hold.set()
    await stopping
    assert task.done() and len(sink.records) == 30
    assert store.values == {placed[-1][0]: placed[-1][1]}


async def test_only_the_wanted_shards_and_gzip_kpl_decoding(kinesis):
    name = f"s-{uuid.uuid4().hex[:6]}"
    shards = kinesis.create_stream(name, 2)
    record = json.dumps({"log": "boom", "level": "error"}).encode()
    placed = kinesis.put(name, [(f"k{i}", gzip.compress(record)) for i in range(40)])
    store, sink = Store(), Sink()
    expected = sum(1 for shard, _ in placed if shard == shards[1])
    await run_until(source(kinesis, name, store, sink, wants=lambda s: s == shards[1]),
                    lambda: len(sink.records) >= expected, "one shard's records")
    assert {r.origin.split("/")[1] for r in sink.records} == {shards[1]}
    assert set(sink.texts()) == {record.decode()}
    assert set(store.values) == {shards[1]}


async def test_shards_appearing_after_a_split_are_read_too(kinesis):
    # moto's split keeps the parent open and writing (AWS closes it), so this checks only that
    # new shards are discovered and nothing is read twice, not the parent's end.
    name = f"s-{uuid.uuid4().hex[:6]}"
    [parent] = kinesis.create_stream(name, 1)
    kinesis.put(name, lines("before", 20))
    client = kinesis.client()
    client.split_shard(StreamName=name, ShardToSplit=parent,
                       NewStartingHashKey=str(2 ** 127))
    kinesis.put(name, lines("after", 20))
    store, sink = Store(), Sink()
    src = source(kinesis, name, store, sink, discover_seconds=0.2)
    await run_until(src, lambda: len(sink.records) >= 40, "40 records")
    assert Counter(sink.texts()) == Counter(
        [f"ERROR before {i}" for i in range(20)] + [f"ERROR after {i}" for i in range(20)])
    assert src.shards == [] and len(kinesis.client().list_shards(StreamName=name)["Shards"]) == 3


async def test_throughput_of_the_reader(kinesis):
    name = f"s-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(name, 2)
    total = 10000
    kinesis.put(name, [(f"k{i}", json.dumps({"log": f"line {i}", "level": "info"}).encode())
                       for i in range(total)])
    store, sink = Store(), Sink()
    started = time.monotonic()
    await run_until(source(kinesis, name, store, sink), lambda: len(sink.records) >= total,
                    f"{total} records", timeout=120)
    elapsed = time.monotonic() - started
    print(f"\nreader alone (moto, 2 shards, batches of 1000): {total} records in "
          f"{elapsed:.1f}s = {total / elapsed:.0f} records/s")
    assert len(sink.records) == total
