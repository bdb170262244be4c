"""The analysis agent: one job in, exactly one result out.

Reads the job stream re-keyed by idempotency key (co-partitioned with the jobs table); the
intake agent hands over requests that arrived on their key's partition already. A job
already finished re-publishes its stored result unchanged; otherwise the log text is found,
redacted and given its template (tables/templates.py), the result cache is asked by
template, and only then the model. A job that cannot be served gets a FAILED result and one
dlq.failed event.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Awaitable, Dict, List, Optional, Tuple, Union

import structlog

from bifrost_streams import bounds, codes, metrics
from bifrost_streams.app import app, redaction_rules, settings
from bifrost_streams.batching import (BATCH_MAX, BATCH_WITHIN, Later, hold, release,
                                      set_current_event)
from bifrost_streams.codes import JobFailed
from bifrost_streams.model_budget import ModelBudget
from bifrost_streams.outcomes import (encode, failed, publish_job_dlq, publish_result,
                                      succeeded)
from bifrost_streams.prompts import PROMPT_VERSION, build_prompt
from bifrost_streams.providers.base import Answer, Prompt
from bifrost_streams.providers.bedrock import BedrockProvider
from bifrost_streams.providers.ollama import OllamaProvider
from bifrost_streams.providers.policy import Route
from bifrost_streams.providers.router import ModelRouter
from bifrost_streams.providers.rules import RulesProvider
from bifrost_streams.records import STATUS_SUCCEEDED, AnalysisRequest, AnalysisResult
from bifrost_streams.redaction import redact
from bifrost_streams.singleflight import LeaderCancelled, SingleFlight
from bifrost_streams.storage.logs import fetch_log
from tables import dead_letters, jobs, results, template_counts, templates

log = structlog.get_logger("bifrost.analysis")

jobs_topic = app.topic(settings.jobs_topic, key_type=str, value_type=AnalysisRequest,
                       internal=True)

PROVIDERS = {
    "ollama": lambda: OllamaProvider(settings.ollama_url, settings.ollama_model,
                                     settings.ollama_timeout),
    # The cloud provider redacts with the same rules itself, even with BIFROST_REDACTION=off.
    "bedrock": lambda: BedrockProvider(settings.bedrock_model, settings.bedrock_region,
                                       settings.bedrock_timeout, redaction_rules,
                                       settings.bedrock_endpoint_url, settings.concurrency),
    "rules": RulesProvider,
}
router = ModelRouter([PROVIDERS[name]() for name in settings.provider_chain],
                     breaker_open_seconds=settings.breaker_open_seconds,
                     allowed_models=settings.allowed_models)
# Per service as the miner names it, so services beyond BIFROST_MAX_SERVICES share one budget.
model_budget = ModelBudget(settings.model_budget_per_minute, settings.max_services + 1)
budget_fallback = RulesProvider()
running_analyses: SingleFlight[Answer] = SingleFlight()
later = Later(settings.concurrency)
# Jobs handed to a task and not finished: a copy of one in a later event joins it.
slow_jobs: Dict[str, "asyncio.Future[Tuple[Dict[str, Any], Optional[bytes]]]"] = {}


@app.agent(jobs_topic)
async def analyze(stream):
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        hold(events)
        await analyse_batch(stream, [(event, event.value) for event in events])


@dataclasses.dataclass
class Ready:
    """A job's result that needed no waiting: stored already, or served from the cache."""
    result: Dict[str, Any]
    encoded: Optional[bytes] = None  # its JSON, when new
    delivered: Optional[Awaitable] = None  # the jobs table's changelog write, when new


@dataclasses.dataclass
class Prepared:
    """A job's log text classified and routed, waiting for the model."""
    text: str
    extra: Dict[str, Any]
    chosen: Route
    key: str  # in the result cache


async def analyse_batch(stream, items: List[Tuple[Any, AnalysisRequest]]) -> None:
    """Handle events of the request topic or the job stream that are on the partition of their
    request's idempotency key (the jobs table writes to the current event's partition), held
    by the caller (batching.hold).

    Jobs answered at once are published together once their jobs-table writes are durable;
    the others run as tasks (batching.Later). Each event is released once its result is out."""
    ready: List[Tuple[Any, AnalysisRequest, Ready]] = []
    try:
        for event, request in items:
            set_current_event(event)
            step = quick(request)
            if isinstance(step, Ready):
                ready.append((event, request, step))
                continue
            with structlog.contextvars.bound_contextvars(job_id=request.job_id,
                                                         trace_id=request.trace_id):
                await _later(stream, event, request, step)
        pending = [step.delivered for _, _, step in ready if step.delivered is not None]
        if pending:
            await asyncio.gather(*pending)
        for event, request, step in ready:
            set_current_event(event)  # its outputs are its own (kafka_transport.outbox)
            await _publish(request, step.result, step.encoded)
            await release(stream, event)
    finally:
        set_current_event(None)


