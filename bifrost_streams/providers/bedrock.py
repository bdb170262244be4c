"""AWS Bedrock through aioboto3's bedrock-runtime client and the Converse API.

Converse has no schema-constrained output for every model family, so the answer's JSON schema
goes into the system prompt with a JSON-only instruction, and the reply is validated like any
other. The prompt is redacted here again, whatever the redaction setting: what reaches the
cloud must never depend on configuration.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, Dict, Iterable, Optional

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ..redaction import Rule, redact
from ..safe_messages import failure_kind
from .answer import parse_answer
from .base import RAW_CHARS, Answer, Prompt, ProviderError, remaining_seconds

JSON_ONLY = ("Answer with one JSON object and nothing else: no prose, no code fence. "
             "It must validate against this JSON schema:")
MAX_TOKENS = 1024
# Bedrock's error codes that a later call can clear; all others are the request's fault
# (ValidationException, AccessDeniedException, ResourceNotFoundException, ...).
TRANSIENT_CODES = {"ThrottlingException", "ServiceUnavailableException",
                   "InternalServerException", "ModelTimeoutException",
                   "ModelNotReadyException", "ServiceQuotaExceededException"}
FENCE = "```"


def system_text(prompt: Prompt, schema: Dict[str, Any]) -> str:
    return f"{prompt.system}\n\n{JSON_ONLY}\n{json.dumps(schema, separators=(',', ':'))}"


def reply_text(response: Dict[str, Any]) -> str:
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in blocks)
    return _unfenced(text)


def _unfenced(text: str) -> str:
    """The JSON inside a code fence, if the model wrapped its answer in one anyway.

    String operations, not a regex: the answer is untrusted too (a log line can steer a
    model), and a fence regex with optional blanks around a lazy body backtracks in cubic
    time on a fence followed by a few thousand blanks."""
    stripped = text.strip()
    if len(stripped) < 2 * len(FENCE) or not (stripped.startswith(FENCE)
                                               and stripped.endswith(FENCE)):
        return text
    body = stripped[len(FENCE):-len(FENCE)]
    return (body[len("json"):] if body.startswith("json") else body).strip()


class BedrockProvider:
    name = "bedrock"

    def __init__(self, model: str, region: str, timeout: float, rules: Iterable[Rule],
                 endpoint_url: Optional[str] = None, connections: int = 64) -> None:
        self.connections = connections
        self.model = model
        self.region = region
        self.timeout = timeout
        self.endpoint_url = endpoint_url
        self.rules = list(rules)
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self._exit = contextlib.AsyncExitStack()

    async def _runtime(self) -> Any:
        async with self._client_lock:
            if self._client is None:
                # Retries are the router's (transient errors only, within the deadline).
                config = Config(retries={"max_attempts": 1, "mode": "standard"},
                                connect_timeout=min(10.0, self.timeout),
                                read_timeout=self.timeout,
                                # botocore's 10 would cap the calls in flight below
                                # BIFROST_CONCURRENCY.
                                max_pool_connections=self.connections)
                self._client = await self._exit.enter_async_context(aioboto3.Session().client(
                    "bedrock-runtime", region_name=self.region, endpoint_url=self.endpoint_url,
                    config=config))
            return self._client

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = None

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        model = model or self.model
        remaining = remaining_seconds(deadline)
        system, _ = redact(system_text(prompt, schema), self.rules)
        user, _ = redact(prompt.user, self.rules)
        started = time.perf_counter()
        try:
            client = await self._runtime()
            response = await asyncio.wait_for(client.converse(
                modelId=model,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": user}]}],
                inferenceConfig={"maxTokens": MAX_TOKENS, "temperature": 0.0},
            ), timeout=min(remaining, self.timeout))
        except asyncio.TimeoutError:
            waited = min(remaining, self.timeout)
            raise ProviderError(f"bedrock did not answer within {waited:.1f}s",
                                transient=True) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise ProviderError(f"bedrock answered {status} {code}: "
                                f"{exc.response.get('Error', {}).get('Message', '')}",
                                transient=code in TRANSIENT_CODES or status >= 500,
                                answered=400 <= status < 500 and code not in TRANSIENT_CODES
                                ) from None
        except NoCredentialsError:
            raise ProviderError("bedrock: no AWS credentials found", transient=False) from None
        except (BotoCoreError, OSError) as exc:
            raise ProviderError(f"bedrock unreachable ({failure_kind(exc)})",
                                transient=True) from None
        reply = reply_text(response)
        parsed = parse_answer(reply)
        usage = response.get("usage", {})
        latency = response.get("metrics", {}).get("latencyMs")
        return Answer(
            summary=parsed.summary, root_cause=parsed.root_cause,
            recommendation=parsed.recommendation, severity=parsed.severity,
            confidence=parsed.confidence, model=model, provider=self.name,
            category=parsed.category, raw=reply[:RAW_CHARS],
            prompt_tokens=usage.get("inputTokens") or 0,
            completion_tokens=usage.get("outputTokens") or 0,
            latency_ms=int(latency if latency is not None
                           else (time.perf_counter() - started) * 1000),
        )
