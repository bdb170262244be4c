"""Two checkouts' cache (or fresh) path on one warm broker, alternated, with medians.

One `make bench` run moves by about ±15 % on 2 cores shared with the broker, more than most
changes gain; comparing two runs made minutes apart compares the machine's moods. This runs
the old and the new code in turns (ABBA…), so a drift touches both alike.

    git worktree add /tmp/old HEAD~1
    .venv/bin/python -m benchmarks.compare /tmp/old [--new .] [--rounds 3] [--fresh]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Dict, List

from benchmarks.cpu import processes_with
from benchmarks.pipeline import (CACHE, FRESH, PARTITIONS, ProcessSystem, bifrost_worker,
                                 create_topics, measure, produce, ready, request_bytes)
from tests.support.fake_ollama import FakeOllama
from tests.support.services import KafkaBroker, free_port_pair

FIGURES = ("throughput", "p50", "p95", "p99")


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bifrost-compare-"))
    broker = KafkaBroker(work / "kafka", free_port_pair()).start()
    broker_pids = processes_with(str(work / "kafka"))
    ollama = FakeOllama(latency=0.05).start()
    code = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    runs: Dict[str, List[Dict[str, float]]] = {"old": [], "new": []}
    try:
        # The broker's JIT warms up on the first topics it serves: not on the first version.
        await create_topics(broker.bootstrap, ["warm.in"])
        await produce(broker.bootstrap, "warm.in",
                      [(f"w{i}".encode(), request_bytes(f"w{i}", i)) for i in range(50000)])
        for round_ in range(args.rounds):
            for version in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                name = f"{version}{round_}"
                topics = (f"bench.{name}.in", f"bench.{name}.out")
                await create_topics(broker.bootstrap, list(topics))
                worker = bifrost_worker(broker.bootstrap, ollama, work, name, topics,
                                        code=code[version])
                system = ProcessSystem(FRESH if args.fresh else CACHE, *topics, [worker], ready,
                                       fresh=args.fresh)
                figures = await measure(broker.bootstrap, system, args.messages, args.rate,
                                        args.seconds, broker_pids)
                runs[version].append(figures)
                print(f"{version} round {round_ + 1}: "
                      + "  ".join(f"{k} {figures[k]:.1f}" for k in FIGURES), flush=True)
    finally:
        ollama.stop()
        broker.stop()
    print(f"\n{FRESH if args.fresh else CACHE}, {args.rounds} rounds, {PARTITIONS} partitions, "
          f"latency at {args.rate:g} msg/s; medians:")
    print(f"{'':8}" + "".join(f"{k:>12}" for k in FIGURES))
    medians = {v: {k: statistics.median(r[k] for r in runs[v]) for k in FIGURES} for v in runs}
    for version in ("old", "new"):
        print(f"{version:8}" + "".join(f"{medians[version][k]:>12.1f}" for k in FIGURES))
    print(f"{'new÷old':8}" + "".join(f"{medians['new'][k] / medians['old'][k]:>12.2f}"
                                     for k in FIGURES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="a checkout of the version to compare against")
    parser.add_argument("--new", default=".", help="the checkout under test (this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int,
                        help="backlog per run (default 20,000; 5,000 with --fresh)")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--fresh", action="store_true",
                        help="the fresh-analysis path (every request a new template)")
    args = parser.parse_args()
    if args.messages is None:
        args.messages = 5000 if args.fresh else 20000
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
