"""make bench: one broker, one run, seven systems, ratios.

1. bare aiokafka consume -> produce loop (the ceiling of the client library),
2. a bare Faust agent forwarding raw events (the framework's per-event cost),
3. a Faust agent forwarding batches straight to the producer, doing nothing else: the cuts
   the bifrost agents make, without their work (the most a Faust agent reaches here),
4. bifrost-streams on the cache-hit path (validation, idempotency table with a durable
   write, template, result cache, result publication),
5. bifrost-streams on the fresh-analysis path: every request a new template, a model stub
   answering after a fixed latency (what in-flight concurrency buys),
6. the cache path again with two workers sharing the partitions (on the same 2 cores as the
   broker), each also keeping a standby copy of the other's tables (the default),
7. the same two workers without standby copies (BIFROST_STANDBY_REPLICAS=0).

Then benchmarks/memory.py: a worker's memory after 100,000 unique random lines.

Each system drains a backlog (throughput: messages/s between the first and the last output;
CPU: cores the system, the broker and this benchmark's client kept busy meanwhile), then
serves a paced stream (latency: request produced -> result read, P50/P95/P99).
Usage: python -m benchmarks.pipeline [--messages N] [--rate R] [--seconds S]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks import memory
from benchmarks.cpu import CpuClock, processes_with
from bifrost_streams.kafka import embedded
from tests.support.fake_ollama import FakeOllama
from tests.support.services import REPO, KafkaBroker, Worker, free_port, free_port_pair

PARTITIONS = 4
MODEL_LATENCY = 0.05  # seconds, the model stub's on the fresh-analysis path


def request_bytes(key: str, n: int, fresh: bool = False) -> bytes:
    """Variants of one error line (after the first, every request is a cache hit), or with
    `fresh` a new template each: a word made of letters, which the miner does not mask."""
    line = (f"ERROR worker {_word(n)} lost its lease" if fresh
            else f"ERROR upstream timed out after {n % 997}ms (req {n})")
    return json.dumps({"request_id": key, "correlation_id": key, "service_name": "bench",
                       "log_content": line, "priority": "ERROR"}).encode()


def _word(n: int) -> str:
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
        if not n:
            return letters


async def create_topics(bootstrap: str, names: List[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: List[Tuple[bytes, bytes]],
                  rate: float = 0, sent: Dict[str, float] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5 if rate else 20)
    await producer.start()
    try:
        started = time.perf_counter()
        for index, (key, value) in enumerate(messages):
            if rate:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if sent is not None:
                sent[key.decode()] = time.perf_counter()
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def watch(bootstrap: str, topic: str, keys: set, timeout: float,
                from_end: bool = False, statuses: Counter | None = None,
                alive: Callable[[], bool] = lambda: True) -> Dict[str, float]:
    """Arrival time of the first output for each key; counts result statuses if asked.
    Stops at once when `alive()` turns false: a crashed worker will not catch up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    await asyncio.sleep(0)
    arrived: Dict[str, float] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        if from_end:
            await consumer.seek_to_end(*tps)
        else:
            await consumer.seek_to_beginning(*tps)
        deadline = time.perf_counter() + timeout
        while len(arrived) < len(keys):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{topic}: {len(arrived)}/{len(keys)} outputs in {timeout}s")
            if not alive():
                raise RuntimeError(f"{topic}: the system under test stopped after "
                                   f"{len(arrived)}/{len(keys)} outputs")
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for messages in batch.values():
                for message in messages:
                    key = message.key.decode() if message.key else ""
                    if key in keys and key not in arrived:
                        arrived[key] = now
                        if statuses is not None:
                            statuses[json.loads(message.value).get("status", "?")] += 1
    finally:
        await consumer.stop()
    return arrived


async def aiokafka_loop(bootstrap: str, source: str, target: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap,
                                group_id=f"bench-loop-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            futures = [await producer.send(target, key=m.key, value=m.value)
                       for messages in batch.values() for m in messages]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


class System:
    """Something that reads `source` and writes one output per key to `target`."""

    def __init__(self, name: str, source: str, target: str) -> None:
        self.name, self.source, self.target = name, source, target

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def alive(self) -> bool:
        return True

    def pids(self) -> List[int]:
        """Its processes apart from the benchmark's own (which runs the aiokafka loop)."""
        return []


