"""Score analysis providers on labelled error logs: family, severity, grounding, schema, speed.

    python -m bifrost_streams.evaluation.analysis [--smollm2] [--ollama URL --model NAME]
        [--bedrock] [--limit N] [--data FILE] [--by-family] [--ungrounded]

The rules provider always runs, on every item. A model (`--smollm2` starts SmolLM2-135M in
llama-server and stops it afterwards; `--ollama`; `--bedrock` with the BIFROST_BEDROCK_*
settings) gets at most `--limit` items of each data set, every family in turn, and is scored
alone and as `<model>+rules`: what a result holds when the rules back it up (their answer
when the model gave none, their family when the model's is `unknown`).

Data sets:
- the corpus, benchmarks/analysis_corpus.jsonl: 260 error excerpts, each
  `{"text", "family", "severity_band"}`, 9 to 12 per failure family and 9 that fit none
  (`unknown`), from Java/Spring/Hibernate, Python/Django/SQLAlchemy, Go, Node, Kubernetes
  events and kubelet, PostgreSQL, MySQL, Kafka clients and brokers, RabbitMQ, nginx, envoy,
  the Linux kernel and systemd, and the AWS SDKs. They were written by hand, in the wording
  these systems use, with invented hosts, ids and numbers and no real secrets, without looking
  at the rules provider's signatures: the corpus is the held-out measure of them. A band is
  `low` (LOW or MEDIUM expected) or `high` (HIGH or CRITICAL).
- Loghub's BGL sample (--bgl, default ../shared/data/loghub/BGL): alert lines should come out
  HIGH or CRITICAL and normal lines lower; reported, no target.
- `--data FILE`: a team's own JSON lines `{"text", "family"[, "severity_band"]}`.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..providers.base import Provider
from ..providers.rules import RulesProvider
from . import report
from .corpus import (BGL, CORPUS, CorpusError, Item, read_bgl, read_jsonl, sample_bgl,
                     sample_by_family, spread)
from .report import Run
from .runner import run
from .scoring import Outcome, with_rules

DEFAULT_LIMIT = 60
DEFAULT_TIMEOUT = 180.0

DataSet = Tuple[str, List[Item], bool]  # name, items, labelled with families


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bifrost_streams.evaluation.analysis",
        description="Score analysis providers on labelled error logs.")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="the labelled corpus (default: %(default)s)")
    parser.add_argument("--bgl", type=Path, default=BGL,
                        help="Loghub BGL structured CSV; skipped if missing (default: "
                             "%(default)s)")
    parser.add_argument("--no-bgl", action="store_true", help="leave BGL out")
    parser.add_argument("--data", type=Path, action="append", default=[],
                        help='your own JSON lines {"text", "family"}; may be repeated')
    parser.add_argument("--smollm2", action="store_true",
                        help="start SmolLM2-135M in llama-server for the run")
    parser.add_argument("--ollama", metavar="URL", help="an Ollama server")
    parser.add_argument("--model", help="the Ollama model to score (with --ollama)")
    parser.add_argument("--bedrock", action="store_true",
                        help="AWS Bedrock with the BIFROST_BEDROCK_* settings")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help="items per data set for a model (0: all; default %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per model analysis (default %(default)s)")
    parser.add_argument("--by-family", action="store_true",
                        help="also print right answers per family on the corpus")
    parser.add_argument("--ungrounded", action="store_true",
                        help="also print the identifiers counted as invented")
    args = parser.parse_args(argv)
    if bool(args.ollama) != bool(args.model):
        parser.error("--ollama and --model go together")
    if args.limit < 0:
        parser.error("--limit must be 0 or more")
    return args


def data_sets(args: argparse.Namespace) -> List[DataSet]:
    sets: List[DataSet] = [("corpus", read_jsonl(args.corpus, band_required=True), True)]
    if not args.no_bgl:
        if args.bgl.is_file():
            sets.append(("bgl", read_bgl(args.bgl), False))
        else:
            print(f"BGL not found at {args.bgl}: left out", file=sys.stderr)
    for path in args.data:
        sets.append((path.name, read_jsonl(path, band_required=False), True))
    return sets


def for_model(name: str, items: List[Item], labelled: bool, limit: int) -> List[Item]:
    if not limit:
        return items
    if name == "bgl":
        return sample_bgl(items, limit)
    return sample_by_family(items, limit) if labelled else spread(items, limit)


async def _models(args: argparse.Namespace, stack: contextlib.AsyncExitStack
                  ) -> List[Tuple[str, Provider]]:
    models: List[Tuple[str, Provider]] = []
    if args.smollm2:
        from .smollm2 import smollm2_provider
        models.append(("smollm2", stack.enter_context(smollm2_provider(args.timeout))))
    if args.ollama:
        from ..providers.ollama import OllamaProvider
        models.append((args.model, OllamaProvider(args.ollama, args.model, args.timeout)))
    if args.bedrock:
        from .. import config
        from ..providers.bedrock import BedrockProvider
        from ..redaction import compile_rules
        settings = config.load()
        bedrock = BedrockProvider(settings.bedrock_model, settings.bedrock_region, args.timeout,
                                  compile_rules(settings.redaction_patterns.items()),
                                  settings.bedrock_endpoint_url)
        stack.push_async_callback(bedrock.close)
        models.append((settings.bedrock_model, bedrock))
    return models


def _progress(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)
    return show


async def evaluate(args: argparse.Namespace, sets: Sequence[DataSet]) -> List[Run]:
    runs: List[Run] = []
    rules = RulesProvider()
    by_rules: Dict[int, Outcome] = {}  # id(item) -> the rules' outcome
    for name, items, labelled in sets:
        outcomes = await run(rules, items, args.timeout)
        by_rules.update((id(item), outcome) for item, outcome in zip(items, outcomes))
        runs.append(Run("rules", False, name, labelled, outcomes))
    async with contextlib.AsyncExitStack() as stack:
        for label, provider in await _models(args, stack):
            chained: List[Run] = []
            for name, items, labelled in sets:
                chosen = for_model(name, items, labelled, args.limit)
                outcomes = await run(provider, chosen, args.timeout,
                                     _progress(f"{label} on {name}"))
                runs.append(Run(label, True, name, labelled, outcomes))
                chained.append(Run(f"{label}+rules", True, name, labelled, [
                    with_rules(o, by_rules[id(item)]) for item, o in zip(chosen, outcomes)]))
            runs.extend(chained)
    return runs


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        sets = data_sets(args)
    except (CorpusError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A terminated run still stops the model server it started (the exit runs the cleanups).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = asyncio.run(evaluate(args, sets))
    lines = [report.NOTE, "", *report.table(runs), "", *report.alert_lines(runs)]
    if args.by_family:
        lines += ["", *report.by_family(runs)]
    if args.ungrounded:
        lines += ["", "identifiers not in the log:", *report.ungrounded_names(runs)]
    lines += ["", "targets (printed, not asserted):", *report.targets(runs)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
