"""The worker's shared parts, which the agents run and the web views show: the model router
(built on first use from the settings; the analysis agent calls it, the status views show its
chain and breakers), the jobs running now (the agent joins copies of a running job to them;
/jobs reports them as RUNNING) and the Kinesis source reading here, if any."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

from .app import redaction_rules, settings
from .providers.chain import build_router
from .providers.router import ModelRouter

_router: Optional[ModelRouter] = None

# idempotency key -> the future of its (result, encoded result), while its job runs
running_jobs: Dict[str, "asyncio.Future[Tuple[Dict[str, Any], Optional[bytes]]]"] = {}
# The Kinesis source this worker runs (agents/kinesis_source.py), while it runs.
kinesis_sources: List[Any] = []


def kinesis_shards() -> List[str]:
    """The shards this worker reads now."""
    return list(kinesis_sources[0].shards) if kinesis_sources else []


def router() -> ModelRouter:
    global _router
    if _router is None:
        _router = build_router(settings, redaction_rules)
    return _router