class LoopSystem(System):
    def __init__(self, bootstrap: str, source: str, target: str) -> None:
        super().__init__("bare aiokafka loop", source, target)
        self.bootstrap = bootstrap
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(aiokafka_loop(self.bootstrap, self.source, self.target,
                                                       self._stop))

    async def stop(self) -> None:
        self._stop.set()
        await self._task


class ProcessSystem(System):
    def __init__(self, name: str, source: str, target: str, workers: List[Worker],
                 ready: Callable[[Worker], None], fresh: bool = False) -> None:
        super().__init__(name, source, target)
        self.workers, self.ready, self.fresh = workers, ready, fresh

    async def start(self) -> None:
        for worker in self.workers:
            worker.start()
        loop = asyncio.get_running_loop()
        for worker in self.workers:
            await loop.run_in_executor(None, self.ready, worker)
        if len(self.workers) > 1:
            await loop.run_in_executor(None, _wait_shared, self.workers, self.source)

    async def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def pids(self) -> List[int]:
        return [worker.process.pid for worker in self.workers]

    def alive(self) -> bool:
        for worker in self.workers:
            if worker.process.poll() is not None:
                print(f"{self.name} exited; its log ends with:\n{worker.tail(30)}",
                      file=sys.stderr)
                return False
        return True


def _wait_shared(workers: List[Worker], topic: str) -> None:
    """Until each worker owns some partitions of `topic`: a rebalance is not measured."""
    deadline = time.monotonic() + 120
    while True:
        owned = [[a for a in w.status().get("consumer", {}).get("assignment", [])
                  if a.startswith(topic + "/")] for w in workers]
        if all(owned) and sum(map(len, owned)) == PARTITIONS:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not share {topic}: {owned}")
        time.sleep(0.2)


CPU_PARTS = ("system", "broker", "client")  # the groups measure() samples


async def measure(bootstrap: str, system: System, backlog: int, rate: float,
                  seconds: float, broker_pids: List[int]) -> Dict[str, float]:
    fresh = getattr(system, "fresh", False)
    keys = [f"{system.name[:4]}-{uuid.uuid4().hex}" for _ in range(backlog)]
    backlog_messages = [(k.encode(), request_bytes(k, i, fresh)) for i, k in enumerate(keys)]
    # Several workers start first and settle their partitions; one worker drains a backlog
    # that waits for it, as after a restart.
    shared = len(getattr(system, "workers", ())) > 1
    if shared:
        await system.start()
    await produce(bootstrap, system.source, backlog_messages)
    if not shared:
        await system.start()
    clock = CpuClock(dict(zip(CPU_PARTS, (system.pids(), broker_pids, [os.getpid()])))).start()
    try:
        statuses: Counter = Counter()
        try:
            arrived = await watch(bootstrap, system.target, set(keys), timeout=600,
                                  statuses=statuses, alive=system.alive)
        finally:
            await clock.stop()
        times = sorted(arrived.values())
        throughput = (len(times) - 1) / max(times[-1] - times[0], 1e-9)
        cores = clock.cores(times[0], times[-1])
        paced = [f"lat-{uuid.uuid4().hex}" for _ in range(int(rate * seconds))]
        sent: Dict[str, float] = {}
        watcher = asyncio.create_task(watch(bootstrap, system.target, set(paced), 120,
                                            from_end=True, alive=system.alive))
        await asyncio.sleep(1.0)  # the watcher is positioned at the end before we produce
        await produce(bootstrap, system.source,
                      [(k.encode(), request_bytes(k, backlog + i, fresh))
                       for i, k in enumerate(paced)], rate=rate, sent=sent)
        received = await watcher
    finally:
        await system.stop()
    latencies = sorted((received[k] - sent[k]) * 1000 for k in paced)
    return {"throughput": throughput, "failed": statuses.get("FAILED", 0), **cores,
            "p50": statistics.median(latencies),
            "p95": latencies[int(len(latencies) * 0.95) - 1],
            "p99": latencies[int(len(latencies) * 0.99) - 1]}