def quick(request: AnalysisRequest) -> Union[Ready, Prepared, None]:
    """The job's result if it is stored or cached; else what the slow path continues from
    (Prepared), or None when even the log text needs waiting for."""
    key = request.idempotency_key
    if key in slow_jobs:  # running (a redrive re-runs a finished job): join it
        return None
    state = jobs.get(key)
    # A redrive from the DLQ serves a job that failed again; any other copy gets what the
    # first one got.
    if state is not None and state["state"] == jobs.DONE and not (
            request.redrive and state["result"]["status"] != STATUS_SUCCEEDED):
        metrics.IDEMPOTENCY_HITS.labels("done").inc()
        _served(request, state["result"], new=False)
        return Ready(state["result"])
    if request.log_content is None:
        return None
    try:
        step = _prepare(request, request.log_content, _extra(request))
    except Exception:  # the slow path fails it properly, with its DLQ event
        return None
    if isinstance(step, Prepared):
        return step
    result = step.asdict()
    encoded = encode(result)
    _served(request, result)
    return Ready(result, encoded, jobs.mark_done(key, result["job_id"], encoded))


async def _later(stream, event, request: AnalysisRequest, step: Optional[Prepared]) -> None:
    key = request.idempotency_key
    joined = slow_jobs.get(key)
    if joined is None:
        slow_jobs[key] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        if joined is not None:
            metrics.IDEMPOTENCY_HITS.labels("in_flight").inc()
            result, encoded = await asyncio.shield(joined)
        else:
            try:
                result, encoded = await _run(request, step)
            except BaseException as exc:
                slow_jobs.pop(key).set_exception(exc)
                raise
            slow_jobs.pop(key).set_result((result, encoded))
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


async def _run(request: AnalysisRequest,
               step: Optional[Prepared]) -> Tuple[Dict[str, Any], bytes]:
    """The job's new result, durable in the jobs table, and its JSON as it will be published."""
    metrics.IN_FLIGHT.inc()
    try:
        result = (await _within_deadline(request, step)).asdict()
    finally:
        metrics.IN_FLIGHT.dec()
    encoded = encode(result)
    await jobs.mark_done(request.idempotency_key, result["job_id"], encoded)
    _served(request, result)
    return result, encoded


def _served(request: AnalysisRequest, result: Dict[str, Any], new: bool = True) -> None:
    """Called while the job's event is processed, once its result is known."""
    if request.redrive and result["status"] == STATUS_SUCCEEDED:
        dead_letters.resolve(request.job_id)
    if new:
        # Failures are logged (with their DLQ event); a line per success would cost more
        # than the cache path itself, so successes are logged at debug.
        (log.info if result["status"] != STATUS_SUCCEEDED else log.debug)(
            "job_done", job_id=result["job_id"], status=result["status"],
            error_code=result["error_code"], cache_hit=result["result"].get("cache_hit"),
            latency_ms=result["latency_ms"], redrive=request.redrive)


def _extra(request: AnalysisRequest) -> Dict[str, Any]:
    return {"form": request.form, "service_name": request.service_name,
            "environment": request.environment, "idempotency_key": request.idempotency_key,
            "prompt_version": PROMPT_VERSION, "language": settings.language}


def _prepare(request: AnalysisRequest, text: str,
             extra: Dict[str, Any]) -> Union[AnalysisResult, Prepared]:
    """Redact, classify and count the log text, route it; the result if the cache has it."""
    # Everything below costs time in proportion to the text, on the event loop.
    bounded = bounds.cut(text, settings.max_analysed_chars)
    if bounded.cut_chars:
        text = bounded.text
        extra["truncated"] = {"original_chars": bounded.original_chars,
                              "kept_chars": bounded.kept_chars}
    if settings.redaction:
        text, extra["redactions"] = redact(text, redaction_rules)
    template = templates.classify(extra["service_name"] or "unknown", text)
    extra.update(template_id=template.template_id, template=template.template,
                 new_template=template.is_new,
                 occurrences=template_counts.count(template.template_id,
                                                   (request.priority or "UNKNOWN").upper()))
    chosen = router.route(request.model_policy)
    if chosen.note is not None:
        extra["model_policy"] = chosen.note
    key = results.cache_key(template.template_id, router.first_model(chosen),
                            PROMPT_VERSION, settings.language)
    return _from_cache(request, key, extra) or Prepared(text, extra, chosen, key)


def _from_cache(request: AnalysisRequest, key: str,
                extra: Dict[str, Any]) -> Optional[AnalysisResult]:
    cached = results.lookup(key)
    if cached is None:
        metrics.CACHE.labels("miss").inc()
        return None
    metrics.CACHE.labels("hit").inc()
    # A storm: the template's first occurrence was analysed, this one is answered with that
    # analysis at once.
    extra["storm_suppressed"] = extra["occurrences"]["1m"] > 1
    return succeeded(request, _answer(cached), extra, cache_hit=True)


