"""The analysis of one job: a request in, exactly one result out. No Faust here.

A job already finished gets its stored result unchanged; otherwise the log text is found,
cut to its bounds, redacted and given its template, the result cache is asked by template,
and only then the model (through the router, within the job's deadline and its service's
model budget). A job that cannot be served gets a FAILED result and one dead letter.

The agent (agents/analysis.py) owns the rest: batching, holding events until their results
are out, running slow jobs as tasks and joining copies of a running job.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Awaitable, Dict, List, Optional, Tuple, Union

import structlog

from .. import bounds, codes, metrics
from ..codes import JobFailed
from ..families import UNKNOWN
from ..model_budget import ModelBudget
from ..prompts import MAX_LOG_CHARS, PROMPT_VERSION, build_prompt
from ..providers.base import Answer, Prompt
from ..providers.policy import Route
from ..records import STATUS_SUCCEEDED, AnalysisRequest, AnalysisResult
from ..redaction import Rule, redact
from ..singleflight import LeaderCancelled, SingleFlight
from ..wire import encode, failed, succeeded
from . import prompt_budget
from .ports import (Analyst, DeadLetters, FailureSink, JobStore, LogSource, PromptLog,
                    ResultCache, Router, TemplateCounts, Templates)

log = structlog.get_logger("bifrost.analysis")

DONE = "DONE"  # a finished job's state in the job store


@dataclasses.dataclass(frozen=True)
class Limits:
    """The settings the analysis reads (config.Settings has them under the same names)."""
    max_analysed_chars: int
    redaction: bool
    redaction_rules: List[Rule]
    language: str
    # A job's budget without timeout_ms: this, else the providers' timeouts and 30 s.
    job_timeout_seconds: Optional[float] = None
    # The models' context window in tokens; None: each provider's default (prompt_budget.py).
    context_tokens: Optional[int] = None


@dataclasses.dataclass
class Stores:
    jobs: JobStore
    results: ResultCache
    templates: Templates
    counts: TemplateCounts
    dead_letters: DeadLetters
    prompts: PromptLog


@dataclasses.dataclass
class Ready:
    """A job's result that needed no waiting: stored already, or served from the cache."""
    result: Dict[str, Any]
    encoded: Optional[bytes] = None  # its JSON, when new
    delivered: Optional[Awaitable] = None  # the job store's write, when new


@dataclasses.dataclass
class Prepared:
    """A job's log text classified and routed, waiting for the model."""
    text: str
    extra: Dict[str, Any]
    chosen: Route
    key: str  # in the result cache


def cache_key(template_id: str, model: str, prompt_version: str, language: str) -> str:
    return f"{template_id}|{model}|{prompt_version}|{language}"


