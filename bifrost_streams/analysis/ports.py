"""What the analyser needs from the world, as small protocols.

The worker passes the Faust tables (tables/*.py), the model router and Heimdall's log store;
tests and benchmarks pass the in-memory ones of analysis/memory.py.
"""
from __future__ import annotations

from typing import Any, Awaitable, Dict, List, Optional, Protocol

from ..mining.miner import Match
from ..providers.base import Answer, Prompt
from ..providers.policy import Route
from ..records import AnalysisRequest
from ..storage.logs import LogEntry


class JobStore(Protocol):
    """Finished jobs by idempotency key: what any duplicate of a request gets back."""

    def get(self, key: str) -> Optional[Dict[str, Any]]: ...

    def mark_done(self, key: str, job_id: str, result_json: bytes) -> Awaitable[Any]:
        """Store the result; the returned awaitable completes once the write is durable."""


class ResultCache(Protocol):
    """Analyses by cache key (template, model, prompt version, language), with expiry."""

    def lookup(self, key: str) -> Optional[Dict[str, Any]]: ...

    def store(self, key: str, analysis: Dict[str, Any]) -> None: ...


class Templates(Protocol):
    def classify(self, service: str, text: str) -> Match:
        """The template of a redacted log text; is_new the first time it is seen."""


class TemplateCounts(Protocol):
    def count(self, template_id: str, severity: str) -> Dict[str, int]:
        """Count one occurrence; the running counts by window name ("1m", ...)."""


class DeadLetters(Protocol):
    def resolve(self, job_id: str) -> None:
        """A redriven job was served: its dead letter no longer waits."""


class PromptLog(Protocol):
    def keep(self, key: str, sent: Dict[str, Any]) -> None:
        """Keep what a job sent to the model and got back, by idempotency key."""


class LogSource(Protocol):
    async def fetch(self, log_id: int) -> LogEntry:
        """The log row; raises codes.JobFailed when it is missing or unreachable."""

    async def preceding(self, log_id: int, limit: int) -> List[str]:
        """Up to `limit` texts the same service logged just before the row, oldest first."""


class FailureSink(Protocol):
    async def publish_job_dlq(self, request: AnalysisRequest, code: str, message: str) -> None:
        """Publish the job's one dlq.failed event."""


class Router(Protocol):
    schema: Dict[str, Any]
    providers: Dict[str, Any]

    def route(self, model_policy: Optional[Dict[str, object]]) -> Route: ...

    def first_model(self, chosen: Route) -> str: ...

    async def analyze(self, prompt: Prompt, deadline: float, chosen: Route) -> Answer: ...


class Analyst(Protocol):
    """A provider asked on its own (the rules provider past a service's model budget)."""

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any],
                      deadline: float) -> Answer: ...