async def _within_deadline(request: AnalysisRequest,
                           step: Optional[Prepared]) -> AnalysisResult:
    """No job stays unanswered: past its deadline (timeout_ms, else BIFROST_JOB_TIMEOUT_SECONDS)
    whatever it waits for is stopped and the job fails with TIMEOUT. The model calls stop at
    the deadline themselves; this also bounds log reads and anything that hangs."""
    left = _deadline(request) - asyncio.get_running_loop().time()
    try:
        return await asyncio.wait_for(_serve(request, step), max(0.0, left) + DEADLINE_GRACE)
    except asyncio.TimeoutError:
        message = f"not finished within its deadline of {_budget(request):g} s"
        await publish_job_dlq(request, codes.TIMEOUT, message)
        return failed(request, codes.TIMEOUT, message,
                      step.extra if step is not None else _extra(request))


async def _serve(request: AnalysisRequest, step: Optional[Prepared]) -> AnalysisResult:
    extra = step.extra if step is not None else _extra(request)
    try:
        if step is None:
            text = await _log_text(request, extra)
            prepared = _prepare(request, text, extra)
            if isinstance(prepared, AnalysisResult):
                return prepared
            step = prepared
        else:
            # Another job of the batch with this template may have had its answer since.
            cached = _from_cache(request, step.key, extra)
            if cached is not None:
                return cached
        try:
            answer, shared = await running_analyses.do(
                step.key, lambda: _ask_model(step.key, step.chosen, step.text, request, extra))
        except LeaderCancelled:
            raise JobFailed(codes.TIMEOUT, "the analysis this job shared with another was "
                                           "stopped at that job's deadline") from None
        return succeeded(request, answer, extra, cache_hit=shared)
    except JobFailed as failure:
        await publish_job_dlq(request, failure.code, failure.message)
        return failed(request, failure.code, failure.message, extra)
    except Exception as exc:  # a bug must not stop the stream: fail this job, keep going
        log.exception("job_crashed")
        # The exception's text may quote the log or a host: it stays in the (redacted) log.
        message = f"internal error ({type(exc).__name__}); the worker's log has the details"
        await publish_job_dlq(request, codes.INTERNAL_ERROR, message)
        return failed(request, codes.INTERNAL_ERROR, message, extra)


async def _ask_model(key: str, chosen: Route, text: str, request: AnalysisRequest,
                     extra: Dict[str, Any]) -> Answer:
    prompt = build_prompt(text, service=extra["service_name"],
                          environment=extra["environment"], priority=request.priority,
                          language=settings.language)
    if not model_budget.take(extra["template_id"].rsplit(":", 1)[0]):
        return await _over_budget(prompt, request)
    answer = await router.analyze(prompt, _deadline(request), chosen)
    # A fallback answer is not the first choice's: caching it would keep serving the
    # fallback for a day after the model is back.
    if (answer.provider, answer.model) == (chosen.steps[0][0], router.first_model(chosen)):
        results.store(key, dataclasses.asdict(answer))
    return answer


async def _over_budget(prompt: Prompt, request: AnalysisRequest) -> Answer:
    """Past its service's model budget a job is answered by the rules provider. Not cached:
    the template gets the model's answer once the budget allows."""
    try:
        answer = await budget_fallback.analyze(prompt, router.schema, _deadline(request))
    except Exception:
        metrics.MODEL_BUDGET_REFUSED.labels("failed").inc()
        raise
    metrics.MODEL_BUDGET_REFUSED.labels("rules").inc()
    return dataclasses.replace(answer, extra={**answer.extra, "budget_exceeded": True})


def _answer(cached: Dict[str, Any]) -> Answer:
    fields = {f.name for f in dataclasses.fields(Answer)}
    return Answer(**{name: value for name, value in cached.items() if name in fields})


# Without timeout_ms or BIFROST_JOB_TIMEOUT_SECONDS, each model provider in the chain may use
# its whole own timeout, and the log read its retries.
DEFAULT_BUDGET = settings.job_timeout_seconds or (
    sum(getattr(provider, "timeout", 0.0) for provider in router.providers.values()) + 30.0)
# Past the deadline the model calls give up by themselves; the backstop waits this much more.
DEADLINE_GRACE = 1.0


def _budget(request: AnalysisRequest) -> float:
    return request.timeout_ms / 1000 if request.timeout_ms else DEFAULT_BUDGET


def _deadline(request: AnalysisRequest) -> float:
    """The request's budget counts from when it was received."""
    spent = time.time() - request.received_at
    return asyncio.get_running_loop().time() + max(0.0, _budget(request) - spent)


async def _log_text(request: AnalysisRequest, extra: Dict[str, Any]) -> str:
    if request.log_content is not None:
        return request.log_content
    entry = await fetch_log(settings.log_database_url, request.log_id,
                            settings.log_fetch_attempts)
    extra["service_name"] = extra["service_name"] or entry.service_name
    extra["environment"] = extra["environment"] or entry.environment
    return entry.content

