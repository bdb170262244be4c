"""The analysis agent: the job stream in batches, each job handed to the analyser.

Reads the job stream re-keyed by idempotency key (co-partitioned with the jobs table); the
intake agent hands over requests that arrived on their key's partition already. The analysis
itself, with no Faust in it, is bifrost_streams/analysis/analyzer.py; this module holds the
events until their results are out, runs the jobs that wait for a log read or the model as
tasks, and joins a copy of a running job to it.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List, Optional, Tuple

import structlog

from bifrost_streams import metrics, outcomes, wiring
from bifrost_streams.analysis.analyzer import Analyzer, Limits, Prepared, Ready, Stores
from bifrost_streams.analysis.ports import LogSource, Router
from bifrost_streams.app import app, redaction_rules, settings
from bifrost_streams.kafka.batching import (BATCH_MAX, BATCH_WITHIN, Later, hold, release,
                                            set_current_event)
from bifrost_streams.model_budget import ModelBudget
from bifrost_streams.outcomes import publish_result
from bifrost_streams.providers.rules import RulesProvider
from bifrost_streams.records import AnalysisRequest
from bifrost_streams.storage.logs import HeimdallLogs
from tables import dead_letters, jobs, prompts, results, template_counts, templates

jobs_topic = app.topic(settings.jobs_topic, key_type=str, value_type=AnalysisRequest,
                       internal=True)

later = Later(settings.concurrency)
_analyzer: Optional[Analyzer] = None


def build_analyzer(router: Optional[Router] = None,
                   logs: Optional[LogSource] = None) -> Analyzer:
    """The analyser on this worker's tables; the router of wiring.py and Heimdall's
    log_entries unless others are given."""
    router = router or wiring.router()
    return Analyzer(
        Limits(settings.max_analysed_chars, settings.redaction, redaction_rules,
               settings.language, settings.job_timeout_seconds, settings.model_context_tokens),
        Stores(jobs=jobs, results=results, templates=templates, counts=template_counts,
               dead_letters=dead_letters, prompts=prompts),
        router,
        logs or HeimdallLogs(settings.log_database_url, settings.log_fetch_attempts),
        failures=outcomes,
        # Per service as the miner names it, so services beyond BIFROST_MAX_SERVICES share
        # one budget.
        budget=ModelBudget(settings.model_budget_per_minute, settings.max_services + 1),
        # The chain's own rules provider when it has one: its signatures are read once.
        rules=router.providers.get("rules") or RulesProvider(settings.rules_file))


def use(core: Optional[Analyzer]) -> None:
    """The analyser the agent hands jobs to from now on (None: build_analyzer's, on first use)."""
    global _analyzer
    _analyzer = core


def analyzer() -> Analyzer:
    global _analyzer
    if _analyzer is None:
        _analyzer = build_analyzer()
    return _analyzer


@app.agent(jobs_topic)
async def analyze(stream):
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        hold(events)
        await analyse_batch(stream, [(event, event.value) for event in events])


async def analyse_batch(stream, items: List[Tuple[Any, AnalysisRequest]]) -> None:
    """Handle events of the request topic or the job stream that are on the partition of their
    request's idempotency key (the jobs table writes to the current event's partition), held
    by the caller (batching.hold).

    Jobs answered at once are published together once their jobs-table writes are durable;
    the others run as tasks (batching.Later). Each event is released once its result is out."""
    ready: List[Tuple[Any, AnalysisRequest, Ready]] = []
    core = analyzer()
    try:
        for event, request in items:
            set_current_event(event)
            # A running job (a redrive re-runs a finished one) is joined, not started again.
            step = None if request.idempotency_key in wiring.running_jobs \
                else core.quick(request)
            if isinstance(step, Ready):
                ready.append((event, request, step))
                continue
            with structlog.contextvars.bound_contextvars(job_id=request.job_id,
                                                         trace_id=request.trace_id):
                await _later(stream, core, event, request, step)
        pending = [step.delivered for _, _, step in ready if step.delivered is not None]
        if pending:
            await asyncio.gather(*pending)
        for event, request, step in ready:
            set_current_event(event)  # its outputs are its own (transport.outbox)
            await _publish(request, step.result, step.encoded)
            await release(stream, event)
    finally:
        set_current_event(None)


async def _later(stream, core: Analyzer, event, request: AnalysisRequest,
                 step: Optional[Prepared]) -> None:
    key = request.idempotency_key
    running = wiring.running_jobs
    joined = running.get(key)
    if joined is None:
        running[key] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        if joined is not None:
            metrics.IDEMPOTENCY_HITS.labels("in_flight").inc()
            result, encoded = await asyncio.shield(joined)
        else:
            try:
                result, encoded = await core.run(request, step)
            except BaseException as exc:
                running.pop(key).set_exception(exc)
                raise
            running.pop(key).set_result((result, encoded))
        await _publish(request, result, encoded)
    await later.start(stream, event, work)


async def _publish(request: AnalysisRequest, result: Dict[str, Any],
                   encoded: Optional[bytes]) -> None:
    await publish_result(result, encoded)
    metrics.REQUEST_LATENCY.labels(_path(result)).observe(time.time() - request.received_at)


def _path(result: Dict[str, Any]) -> str:
    if result["status"] != "SUCCEEDED":
        return "failed"
    return "cache" if result["result"].get("cache_hit") else "model"
