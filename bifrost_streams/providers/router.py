"""Choosing, retrying and falling back: the one place above the provider backends.

A transient failure (timeout, connection refused, 5xx) is retried with back-off until the
request's deadline; an answer that does not match the schema is asked again once with the
validation error; then the next provider in the chain gets its turn.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import AbstractSet, Dict, List, Optional, Sequence

import structlog
from tenacity import (AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay,
                      wait_exponential_jitter)

from .. import codes, metrics
from ..codes import JobFailed
from .answer import answer_schema
from .base import Answer, InvalidAnswer, Prompt, Provider, ProviderError
from .breaker import STATE_VALUES, Breaker
from .policy import Route, route

log = structlog.get_logger("bifrost.providers")
TRANSIENT_ATTEMPTS = 3


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.transient


def retry_prompt(prompt: Prompt, error: str, text: str) -> Prompt:
    return dataclasses.replace(
        prompt, user=f"{prompt.user}\n\nYour previous answer was rejected: {error}\n"
                     f"Previous answer: {text[:2000]}\nAnswer again with valid JSON only.")


class ModelRouter:
    def __init__(self, providers: Sequence[Provider], breaker_open_seconds: float = 60.0,
                 allowed_models: AbstractSet[str] = frozenset()) -> None:
        if not providers:
            raise ValueError("at least one provider is needed")
        self.providers: Dict[str, Provider] = {p.name: p for p in providers}
        # What a request's model_policy may name: the configured models always, and the
        # deployment's list (BIFROST_ALLOWED_MODELS). The rule set's "model" is its version.
        self.allowed_models = frozenset(allowed_models) | {
            p.model for p in providers if p.name != "rules" and p.model}
        self.default_route = route(None, list(self.providers))
        self.schema = answer_schema()
        self.breakers: Dict[str, Breaker] = {
            p.name: self._breaker(p.name, breaker_open_seconds) for p in providers}

    @staticmethod
    def _breaker(name: str, open_seconds: float) -> Breaker:
        gauge = metrics.BREAKER_STATE.labels(name)
        gauge.set(0)

        def changed(state: str) -> None:
            gauge.set(STATE_VALUES[state])
            log.warning("circuit_breaker", provider=name, state=state)
        return Breaker(open_seconds=open_seconds, on_change=changed)

    def breaker_states(self) -> Dict[str, str]:
        return {name: breaker.state for name, breaker in self.breakers.items()}

    def route(self, model_policy: Optional[Dict[str, object]]) -> Route:
        return route(model_policy, list(self.providers), self.allowed_models)

    def first_model(self, chosen: Route) -> str:
        """The model a route asks first: the one its answers are cached under."""
        name, model = chosen.steps[0]
        return model or self.providers[name].model

    async def analyze(self, prompt: Prompt, deadline: float,
                      chosen: Optional[Route] = None) -> Answer:
        """Return the first valid answer along the route, or raise JobFailed."""
        failures: List[str] = []
        code = codes.MODEL_UNAVAILABLE
        for name, model in (chosen or self.default_route).steps:
            provider = self.providers[name]
            try:
                return await self._ask(provider, model, prompt, deadline)
            except InvalidAnswer as exc:
                code = codes.MODEL_INVALID_ANSWER
                failures.append(f"{provider.name}: {exc}")
            except ProviderError as exc:
                failures.append(f"{provider.name}: {exc}")
            if asyncio.get_running_loop().time() >= deadline:
                code = codes.TIMEOUT
                break
        raise JobFailed(code, "; ".join(failures))

    async def _ask(self, provider: Provider, model: Optional[str], prompt: Prompt,
                   deadline: float) -> Answer:
        try:
            return await self._call(provider, model, prompt, deadline)
        except InvalidAnswer as exc:
            log.warning("invalid_answer_retrying", provider=provider.name, error=str(exc))
            return await self._call(provider, model, retry_prompt(prompt, str(exc), exc.text),
                                    deadline)

    async def _call(self, provider: Provider, model: Optional[str], prompt: Prompt,
                    deadline: float) -> Answer:
        loop = asyncio.get_running_loop()
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(TRANSIENT_ATTEMPTS)
            | stop_before_delay(max(0.0, deadline - loop.time())),
            wait=wait_exponential_jitter(initial=0.5, max=8),
            reraise=True,
        )
        breaker = self.breakers[provider.name]
        calls = metrics.MODEL_CALLS
        model_name = model or provider.model
        async for attempt in retrying:
            with attempt:
                if not breaker.allow():
                    calls.labels(provider.name, model_name, "refused").inc()
                    raise ProviderError(f"circuit open for {provider.name}", transient=False)
                started = loop.time()
                try:
                    answer = await provider.analyze(prompt, self.schema, deadline, model)
                except InvalidAnswer:
                    breaker.record(True)  # it answered: the backend is up
                    calls.labels(provider.name, model_name, "invalid").inc()
                    raise
                except ProviderError as exc:
                    breaker.record(exc.answered)
                    calls.labels(provider.name, model_name, "error").inc()
                    raise
                except BaseException:
                    breaker.record(False)  # cancelled or crashed: frees a half-open trial
                    raise
                finally:
                    metrics.MODEL_LATENCY.labels(provider.name).observe(loop.time() - started)
                breaker.record(True)
                calls.labels(provider.name, model_name, "ok").inc()
                return answer
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
