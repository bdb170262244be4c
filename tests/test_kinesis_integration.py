"""The Kinesis source end to end: moto's Kinesis server -> worker -> requests -> results.

1,000 Kinesis records over 2 shards (Fluent Bit JSON, gzip, plain lines, KPL aggregates; 30%
ERROR/WARN, some with Java traces) go through three workers in turn: the first is stopped
cleanly (no Kinesis record may be forwarded twice), the second is killed mid-stream (a re-read
batch is allowed), the third finishes. Every ERROR/WARN entry must become exactly one job (by
job id; a request may repeat, as Kafka redelivers logs.ingestion after a restart) with exactly
one distinct result, and no other entry a job.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import random
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from bifrost_streams.ingestion.ingest_requests import request_id
from bifrost_streams.kafka.topics import key_partition
from tests.support.kafka_io import read_all, read_topic
from tests.support.kinesis import CREDENTIALS, MotoKinesis
from tests.support.services import free_port

pytestmark = pytest.mark.integration
MARKER = re.compile(r"rec-\d{4}(?:-[abc])?")
TRACE = ("java.lang.IllegalStateException: pool exhausted\n"
         "\tat com.shop.db.Pool.take(Pool.java:88)\n"
         "\tat com.shop.order.OrderService.save(OrderService.java:41)\n"
         "Caused by: java.net.SocketTimeoutException: connect timed out\n"
         "\t... 23 more")


@pytest.fixture
def moto_kinesis():
    server = MotoKinesis().start()
    yield server
    server.stop()


def _level(rng: random.Random, i: int) -> str:
    return ("ERROR", "ERROR", "WARN")[i % 10] if i % 10 < 3 else rng.choice(
        ("INFO", "INFO", "INFO", "DEBUG"))


def _user_record(rng: random.Random, marker: str, level: str, kind: str) -> bytes:
    message = f"{marker} {'payment declined' if level == 'ERROR' else 'slow call'}"
    trace = "\n" + TRACE if level == "ERROR" and rng.random() < 0.3 else ""
    if kind == "plain":
        return f"2026-01-31 10:00:00.000 {level} [svc-{marker[-1]}] {message}{trace}\n".encode()
    record = {"log": message + trace, "level": level.lower(), "service": "checkout",
              "time": 1769853600.5}
    return json.dumps(record).encode()


def make_records(rng: random.Random, first: int, count: int) -> List[Tuple[str, bytes, list]]:
    """(partition key, data, [(sub-record marker, level)]) for Kinesis records first.."""
    out = []
    for i in range(first, first + count):
        marker = f"rec-{i:04d}"
        kind = ("json", "gzip-json", "plain", "gzip-plain", "json", "plain", "kpl")[i % 7]
        if kind == "kpl":
            aggregator = RecordAggregator()
            subs = [(f"{marker}-{s}", _level(rng, i + k)) for k, s in enumerate("abc")]
            for sub_marker, level in subs:
                aggregator.add_user_record(sub_marker, gzip.compress(
                    _user_record(rng, sub_marker, level, "json")))
            data = aggregator.clear_and_get().get_contents()[2]
        else:
            level = _level(rng, i)
            subs = [(marker, level)]
            data = _user_record(rng, marker, level, kind.replace("gzip-", ""))
            if kind.startswith("gzip"):
                data = gzip.compress(data)
        out.append((f"key-{rng.randrange(10**6)}", data, subs))
    return out


class Stream:
    """The test's side of the stream: what was put, and which jobs it must yield."""

    def __init__(self, kinesis: MotoKinesis, name: str) -> None:
        self.kinesis, self.name = kinesis, name
        self.expected: Dict[str, str] = {}  # job id -> marker
        self.last_sequence: Dict[str, str] = {}
        self.put_count = 0
        self.levels: Counter = Counter()  # of every entry put

    def put(self, records) -> List[str]:
        placed = self.kinesis.put(self.name, [(key, data) for key, data, _ in records])
        markers = []
        for (shard, sequence), (_, _, subs) in zip(placed, records):
            self.last_sequence[shard] = sequence
            for index, (marker, level) in enumerate(subs):
                self.levels[level] += 1
                if level in ("ERROR", "WARN"):
                    origin = f"kinesis:{self.name}/{shard}/{sequence}/{index}"
                    self.expected[request_id(origin, 0)] = marker
                    markers.append(marker)
        self.put_count += len(records)
        return markers


def _requests_by_job(records) -> Dict[str, List[dict]]:
    grouped = defaultdict(list)
    for record in records:
        assert record["key"] == record["value"]["request_id"]
        grouped[record["key"]].append(record["value"])
    return grouped


