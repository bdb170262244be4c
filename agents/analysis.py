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
from typing import Any, Dict, Optional, Tuple

import structlog

from bifrost_streams import codes, metrics
from bifrost_streams.app import app, redaction_rules, settings
from bifrost_streams.codes import JobFailed
from bifrost_streams.outcomes import (encode, failed, publish_job_dlq, publish_result,
                                      succeeded)
from bifrost_streams.prompts import PROMPT_VERSION, build_prompt
from bifrost_streams.providers.base import Answer
from bifrost_streams.providers.bedrock import BedrockProvider
from bifrost_streams.providers.ollama import OllamaProvider
from bifrost_streams.providers.policy import Route
from bifrost_streams.providers.router import ModelRouter
from bifrost_streams.providers.rules import RulesProvider
from bifrost_streams.records import AnalysisRequest
from bifrost_streams.redaction import redact
from bifrost_streams.singleflight import SingleFlight
from bifrost_streams.storage.logs import fetch_log
from tables import jobs, results, template_counts, templates

log = structlog.get_logger("bifrost.analysis")

jobs_topic = app.topic(settings.jobs_topic, key_type=str, value_type=AnalysisRequest,
                       internal=True)

PROVIDERS = {
    "ollama": lambda: OllamaProvider(settings.ollama_url, settings.ollama_model,
                                     settings.ollama_timeout),
    # The cloud provider redacts with the same rules itself, even with BIFROST_REDACTION=off.
    "bedrock": lambda: BedrockProvider(settings.bedrock_model, settings.bedrock_region,
                                       settings.bedrock_timeout, redaction_rules,
                                       settings.bedrock_endpoint_url),
    "rules": RulesProvider,
}
router = ModelRouter([PROVIDERS[name]() for name in settings.provider_chain],
                     breaker_open_seconds=settings.breaker_open_seconds)
running_jobs: SingleFlight[Tuple[Dict[str, Any], bytes]] = SingleFlight()
running_analyses: SingleFlight[Answer] = SingleFlight()


@app.agent(jobs_topic, concurrency=settings.concurrency)
async def analyze(stream):
    async for request in stream:
        await analyse(request)


async def analyse(request: AnalysisRequest) -> None:
    """Called for an event of the request topic or the job stream on the partition of the
    request's idempotency key: the jobs table writes to the current event's partition."""
    with structlog.contextvars.bound_contextvars(job_id=request.job_id,
                                                 trace_id=request.trace_id):
        await handle(request)


async def handle(request: AnalysisRequest) -> Dict[str, Any]:
    """Publish the job's one result (stored or new) and return it."""
    key = request.idempotency_key
    state = jobs.get(key)
    encoded: Optional[bytes] = None
    if state is not None and state["state"] == jobs.DONE:
        metrics.IDEMPOTENCY_HITS.labels("done").inc()
        result = state["result"]
    else:
        (result, encoded), shared = await running_jobs.do(key, lambda: _run(request))
        if shared:
            metrics.IDEMPOTENCY_HITS.labels("in_flight").inc()
    await publish_result(result, encoded)
    metrics.REQUEST_LATENCY.labels(_path(result)).observe(time.time() - request.received_at)
    return result


def _path(result: Dict[str, Any]) -> str:
    if result["status"] != "SUCCEEDED":
        return "failed"
    return "cache" if result["result"].get("cache_hit") else "model"


async def _run(request: AnalysisRequest) -> Tuple[Dict[str, Any], bytes]:
    """The job's new result, and its JSON as stored and as it will be published."""
    metrics.IN_FLIGHT.inc()
    try:
        result = (await _serve(request)).asdict()
    finally:
        metrics.IN_FLIGHT.dec()
    encoded = encode(result)
    await jobs.mark_done(request.idempotency_key, result["job_id"], encoded)
    # Failures are logged (with their DLQ event); a line per success would cost more than
    # the cache path itself, so successes are logged at debug.
    (log.info if result["status"] != "SUCCEEDED" else log.debug)(
        "job_done", status=result["status"], error_code=result["error_code"],
        cache_hit=result["result"].get("cache_hit"), latency_ms=result["latency_ms"])
    return result, encoded


async def _serve(request: AnalysisRequest):
    extra: Dict[str, Any] = {"form": request.form, "service_name": request.service_name,
                             "environment": request.environment,
                             "idempotency_key": request.idempotency_key,
                             "prompt_version": PROMPT_VERSION, "language": settings.language}
    try:
        text = await _log_text(request, extra)
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
        cached = results.lookup(key)
        if cached is not None:
            metrics.CACHE.labels("hit").inc()
            # A storm: the template's first occurrence was analysed, this one is answered
            # with that analysis at once.
            extra["storm_suppressed"] = extra["occurrences"]["1m"] > 1
            return succeeded(request, _answer(cached), extra, cache_hit=True)
        metrics.CACHE.labels("miss").inc()
        answer, shared = await running_analyses.do(
            key, lambda: _ask_model(key, chosen, text, request, extra))
        return succeeded(request, answer, extra, cache_hit=shared)
    except JobFailed as failure:
        await publish_job_dlq(request, failure.code, failure.message)
        return failed(request, failure.code, failure.message, extra)
    except Exception as exc:  # a bug must not stop the stream: fail this job, keep going
        log.exception("job_crashed")
        message = f"{type(exc).__name__}: {exc}"
        await publish_job_dlq(request, codes.INTERNAL_ERROR, message)
        return failed(request, codes.INTERNAL_ERROR, message, extra)


async def _ask_model(key: str, chosen: Route, text: str, request: AnalysisRequest,
                     extra: Dict[str, Any]) -> Answer:
    prompt = build_prompt(text, service=extra["service_name"],
                          environment=extra["environment"], priority=request.priority,
                          language=settings.language)
    answer = await router.analyze(prompt, _deadline(request), chosen)
    # A fallback answer is not the first choice's: caching it would keep serving the
    # fallback for a day after the model is back.
    if (answer.provider, answer.model) == (chosen.steps[0][0], router.first_model(chosen)):
        results.store(key, dataclasses.asdict(answer))
    return answer


def _answer(cached: Dict[str, Any]) -> Answer:
    fields = {f.name for f in dataclasses.fields(Answer)}
    return Answer(**{name: value for name, value in cached.items() if name in fields})


# Without a timeout_ms, each model provider in the chain may use its whole own timeout.
DEFAULT_BUDGET = sum(getattr(provider, "timeout", 0.0) for provider in router.providers.values())


def _deadline(request: AnalysisRequest) -> float:
    """The request's timeout_ms counts from when it was received."""
    budget = request.timeout_ms / 1000 if request.timeout_ms else DEFAULT_BUDGET
    spent = time.time() - request.received_at
    return asyncio.get_running_loop().time() + max(0.0, budget - spent)


async def _log_text(request: AnalysisRequest, extra: Dict[str, Any]) -> str:
    if request.log_content is not None:
        return request.log_content
    entry = await fetch_log(settings.log_database_url, request.log_id,
                            settings.log_fetch_attempts)
    extra["service_name"] = extra["service_name"] or entry.service_name
    extra["environment"] = extra["environment"] or entry.environment
    return entry.content

