"""bifrost-submit: analyse log files or directories.

    bifrost-submit PATH... [--wait] [--timeout 300] [--levels ERROR,WARN,FATAL | --all]

Files are split into entries (a stack trace stays with the line that starts it; see
bifrost_streams/ingestion/logparse.py) and each entry at a kept level becomes one inline
request on the request topic. Kept by default: BIFROST_INGEST_LEVELS (ERROR, WARN, FATAL),
since a batch analysis is of error entries; `--all` also sends entries at other levels or with
none. Directories are walked recursively (hidden and binary files skipped; `.gz` files are read
inflated).

Job ids come from the file, the entry's first line and its text: submitting the same file
again names the same jobs, and the worker answers them from its jobs table (within
BIFROST_JOB_RETENTION_SECONDS) instead of analysing them again. `--wait` reads the result
topic from where it ended before publishing and prints each result as it arrives, until all
are in or the timeout passes (exit code 1 then). Broker and topics come from the worker's own
settings (environment, bifrost.yaml); `--bootstrap` overrides the broker.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import config
from ..kafka.embedded import EMBEDDED_PORT
from .ingest_requests import Before, encode, inline_request, request_id
from .logparse import parse_entry, split_entries
from ..kafka.topics import existing_partitions

Request = Tuple[str, Dict[str, Any]]  # (where it came from, "file:line"; the request)


def files_under(paths: Iterable[Path]) -> List[Path]:
    found: List[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return found


def read_lines(path: Path) -> Optional[List[str]]:
    """The file's lines, or None for a binary file."""
    if path.suffix == ".gz":
        with gzip.open(path) as inflated:
            raw = inflated.read()
    else:
        raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        return None
    return raw.decode("utf-8", errors="replace").splitlines()


def requests_for(path: Path, lines: Sequence[str], levels: Optional[Iterable[str]],
                 result_topic: str, max_bytes: int) -> Tuple[List[Request], int]:
    """The requests for one file's entries at `levels` (None: every entry), and how many
    entries were left out."""
    kept: List[Request] = []
    skipped = 0
    wanted = None if levels is None else set(levels)
    resolved = path.resolve()  # once: a file can hold a million entries
    before = Before()
    for start, text in split_entries(lines):
        entry = parse_entry(text, start)
        if wanted is not None and entry.level not in wanted:
            before.saw(text)
            skipped += 1
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        origin = f"file:{resolved}:{start}:{digest}"
        job_id = request_id(origin)
        request = inline_request(entry, job_id, result_topic, max_bytes, origin,
                                 context=before.context())
        before.saw(text)
        request["service_name"] = request["service_name"] or path.name.split(".")[0]
        kept.append((f"{path}:{start}", request))
    return kept, skipped


async def publish(bootstrap: str, topic: str, requests: List[Request], progress) -> None:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=64 * 1024 * 1024)
    await producer.start()
    try:
        pending = []
        for _, request in requests:
            future = await producer.send(topic, key=request["request_id"].encode(),
                                         value=encode(request))
            future.add_done_callback(lambda _: progress.update(1))
            pending.append(future)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