async def _forwarded_origins(bootstrap, topic, records: int) -> Counter:
    """How often each Kinesis (user) record reached logs.ingestion, read to the topic's end."""
    seen = await read_all(bootstrap, topic, timeout=60)
    assert len({r["value"]["origin"].rsplit("/", 1)[0] for r in seen}) == records
    return Counter(r["value"]["origin"] for r in seen)


async def _wait_for_jobs(bootstrap, topic, job_ids, timeout, what):
    wanted = set(job_ids)
    return await read_topic(bootstrap, topic,
                            lambda recs: wanted <= {r["key"] for r in recs}, timeout, what)


def _check_requests(stream: Stream, records, upto: set) -> Counter:
    """Every request is an expected job, with its own entry; the copies per job."""
    by_job = _requests_by_job(records)
    assert set(by_job) <= set(stream.expected), "a request for an entry that was not kept"
    assert upto <= set(by_job)
    for job_id, copies in by_job.items():
        assert all(c == copies[0] for c in copies)
        assert MARKER.findall(copies[0]["log_content"])[0] == stream.expected[job_id]
        assert copies[0]["priority"] in ("ERROR", "WARN")
    return Counter({job_id: len(copies) for job_id, copies in by_job.items()})


async def test_kinesis_to_results_through_a_clean_stop_and_a_kill(
        moto_kinesis, pipeline_env, worker_factory, tmp_path):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    name = f"logs-{uuid.uuid4().hex[:8]}"
    shards = moto_kinesis.create_stream(name, 2)
    assert len(shards) == 2
    kinesis_env = {"KINESIS_STREAM_NAME": name, "LOCALSTACK_ENDPOINT": moto_kinesis.url,
                   "AWS_REGION": CREDENTIALS["region_name"], "AWS_ACCESS_KEY_ID": "test",
                   "AWS_SECRET_ACCESS_KEY": "test",
                   "BIFROST_INGESTION_TOPIC": f"logs.ingestion.{uuid.uuid4().hex[:8]}"}
    requests_topic = env["BIFROST_REQUEST_TOPIC"]
    rng = random.Random(6)
    stream = Stream(moto_kinesis, name)

    # 1. A first worker reads 400 records and is stopped cleanly.
    first = worker_factory("first", **kinesis_env).start().wait_ready()
    stream.put(make_records(rng, 0, 400))
    await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 120, "400 records' jobs")
    assert first.stop() == 0

    # 2. 300 more arrive while no worker runs; a second worker (fresh data directory: the
    #    checkpoints come back from their changelog) must start after the checkpoints.
    stream.put(make_records(rng, 400, 300))
    started = time.monotonic()
    second = worker_factory("second", BIFROST_DATA_DIR=str(tmp_path / "data-2"),
                            **kinesis_env).start()
    records = await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 180,
                                   "700 records' jobs")
    print(f"\nsecond worker: process start to the 300 waiting records' requests: "
          f"{time.monotonic() - started:.1f}s")
    second.wait_ready(60)
    copies = _check_requests(stream, records, set(stream.expected))
    forwarded = await _forwarded_origins(bootstrap, kinesis_env["BIFROST_INGESTION_TOPIC"], 700)
    assert max(forwarded.values()) == 1, "a clean stop and restart re-read Kinesis records"
    # Requests may repeat (same job id): logs.ingestion offsets not yet committed at the stop
    # are processed again; the jobs table answers them once.
    print(f"after the clean stop: duplicate requests {sum(copies.values()) - len(copies)}")

    # 3. 300 more arrive in small batches; the second worker is killed (SIGKILL) mid-stream.
    late = make_records(rng, 700, 300)
    late_markers: List[str] = []

    def put_slowly():
        for start in range(0, len(late), 15):
            late_markers.extend(stream.put(late[start:start + 15]))
            time.sleep(0.1)  # pacing the producer, not waiting for anything

    putter = threading.Thread(target=put_slowly)
    putter.start()
    before = len(stream.expected)
    await read_topic(bootstrap, requests_topic,
                     lambda recs: len({r["key"] for r in recs}) >= before + 20, 120,
                     "jobs from the late records")
    second.kill()
    await asyncio.to_thread(putter.join)
    assert stream.put_count == 1000

    third = worker_factory("third", BIFROST_DATA_DIR=str(tmp_path / "data-3"),
                           **kinesis_env).start().wait_ready(180)
    records = await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 180,
                                   "all 1000 records' jobs")
    copies = _check_requests(stream, records, set(stream.expected))
    duplicates = sum(copies.values()) - len(copies)
    forwarded = await _forwarded_origins(bootstrap, kinesis_env["BIFROST_INGESTION_TOPIC"], 1000)
    reread = sum(forwarded.values()) - len(forwarded)
    print(f"after the kill: {reread} Kinesis records forwarded twice (read again after their "
          f"last checkpoint), {duplicates} duplicate requests (those, and logs.ingestion "
          f"messages processed again after the last offset commit)")
    kept = stream.levels
    print(f"kept entries: {len(stream.expected)} of {sum(kept.values())} "
          f"({kept['ERROR']} ERROR, {kept['WARN']} WARN)")
    assert len(stream.expected) == kept["ERROR"] + kept["WARN"] > 300

    # Exactly one distinct result per job, none missing, none for anything else.
    results = await read_topic(
        bootstrap, env["BIFROST_RESULT_TOPIC"],
        lambda recs: set(stream.expected) <= {r["key"] for r in recs}, 240, "every result")
    by_job = defaultdict(list)
    for record in results:
        by_job[record["value"]["job_id"]].append(record["value"])
    assert set(by_job) == set(stream.expected)
    for job_id, answers in by_job.items():
        assert all(a == answers[0] for a in answers), f"two different results for {job_id}"
        assert answers[0]["status"] == "SUCCEEDED"

    # The checkpoints end at the last record put on each shard (the newest value per key).
    wanted = {f"{name}/{shard}": seq for shard, seq in stream.last_sequence.items()}
    await read_topic(bootstrap, f"{env['BIFROST_APP_ID']}-kinesis-checkpoints-changelog",
                     lambda recs: {json.loads(r["key"]): r["value"] for r in recs} == wanted, 60,
                     "the last checkpoints")
    code, body = third.get("/metrics")
    assert code == 200 and b"bifrost_kinesis_records_total" in body


