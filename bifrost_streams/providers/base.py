"""The one face every model backend shows: analyze(prompt, schema, deadline) -> Answer."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Protocol


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    version: str
    log: str = ""  # the redacted log text alone, for providers that read it without a model
    priority: str = ""


RAW_CHARS = 16 * 1024


@dataclass(frozen=True)
class Answer:
    summary: str
    root_cause: str
    recommendation: str
    severity: str
    confidence: float
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)
    # The model's reply as it came, at most RAW_CHARS, for GET /jobs/{id}/prompt; not cached.
    raw: str = field(default="", repr=False, compare=False)
    category: str = "unknown"  # a failure family (bifrost_streams/families.py)

    @property
    def token_usage(self) -> Dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


class ProviderError(Exception):
    """No answer. transient=True means a retry may succeed; answered=True means the backend is
    up but refused this request (an unknown model, a bad parameter), which its circuit
    breaker must not count against it."""

    def __init__(self, message: str, *, transient: bool, answered: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.answered = answered


def remaining_seconds(deadline: float) -> float:
    """Time left before a loop.time() deadline; refuses a call that could not finish."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        raise ProviderError("deadline passed before the call", transient=False)
    return remaining


class InvalidAnswer(Exception):
    """The backend answered, but not with the schema; carries the text for the retry prompt."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


class Provider(Protocol):
    name: str
    model: str

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        """Ask `model` (default: the provider's own); deadline is a loop.time() by which the
        call must have returned."""