class EmbeddedBroker:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port

    def start(self) -> str:
        return embedded.ensure_running(str(self.directory), self.port)

    def stop(self) -> None:
        noida = Path(sys.executable).with_name("noida-db")
        subprocess.run([str(noida), "down", "--data-dir", str(self.directory / "noida-db")],
                       capture_output=True, timeout=60)


def _wait_faust_group(worker: Worker) -> None:
    # The passthrough app has no web server: it is ready once Faust logs that it is.
    deadline = time.monotonic() + 120
    while "[^Worker]: Ready" not in worker.log_path.read_text(errors="replace"):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("passthrough worker did not start:\n" + worker.tail())
        time.sleep(0.2)


def bifrost_worker(bootstrap: str, ollama: FakeOllama, work: Path, name: str,
                   topics: Tuple[str, str], index: int = 0,
                   code: Optional[str] = None) -> Worker:
    """A bifrost-streams worker on `topics` (in, out); `code`: a checkout to run instead of
    this one (benchmarks/compare.py)."""
    env: Dict[str, Optional[str]] = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "BIFROST_APP_ID": f"bench-{name}",
        "BIFROST_REQUEST_TOPIC": topics[0], "BIFROST_RESULT_TOPIC": topics[1],
        "BIFROST_DLQ_TOPIC": f"bench.{name}.dlq", "BIFROST_OLLAMA_URL": ollama.url,
        "BIFROST_OLLAMA_MODEL": ollama.model, "BIFROST_WEB_PORT": str(free_port()),
        "BIFROST_WEB_HOST": "127.0.0.1", "BIFROST_DATA_DIR": str(work / f"{name}-data-{index}"),
        "BIFROST_TABLE_STORE": "rocksdb://", "BIFROST_LOG_LEVEL": "warning",
        "BIFROST_DATABASE_URL": None, "HEIMDALL_DATABASE_URL": None,
        # The fresh path asks the model for thousands of new templates a minute on purpose.
        "BIFROST_MODEL_BUDGET_PER_MINUTE": "0"}
    if code is not None:
        env["PYTHONPATH"] = code
    return Worker(env, work, f"{name}-{index}")


