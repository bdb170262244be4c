"""A worker's memory after 100,000 unique random lines: the state they leave behind.

    python -m benchmarks.memory [--lines 100000]      (also part of `make bench`)

Log text is attacker-influenced, and every unique line is a new template and, when it fails, a
new dead letter. Two child processes (a fresh interpreter each, since RSS never shrinks) run
the worker's own code in-process, without a broker (the tables' changelog writes are
dropped), on the same lines of one service:

- bounded: the settings' defaults (BIFROST_MAX_TEMPLATES_PER_SERVICE, BIFROST_MAX_TEMPLATES,
  BIFROST_DLQ_MAX_ENTRIES),
- unbounded: the same code without those caps (what the state would cost without them).

Each line goes through the templates table path (`tables.templates.classify`: masking, the
miner, the table) and, as the payload of a failed request, through the dead-letters table
(`tables.dead_letters.record`: redacted excerpt). VmRSS (from /proc/self/status) is read after
1,000 lines (the baseline), after the templates pass and after the dead-letters pass. The
bound printed is the baseline plus the caps times the bytes per template and per dead letter
measured in the unbounded child.

The cost of a known line among 12,000 templates of one length and first words (the worst case
of the Drain3 prefix tree the miner used before) is printed against a fresh miner.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from typing import Any, Dict

BASELINE_LINES = 1000
SERVICE = "noisy-service"
PARTITIONS = 4


def vm_rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def random_line(rng: random.Random) -> str:
    # Words of letters only: masking leaves them alone, so each line is a template of its own.
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(6)]
    return f"ERROR request failed: {' '.join(words)}"


def _child(bounded: bool, lines: int) -> Dict[str, Any]:
    # As the unit tests import the app: no broker, tables in memory.
    os.environ.update(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BIFROST_TABLE_STORE="memory://",
                      BIFROST_LOG_LEVEL="error")
    import dataclasses
    from types import SimpleNamespace

    from bifrost_streams.kafka.batching import set_current_event
    from bifrost_streams.mining.miner import MinerConfig, TemplateMiner
    from bifrost_streams.records import DlqEvent
    from tables import changelog, dead_letters, templates
    from tests.support.events import FakeEvent

    def dropped(partition, key, value, **_):
        return SimpleNamespace(message=SimpleNamespace(partition=partition or 0))
    for table in (templates.templates, dead_letters.dead_letters):
        table.send_changelog = dropped
    changelog.owned_partitions = lambda app, topic: set(range(PARTITIONS))
    settings = dead_letters.settings
    if not bounded:
        templates.miner = TemplateMiner(MinerConfig(), on_evict=templates._forget)
        dead_letters.settings = dataclasses.replace(settings, dlq_max_entries=10**7)

    rng = random.Random(20261207)
    texts = [random_line(rng) for _ in range(lines)]
    events = [FakeEvent(p) for p in range(PARTITIONS)]
    started = vm_rss_bytes()

    def classify(first: int, last: int) -> None:
        for i in range(first, last):
            set_current_event(events[i % PARTITIONS])
            templates.classify(SERVICE, texts[i])

    classify(0, BASELINE_LINES)
    baseline = vm_rss_bytes()
    clock = time.perf_counter()
    classify(BASELINE_LINES, lines)
    per_line_us = (time.perf_counter() - clock) / max(1, lines - BASELINE_LINES) * 1e6
    after_templates = vm_rss_bytes()
    for i, text in enumerate(texts):
        set_current_event(events[i % PARTITIONS])
        dead_letters.record(DlqEvent(
            schema_version=1, job_id=f"00000000-0000-4000-8000-{i:012d}", idempotency_key=None,
            error_code="LOG_NOT_FOUND", error_message="no log row", trace_id=f"trace-{i}",
            original_topic="analysis.request", original_partition=i % PARTITIONS,
            original_offset=i, failed_at="2026-12-07T00:00:00.000",
            payload={"job_id": f"00000000-0000-4000-8000-{i:012d}", "log_content": text}))
    after_dead_letters = vm_rss_bytes()
    set_current_event(None)
    return {"started": started, "baseline": baseline, "after_templates": after_templates,
            "after_dead_letters": after_dead_letters,
            "templates_kept": templates.miner.template_count(),
            "table_entries": len(templates.templates.data),
            "dead_letters_kept": len(dead_letters.dead_letters.data),
            "per_line_us": per_line_us,
            "caps": {"max_templates_per_service": settings.max_templates_per_service,
                     "max_templates": settings.max_templates,
                     "max_services": settings.max_services,
                     "dlq_max_entries": settings.dlq_max_entries}}


def known_line_ms() -> Dict[str, float]:
    """Per-line time of a known line: a fresh miner, and one holding 12,000 templates."""
    from bifrost_streams.mining.miner import TemplateMiner

    def line(i: int) -> str:
        return "ERROR payment worker " + "".join(chr(97 + int(d)) for d in f"{i:05d}") + " failed"

    def per_line(miner: TemplateMiner, rounds: int = 5000) -> float:
        text = line(0)
        started = time.perf_counter()
        for _ in range(rounds):
            miner.add("svc", text)
        return (time.perf_counter() - started) / rounds * 1000

    fresh = TemplateMiner()
    fresh.add("svc", line(0))
    full = TemplateMiner()
    for i in range(12_000):
        full.add("svc", line(i))
    # Best of three: the first rounds also warm the interpreter's caches up.
    return {"fresh_ms": min(per_line(fresh) for _ in range(3)),
            "after_12000_ms": min(per_line(full) for _ in range(3))}


def _run_child(bounded: bool, lines: int) -> Dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--child",
         "bounded" if bounded else "unbounded", "--lines", str(lines)],
        check=True, capture_output=True, text=True, timeout=1800).stdout
    return json.loads(output.strip().splitlines()[-1])


def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def report(lines: int, bounded: Dict[str, Any], unbounded: Dict[str, Any],
           known: Dict[str, float]) -> Dict[str, float]:
    caps = bounded["caps"]
    rest = lines - BASELINE_LINES
    per_template = (unbounded["after_templates"] - unbounded["baseline"]) / rest
    per_dead_letter = (unbounded["after_dead_letters"] - unbounded["after_templates"]) / lines
    bound = (bounded["baseline"] + caps["max_templates"] * per_template
             + caps["dlq_max_entries"] * per_dead_letter)
    print(f"\nmemory after {lines:,} unique random lines of one service (VmRSS; baseline = "
          f"after {BASELINE_LINES:,} lines)")
    print(f"{'':<12}{'baseline':>12}{'templates':>12}{'+ dead letters':>16}"
          f"{'kept':>20}{'growth x':>10}")
    for name, run in (("bounded", bounded), ("unbounded", unbounded)):
        kept = f"{run['templates_kept']:,} / {run['dead_letters_kept']:,}"
        growth = run["after_dead_letters"] / run["baseline"]
        print(f"{name:<12}{_mb(run['baseline']):>12}{_mb(run['after_templates']):>12}"
              f"{_mb(run['after_dead_letters']):>16}{kept:>20}{growth:>9.2f}x")
    grown = bounded["after_dead_letters"] - bounded["baseline"]
    grown_free = unbounded["after_dead_letters"] - unbounded["baseline"]
    print(f"growth over the baseline: bounded {_mb(grown)}, unbounded {_mb(grown_free)} "
          f"(ratio {grown / grown_free:.2f})")
    print(f"per item, unbounded: {per_template:,.0f} bytes a template (miner and table), "
          f"{per_dead_letter:,.0f} bytes a dead letter")
    print(f"bound: baseline + {caps['max_templates']:,} templates (BIFROST_MAX_TEMPLATES) + "
          f"{caps['dlq_max_entries']:,} dead letters (BIFROST_DLQ_MAX_ENTRIES) = {_mb(bound)}")
    print(f"templates path: {bounded['per_line_us']:.1f} µs a line (bounded), "
          f"{unbounded['per_line_us']:.1f} µs (unbounded)")
    print(f"a known line: {known['fresh_ms']:.4f} ms with a fresh miner, "
          f"{known['after_12000_ms']:.4f} ms after 12,000 templates of one shape")
    return {"bound": bound, "per_template": per_template, "per_dead_letter": per_dead_letter}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--child", choices=("bounded", "unbounded"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lines <= BASELINE_LINES:
        parser.error(f"--lines must be more than {BASELINE_LINES}")
    if args.child:
        print(json.dumps(_child(args.child == "bounded", args.lines)))
        return
    report(args.lines, _run_child(True, args.lines), _run_child(False, args.lines),
           known_line_ms())


if __name__ == "__main__":
    main()
