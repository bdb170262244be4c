"""A scripted provider for unit tests: each call pops the next outcome."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Union

from bifrost_streams.providers.base import Answer, InvalidAnswer, Prompt, ProviderError

Outcome = Union[Answer, Exception, float]


def answer(provider: str = "stub", model: str = "stub-model", **changes: Any) -> Answer:
    fields = dict(summary="s", root_cause="r", recommendation="do x", severity="HIGH",
                  confidence=0.7, model=model, provider=provider, prompt_tokens=10,
                  completion_tokens=5, latency_ms=3)
    fields.update(changes)
    return Answer(**fields)


class StubProvider:
    def __init__(self, name: str, outcomes: List[Outcome], model: str = "stub-model") -> None:
        self.name = name
        self.model = model
        self.outcomes = list(outcomes)
        self.prompts: List[Prompt] = []
        self.models: List[Optional[str]] = []

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        self.prompts.append(prompt)
        self.models.append(model)
        outcome = (self.outcomes.pop(0) if self.outcomes
                   else answer(self.name, model or self.model))
        if isinstance(outcome, float):  # a hang: sleep past the deadline
            await asyncio.sleep(outcome)
            raise ProviderError("timed out", transient=True)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def transient() -> ProviderError:
    return ProviderError("connection refused", transient=True)


def invalid() -> InvalidAnswer:
    return InvalidAnswer("answer does not match the schema: severity", '{"severity": "?"}')