class ResultReader:
    """Results published after start(), read without a consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                         enable_auto_commit=False,
                                         auto_offset_reset="earliest")
        self.assigned: set = set()

    async def start(self) -> None:
        await self.consumer.start()
        await self._assign(at_end=True)

    async def _assign(self, at_end: bool) -> None:
        from aiokafka import TopicPartition
        # Asked through the admin client: a consumer's metadata request could make a broker
        # with auto.create.topics.enable create the topic with the wrong partition count.
        count = (await existing_partitions(self.bootstrap, [self.topic])).get(self.topic, 0)
        tps = {TopicPartition(self.topic, p) for p in range(count)}
        new = tps - self.assigned
        if not new:
            return
        ends = await self.consumer.end_offsets(list(new)) if at_end else {}
        self.consumer.assign(list(tps))
        for tp in new:
            # A partition that appears only now (a first worker created the topic) is read
            # from its start: every result in it is newer than this run.
            self.consumer.seek(tp, ends.get(tp, 0))
        self.assigned = tps

    async def wait(self, job_ids: Dict[str, str], timeout: float, show) -> Dict[str, Dict]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: Dict[str, Dict] = {}
        while len(found) < len(job_ids) and loop.time() < deadline:
            if not self.assigned:
                await self._assign(at_end=False)
                if not self.assigned:
                    await asyncio.sleep(0.5)
                    continue
            batch = await self.consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        result = json.loads(message.value)
                    except (TypeError, ValueError):
                        continue
                    job_id = result.get("job_id") if isinstance(result, dict) else None
                    if job_id in job_ids and job_id not in found:
                        found[job_id] = result
                        show(job_ids[job_id], result)
        return found

    async def stop(self) -> None:
        await self.consumer.stop()


def _describe(where: str, result: Dict[str, Any]) -> str:
    if result.get("status") == "FAILED":
        return f"{where}  FAILED {result.get('error_code')}: {result.get('error_message')}"
    return (f"{where}  {result.get('severity')}  {result.get('summary')}\n"
            f"    root cause: {result.get('root_cause')}\n"
            f"    recommendation: {result.get('recommendation')}")


async def run(args: argparse.Namespace, settings: config.Settings) -> int:
    from tqdm import tqdm
    bootstrap = args.bootstrap or settings.broker or f"127.0.0.1:{EMBEDDED_PORT}"
    levels = None if args.all else (config.OPTIONS["ingest_levels"].parse(args.levels)
                                    if args.levels else settings.ingest_levels)
    requests: List[Request] = []
    skipped = 0
    for path in files_under(Path(p) for p in args.paths):
        lines = read_lines(path)
        if lines is None:
            print(f"skipped {path}: binary", file=sys.stderr)
            continue
        kept, left_out = requests_for(path, lines, levels, settings.result_topic,
                                      settings.max_request_bytes)
        requests += kept
        skipped += left_out
    print(f"{len(requests)} entries to analyse, {skipped} below the kept levels "
          f"({'all' if levels is None else ','.join(sorted(levels))})", file=sys.stderr)
    if not requests:
        return 0
    if settings.request_topic not in await existing_partitions(bootstrap,
                                                               [settings.request_topic]):
        # Not created here: the worker sizes the topics it creates (kafka/topics.py).
        print(f"bifrost-submit: topic {settings.request_topic} does not exist on {bootstrap}; "
              "start a worker first (it creates its topics)", file=sys.stderr)
        return 2
    reader = ResultReader(bootstrap, settings.result_topic) if args.wait else None
    if reader is not None:
        await reader.start()
    try:
        started = time.monotonic()
        with tqdm(total=len(requests), unit="req", desc="publishing", file=sys.stderr,
                  disable=None) as progress:
            await publish(bootstrap, settings.request_topic, requests, progress)
        print(f"published {len(requests)} requests to {settings.request_topic} in "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr)
        if reader is None:
            return 0
        wanted = {request["request_id"]: where for where, request in requests}
        found = await reader.wait(
            wanted, args.timeout,
            lambda where, result: print(json.dumps(result) if args.json
                                        else _describe(where, result), flush=True))
    finally:
        if reader is not None:
            await reader.stop()
    failed = sum(1 for r in found.values() if r.get("status") == "FAILED")
    missing = [where for job_id, where in wanted.items() if job_id not in found]
    print(f"{len(found)} results ({failed} FAILED), {len(missing)} missing after "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)
    for where in missing[:20]:
        print(f"  no result for {where}", file=sys.stderr)
    return 1 if missing else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bifrost-submit", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log files or directories")
    parser.add_argument("--wait", action="store_true", help="wait for and print the results")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds --wait waits for all results (default 300)")
    parser.add_argument("--levels", help="levels to analyse (default BIFROST_INGEST_LEVELS)")
    parser.add_argument("--all", action="store_true", help="analyse every entry")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port)")
    args = parser.parse_args(argv)
    try:
        settings = config.load()
        if args.levels:
            config.OPTIONS["ingest_levels"].parse(args.levels)
    except (config.ConfigError, ValueError) as exc:
        print(f"bifrost-submit: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    try:
        return asyncio.run(run(args, settings))
    except (FileNotFoundError, OSError) as exc:
        print(f"bifrost-submit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