def ready(worker: Worker) -> None:
    worker.wait_ready(180)


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    if args.broker == "kafka":
        broker = KafkaBroker(work / "kafka", free_port_pair()).start()
        bootstrap = broker.bootstrap
        broker_pids = processes_with(str(work / "kafka"))
    else:
        broker = EmbeddedBroker(work / "noida", free_port())
        bootstrap = broker.start()
        broker_pids = processes_with(str(work / "noida"))
    args.broker_name = ("Apache Kafka" if args.broker == "kafka"
                        else "the embedded broker (noida-db)")
    ollama = FakeOllama(latency=MODEL_LATENCY).start()
    try:
        topics = {name: (f"bench.{name}.in", f"bench.{name}.out")
                  for name in ("loop", "faust", "floor", "pipeline", "fresh", "two", "solo")}
        await create_topics(bootstrap, [t for pair in topics.values() for t in pair])

        def passthrough(name: str, mode: str) -> Worker:
            env = {"BENCH_APP_ID": f"bench-{name}", "BENCH_BOOTSTRAP": bootstrap,
                   "BENCH_IN": topics[name][0], "BENCH_OUT": topics[name][1],
                   "BENCH_DATA_DIR": str(work / f"{name}-data"), "BENCH_MODE": mode,
                   "PYTHONPATH": str(REPO)}
            return Worker(env, work, f"{name}-passthrough", app="benchmarks.passthrough_app")

        def bifrost(name: str, index: int = 0, standby: int = 1) -> Worker:
            worker = bifrost_worker(bootstrap, ollama, work, name, topics[name], index)
            worker.env["BIFROST_STANDBY_REPLICAS"] = str(standby)
            return worker
        systems = [
            LoopSystem(bootstrap, *topics["loop"]),
            ProcessSystem(FAUST, *topics["faust"], [passthrough("faust", "event")],
                          _wait_faust_group),
            ProcessSystem(FLOOR, *topics["floor"], [passthrough("floor", "batch")],
                          _wait_faust_group),
            ProcessSystem(CACHE, *topics["pipeline"], [bifrost("pipeline")], ready),
            ProcessSystem(FRESH, *topics["fresh"], [bifrost("fresh")], ready, fresh=True),
            ProcessSystem(TWO, *topics["two"], [bifrost("two", 0), bifrost("two", 1)], ready),
            ProcessSystem(SOLO, *topics["solo"], [bifrost("solo", i, standby=0) for i in (0, 1)],
                          ready),
        ]
        sizes = {"bare aiokafka loop": args.messages * 5, FRESH: args.messages // 4}
        figures = {}
        for system in systems:
            figures[system.name] = await measure(bootstrap, system,
                                                 sizes.get(system.name, args.messages),
                                                 args.rate, args.seconds, broker_pids)
            print(f"measured {system.name}: {figures[system.name]['throughput']:.0f} msg/s",
                  file=sys.stderr)
        report(figures, args)
    finally:
        ollama.stop()
        broker.stop()


FAUST = "bare Faust agent"
FLOOR = "Faust batched, no work"
CACHE = "bifrost cache path"
FRESH = "bifrost fresh path"
TWO = "cache path, 2 workers"
SOLO = "2 workers, no standby"
TARGET_RATE = 10000  # requests/s, the target load
TARGET_P95_MS = 500


def report(figures: Dict[str, Dict[str, float]], args: argparse.Namespace) -> None:
    loop = figures["bare aiokafka loop"]["throughput"]
    bare = figures[FAUST]["throughput"]
    print(f"\nbifrost-streams benchmark — {args.broker_name} on 127.0.0.1, "
          f"{os.cpu_count()} cores; backlog {args.messages} (aiokafka {args.messages * 5}, "
          f"fresh path {args.messages // 4}); latency at {args.rate:g} msg/s for "
          f"{args.seconds:g}s; model stub {MODEL_LATENCY * 1000:g} ms; {PARTITIONS} partitions")
    print(f"{'system':<24}{'msg/s':>9}{'P50 ms':>9}{'P95 ms':>9}{'P99 ms':>9}"
          f"{'÷ Faust':>9}{'÷ aiokafka':>12}{'FAILED':>8}")
    for name, f in figures.items():
        print(f"{name:<24}{f['throughput']:>9.0f}{f['p50']:>9.1f}{f['p95']:>9.1f}"
              f"{f['p99']:>9.1f}{f['throughput'] / bare:>9.2f}{f['throughput'] / loop:>12.3f}"
              f"{f['failed']:>8}")
    cache, fresh, two = (figures[name] for name in (CACHE, FRESH, TWO))
    in_flight = fresh["throughput"] * MODEL_LATENCY
    print("\nFAILED results must be 0 on every path (a failing path is not a fast one).")
    _cpu(figures)
    print(f"fresh path: {fresh['throughput']:.0f} analyses/s with a {MODEL_LATENCY * 1000:g} ms "
          f"model = {in_flight:.0f} in flight on average (one at a time would be "
          f"{1 / MODEL_LATENCY:.0f}/s)")
    print("\ntargets, measured in this run:")
    checks = [
        ("cache path >= 0.5 x bare Faust", cache["throughput"] / bare, 0.5),
        ("cache path >= 5 x bare Faust", cache["throughput"] / bare, 5.0),
        ("cache path >= 0.1 x bare aiokafka", cache["throughput"] / loop, 0.1),
        ("two workers >= 1.5 x one", two["throughput"] / cache["throughput"], 1.5),
        ("  the same without standby copies", figures[SOLO]["throughput"] / cache["throughput"],
         1.5),
    ]
    for label, value, target in checks:
        print(f"  {label:<44}{value:>7.2f}  {'met' if value >= target else 'NOT met'}")
    p95_ok = cache["p95"] < 50
    print(f"  {'cache path P95 < 50 ms at the paced rate':<44}{cache['p95']:>7.1f}  "
          f"{'met' if p95_ok else 'NOT met'}{'' if args.rate >= 500 else ' (rate < 500/s)'}")
    _ceilings(figures)
    _estimate(cache, two)


def _us_per_message(figure: Dict[str, float], part: str) -> float:
    return figure[part] / figure["throughput"] * 1e6


def _busy(figure: Dict[str, float]) -> float:
    return sum(figure[part] for part in CPU_PARTS)


def _cpu(figures: Dict[str, Dict[str, float]]) -> None:
    print("\nCPU while draining the backlog: cores kept busy (µs of CPU per message)")
    print(f"{'system':<24}{'system':>16}{'broker':>16}{'bench client':>16}{'all':>8}")
    for name, f in figures.items():
        print(f"{name:<24}" + "".join(f"{f[part]:>7.2f} ({_us_per_message(f, part):>5.0f})"
                                      for part in CPU_PARTS) + f"{_busy(f):>8.2f}")
    print("(the aiokafka loop runs inside the bench client)")


def _ceilings(figures: Dict[str, Dict[str, float]]) -> None:
    """What this machine allows, from the same run: the targets above a ceiling cannot be
    met here by any change to the cache path."""
    cache, floor = figures[CACHE], figures[FLOOR]
    bare = figures[FAUST]["throughput"]
    busy = _busy(cache)
    cores = os.cpu_count() or 1
    print("\nceilings on this machine, from this run:")
    print(f"  a Faust agent doing no work forwards {floor['throughput']:.0f}/s = "
          f"{floor['throughput'] / bare:.2f} x bare Faust: the most the cache path could "
          f"reach; it reaches {cache['throughput'] / floor['throughput']:.0%} of it")
    print(f"  one cache-path worker kept {busy:.2f} of {cores} cores busy (worker "
          f"{cache['system']:.2f}, broker {cache['broker']:.2f}, bench client "
          f"{cache['client']:.2f}): at the same CPU per message, N workers on these cores "
          f"reach at most {cores / busy:.2f} x one")
    per_message = {name: _us_per_message(figures[name], "system")
                   for name in (CACHE, TWO, SOLO)}
    print(f"  worker CPU per message: one worker {per_message[CACHE]:.0f} µs, two with standby "
          f"copies {per_message[TWO]:.0f} µs, two without {per_message[SOLO]:.0f} µs: "
          f"keeping the other's tables costs {per_message[TWO] - per_message[SOLO]:.0f} µs "
          f"per message")


def _estimate(cache: Dict[str, float], two: Dict[str, float]) -> None:
    """A paper estimate for 10,000 requests/s with P95 under 500 ms."""
    # One core per worker, on hosts apart from the brokers: a worker core then serves what
    # the workers' CPU per message allows, measured with two workers keeping standby copies
    # of each other's tables (as deployed); 30 % headroom for bursts and a lost worker.
    per_core = 1e6 / _us_per_message(two, "system")
    workers = math.ceil(TARGET_RATE / (per_core * 0.7))
    partitions = 1
    while partitions < 2 * workers:
        partitions *= 2
    broker_cores = TARGET_RATE * _us_per_message(cache, "broker") / 1e6
    print(f"\npaper estimate for {TARGET_RATE:,} requests/s, P95 < {TARGET_P95_MS} ms "
          f"(cache path):")
    print(f"  a worker core serves {per_core:.0f}/s with standby copies (two workers' CPU per "
          f"message here); at 70 % load {per_core * 0.7:.0f}/s: {workers} workers (one core "
          f"each), {partitions} partitions (at least 2 per worker, so a lost worker's share "
          f"spreads and the group can grow without repartitioning)")
    print(f"  brokers: {broker_cores:.1f} cores at the broker CPU per message measured here "
          f"(one broker, replication factor 1; replicas multiply it)")
    print(f"  latency: P95 {cache['p95']:.0f} ms at the paced rate here is far below "
          f"{TARGET_P95_MS} ms; below 70 % load queueing adds little, so the budget is "
          f"spent by fresh analyses, which need rate x model latency in flight (Little's "
          f"law: e.g. 1,000 new templates/s x 2 s = 2,000 concurrent model calls, "
          f"BIFROST_CONCURRENCY per worker x workers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--broker", choices=("kafka", "embedded"), default="kafka",
                        help="Apache Kafka from scripts/kafka.sh, or noida-db")
    asyncio.run(run(parser.parse_args()))
    # A worker's state after unique lines: no broker needed (benchmarks/memory.py).
    memory.main([])


if __name__ == "__main__":
    main()