class Analyzer:
    # Past the deadline the model calls give up by themselves; the backstop waits this much more.
    deadline_grace = 1.0

    def __init__(self, limits: Limits, stores: Stores, router: Router, logs: LogSource,
                 failures: FailureSink, budget: ModelBudget, rules: Analyst) -> None:
        self.limits = limits
        self.stores = stores
        self.router = router
        self.logs = logs
        self.failures = failures
        self.budget = budget
        # The rules provider: it answers past the model budget and names the family a
        # model leaves unknown.
        self.rules = rules
        self.running: SingleFlight[Answer] = SingleFlight()
        # Without timeout_ms or a job timeout, each model provider in the chain may use its
        # whole own timeout, and the log read its retries.
        self.default_budget = limits.job_timeout_seconds or (
            sum(getattr(p, "timeout", 0.0) for p in router.providers.values()) + 30.0)

    # -- the fast path: no waiting ------------------------------------------------------

    def quick(self, request: AnalysisRequest) -> Union[Ready, Prepared, None]:
        """The job's result if it is stored or cached; else what the slow path continues from
        (Prepared), or None when even the log text needs waiting for."""
        key = request.idempotency_key
        state = self.stores.jobs.get(key)
        # A redrive from the DLQ serves a job that failed again; any other copy gets what the
        # first one got.
        if state is not None and state["state"] == DONE and not (
                request.redrive and state["result"]["status"] != STATUS_SUCCEEDED):
            metrics.IDEMPOTENCY_HITS.labels("done").inc()
            self.served(request, state["result"], new=False)
            return Ready(state["result"])
        if request.log_content is None:
            return None
        try:
            step = self._prepare(request, request.log_content, self._extra(request))
        except Exception:  # the slow path fails it properly, with its dead letter
            return None
        if isinstance(step, Prepared):
            return step
        result = step.asdict()
        encoded = encode(result)
        self.served(request, result)
        return Ready(result, encoded, self.stores.jobs.mark_done(key, result["job_id"], encoded))

    # -- the slow path: log reads and model calls ---------------------------------------

    async def run(self, request: AnalysisRequest,
                  step: Optional[Prepared]) -> Tuple[Dict[str, Any], bytes]:
        """The job's new result, durable in the job store, and its JSON as it is published."""
        metrics.IN_FLIGHT.inc()
        try:
            result = (await self._within_deadline(request, step)).asdict()
        finally:
            metrics.IN_FLIGHT.dec()
        encoded = encode(result)
        await self.stores.jobs.mark_done(request.idempotency_key, result["job_id"], encoded)
        self.served(request, result)
        return result, encoded

    def served(self, request: AnalysisRequest, result: Dict[str, Any], new: bool = True) -> None:
        """Called while the job's event is processed, once its result is known."""
        if request.redrive and result["status"] == STATUS_SUCCEEDED:
            self.stores.dead_letters.resolve(request.job_id)
        if new:
            # Failures are logged (with their dead letter); a line per success would cost
            # more than the cache path itself, so successes are logged at debug.
            (log.info if result["status"] != STATUS_SUCCEEDED else log.debug)(
                "job_done", job_id=result["job_id"], status=result["status"],
                error_code=result["error_code"], cache_hit=result["result"].get("cache_hit"),
                latency_ms=result["latency_ms"], redrive=request.redrive)

    def _extra(self, request: AnalysisRequest) -> Dict[str, Any]:
        return {"form": request.form, "service_name": request.service_name,
                "environment": request.environment, "idempotency_key": request.idempotency_key,
                "prompt_version": PROMPT_VERSION, "language": self.limits.language}

    def _prepare(self, request: AnalysisRequest, text: str,
                 extra: Dict[str, Any]) -> Union[AnalysisResult, Prepared]:
        """Redact, classify and count the log text, route it; the result if the cache has it."""
        # Everything below costs time in proportion to the text, on the event loop.
        bounded = bounds.cut(text, self.limits.max_analysed_chars)
        if bounded.cut_chars:
            text = bounded.text
            extra["truncated"] = {"original_chars": bounded.original_chars,
                                  "kept_chars": bounded.kept_chars}
        if self.limits.redaction:
            text, extra["redactions"] = redact(text, self.limits.redaction_rules)
        template = self.stores.templates.classify(extra["service_name"] or "unknown", text)
        extra.update(template_id=template.template_id, template=template.template,
                     new_template=template.is_new,
                     occurrences=self.stores.counts.count(
                         template.template_id, (request.priority or "UNKNOWN").upper()))
        chosen = self.router.route(request.model_policy)
        if chosen.note is not None:
            extra["model_policy"] = chosen.note
        key = cache_key(template.template_id, self.router.first_model(chosen), PROMPT_VERSION,
                        self.limits.language)
        return self._from_cache(request, key, extra) or Prepared(text, extra, chosen, key)

    def _from_cache(self, request: AnalysisRequest, key: str,
                    extra: Dict[str, Any]) -> Optional[AnalysisResult]:
        cached = self.stores.results.lookup(key)
        if cached is None:
            metrics.CACHE.labels("miss").inc()
            return None
        metrics.CACHE.labels("hit").inc()
        # A storm: the template's first occurrence was analysed, this one is answered with
        # that analysis at once.
        storm = extra["occurrences"]["1m"] > 1
        return succeeded(request, _answer(cached), {**extra, "storm_suppressed": storm},
                         cache_hit=True)

    async def _within_deadline(self, request: AnalysisRequest,
                               step: Optional[Prepared]) -> AnalysisResult:
        """No job stays unanswered: past its deadline (timeout_ms, else the job timeout)
        whatever it waits for is stopped and the job fails with TIMEOUT. The model calls stop
        at the deadline themselves; this also bounds log reads and anything that hangs."""
        left = self.deadline(request) - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(self._serve(request, step),
                                          max(0.0, left) + self.deadline_grace)
        except asyncio.TimeoutError:
            message = f"not finished within its deadline of {self._budget(request):g} s"
            await self.failures.publish_job_dlq(request, codes.TIMEOUT, message)
            return failed(request, codes.TIMEOUT, message,
                          step.extra if step is not None else self._extra(request))

    async def _serve(self, request: AnalysisRequest,
                     step: Optional[Prepared]) -> AnalysisResult:
        extra = step.extra if step is not None else self._extra(request)
        try:
            if step is None:
                text, found = await self._log_text(request)
                extra.update({name: extra[name] or value for name, value in found.items()})
                prepared = self._prepare(request, text, extra)
                if isinstance(prepared, AnalysisResult):
                    return prepared
                step = prepared
            else:
                # Another job of the batch with this template may have had its answer since.
                cached = self._from_cache(request, step.key, extra)
                if cached is not None:
                    return cached
            chosen = step
            try:
                answer, shared = await self.running.do(
                    step.key, lambda: self._ask_model(chosen, request))
            except LeaderCancelled:
                raise JobFailed(codes.TIMEOUT, "the analysis this job shared with another was "
                                               "stopped at that job's deadline") from None
            return succeeded(request, answer, extra, cache_hit=shared)
        except JobFailed as failure:
            await self.failures.publish_job_dlq(request, failure.code, failure.message)
            return failed(request, failure.code, failure.message, extra)
        except Exception as exc:  # a bug must not stop the stream: fail this job, keep going
            log.exception("job_crashed")
            # The exception's text may quote the log or a host: it stays in the (redacted) log.
            message = f"internal error ({type(exc).__name__}); the worker's log has the details"
            await self.failures.publish_job_dlq(request, codes.INTERNAL_ERROR, message)
            return failed(request, codes.INTERNAL_ERROR, message, extra)

    async def _ask_model(self, step: Prepared, request: AnalysisRequest) -> Answer:
        extra = step.extra
        if not self.budget.take(extra["template_id"].rsplit(":", 1)[0]):
            return await self._over_budget(self._prompt(step, request, [])[0], request)
        lines = await self._preceding(request)
        prompt, report = self._prompt(step, request, lines)
        chosen = step.chosen
        answer = await self.router.analyze(prompt, self.deadline(request), chosen)
        answer = await self._with_a_family(prompt, answer, request)
        # A fallback answer is not the first choice's: caching it would keep serving the
        # fallback for a day after the model is back.
        if (answer.provider, answer.model) == (chosen.steps[0][0],
                                               self.router.first_model(chosen)):
            self.stores.results.store(step.key, _fields(answer, without=("raw",)))
        self.stores.prompts.keep(request.idempotency_key, _sent(prompt, answer, report))
        # What this call sent; a later cache hit sent nothing, so the cache does not keep it.
        return dataclasses.replace(answer, extra={**answer.extra, "prompt": report})

    def _prompt(self, step: Prepared, request: AnalysisRequest,
                lines: List[str]) -> Tuple[Prompt, Dict[str, Any]]:
        """The prompt, planned to fit the route's context window (prompt_budget.py)."""
        extra = step.extra

        def build(log_text: str) -> Prompt:
            return build_prompt(log_text, service=extra["service_name"],
                                environment=extra["environment"], priority=request.priority,
                                language=self.limits.language)
        # Built once as it would be uncut; again only when the budget cuts the text.
        whole = build(step.text)
        fitted = prompt_budget.fit(
            step.text, prompt_budget.figures_line(extra), lines,
            len(whole.system) + len(whole.user) - len(whole.log),
            prompt_budget.window((name for name, _ in step.chosen.steps),
                                 self.limits.context_tokens),
            MAX_LOG_CHARS)
        prompt = whole if fitted.log == step.text else build(fitted.log)
        if fitted.context:
            prompt = dataclasses.replace(prompt, user=fitted.context + prompt.user)
        return prompt, fitted.report

    async def _preceding(self, request: AnalysisRequest) -> List[str]:
        """The lines logged just before the entry, redacted: sent with an inline request by
        the ingestion that split it, read from log_entries for the job form; none when they
        cannot be read."""
        if request.context:  # sent by the ingestion that split the entry
            lines = list(request.context)
        elif request.log_content is not None or request.log_id is None:
            return []
        else:
            try:
                lines = await self.logs.preceding(request.log_id, prompt_budget.CONTEXT_LINES)
            except Exception as exc:  # context helps; its absence fails nothing
                log.warning("log_context_unavailable", error=type(exc).__name__)
                return []
        lines = [line[:prompt_budget.CONTEXT_LINE_CHARS] for line in lines]
        if self.limits.redaction:
            lines = [redact(line, self.limits.redaction_rules)[0] for line in lines]
        return lines

    async def _with_a_family(self, prompt: Prompt, answer: Answer,
                             request: AnalysisRequest) -> Answer:
        """A model's answer that names no failure family gets the rules provider's, when one of
        its signatures knows the text: small models often leave it `unknown`."""
        if answer.category != UNKNOWN or answer.provider == "rules":
            return answer
        rules = await self._ask_rules(prompt, request)
        if rules.category == UNKNOWN:
            return answer
        return dataclasses.replace(answer, category=rules.category, extra={
            **answer.extra, "category_signature": rules.extra.get("signature")})

    async def _over_budget(self, prompt: Prompt, request: AnalysisRequest) -> Answer:
        """Past its service's model budget a job is answered by the rules provider. Not
        cached: the template gets the model's answer once the budget allows."""
        try:
            answer = await self._ask_rules(prompt, request)
        except Exception:
            metrics.MODEL_BUDGET_REFUSED.labels("failed").inc()
            raise
        metrics.MODEL_BUDGET_REFUSED.labels("rules").inc()
        return dataclasses.replace(answer, extra={**answer.extra, "budget_exceeded": True})

    async def _ask_rules(self, prompt: Prompt, request: AnalysisRequest) -> Answer:
        return await self.rules.analyze(prompt, self.router.schema, self.deadline(request))

    def _budget(self, request: AnalysisRequest) -> float:
        return request.timeout_ms / 1000 if request.timeout_ms else self.default_budget

    def deadline(self, request: AnalysisRequest) -> float:
        """The loop time the job must be answered by; its budget counts from receipt."""
        spent = time.time() - request.received_at
        return asyncio.get_running_loop().time() + max(0.0, self._budget(request) - spent)

    async def _log_text(self, request: AnalysisRequest) -> Tuple[str, Dict[str, Any]]:
        """The text, and the service and environment its log row names."""
        if request.log_content is not None:
            return request.log_content, {}
        if request.log_id is None:  # validation refuses such a request before it gets here
            raise JobFailed(codes.INVALID_REQUEST, "the request has neither log_content nor "
                                                   "log_id")
        entry = await self.logs.fetch(request.log_id)
        return entry.content, {"service_name": entry.service_name,
                               "environment": entry.environment}


def _sent(prompt: Prompt, answer: Answer, report: Dict[str, Any]) -> Dict[str, Any]:
    """What GET /jobs/{id}/prompt shows: the prompt exactly as sent (redacted) and the answer
    as the provider gave it."""
    return {"system": prompt.system, "user": prompt.user, "prompt_version": prompt.version,
            "provider": answer.provider, "model": answer.model,
            "answer": _fields(answer, without=("provider", "model", "raw")),
            "raw_answer": answer.raw,
            "budget": report}


_ANSWER_FIELDS = tuple(f.name for f in dataclasses.fields(Answer))


def _fields(answer: Answer, without: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """The answer as a dict, one level deep (dataclasses.asdict copies every value: a tenth
    of a fresh analysis's own time)."""
    return {name: getattr(answer, name) for name in _ANSWER_FIELDS if name not in without}


def _answer(cached: Dict[str, Any]) -> Answer:
    return Answer(**{name: value for name, value in cached.items() if name in _ANSWER_FIELDS})