def _shards_read(worker) -> List[str]:
    """The shards a worker started reading, in order, from its log."""
    shards = []
    for line in worker.log_path.read_text().splitlines():
        if '"kinesis_shard_reading"' in line:
            shards.append(json.loads(line)["shard"])
    return shards


async def test_two_workers_hand_shards_over_without_reading_twice(
        moto_kinesis, pipeline_env, worker_factory, tmp_path):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    # A name whose four shards' checkpoints cover all three partitions: whichever partition B
    # is given, it has a shard to take over.
    name = next(n for n in (f"logs-{uuid.uuid4().hex[:8]}" for _ in range(1000))
                if {key_partition(f"{n}/shardId-{i:012d}", 3) for i in range(4)} == {0, 1, 2})
    shards = moto_kinesis.create_stream(name, 4)
    assert shards == [f"shardId-{i:012d}" for i in range(4)]
    kinesis_env = {"KINESIS_STREAM_NAME": name, "LOCALSTACK_ENDPOINT": moto_kinesis.url,
                   "AWS_REGION": CREDENTIALS["region_name"], "AWS_ACCESS_KEY_ID": "test",
                   "AWS_SECRET_ACCESS_KEY": "test",
                   "BIFROST_INGESTION_TOPIC": f"logs.ingestion.{uuid.uuid4().hex[:8]}"}
    requests_topic = env["BIFROST_REQUEST_TOPIC"]
    rng = random.Random(11)
    stream = Stream(moto_kinesis, name)

    a = worker_factory("a", **kinesis_env).start().wait_ready()
    stream.put(make_records(rng, 0, 300))
    await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 120, "A's jobs")

    # B joins: A's readers stop at the revocation, the owners resume from the checkpoints.
    b = worker_factory("b", BIFROST_DATA_DIR=str(tmp_path / "data-b"),
                       BIFROST_WEB_PORT=str(free_port()), **kinesis_env).start()
    b.wait_ready(180)
    stream.put(make_records(rng, 300, 300))
    await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 120, "jobs with A and B")

    # B leaves cleanly: A takes every shard back.
    assert b.stop() == 0
    stream.put(make_records(rng, 600, 200))
    records = await _wait_for_jobs(bootstrap, requests_topic, stream.expected, 180,
                                   "jobs after B left")
    copies = _check_requests(stream, records, set(stream.expected))
    forwarded = await _forwarded_origins(bootstrap, kinesis_env["BIFROST_INGESTION_TOPIC"], 800)
    print(f"\nA read {_shards_read(a)}\nB read {_shards_read(b)}\nduplicate requests: "
          f"{sum(copies.values()) - len(copies)}")
    assert max(forwarded.values()) == 1, "a hand-over re-read Kinesis records"
    assert set(_shards_read(a)) == set(shards)
    assert _shards_read(b), "B was given a partition but read no shard"
    assert a.process.poll() is None
