"""Ollama through the ollama package's AsyncClient, with the answer schema as `format`."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, Optional

import httpx
import ollama

from ..safe_messages import failure_kind, shown_url
from .answer import parse_answer
from .base import RAW_CHARS, Answer, Prompt, ProviderError, remaining_seconds


class OllamaProvider:
    name = "ollama"

    def __init__(self, url: str, model: str, timeout: float) -> None:
        self.url = url
        self.model = model
        self.timeout = timeout
        self._client = ollama.AsyncClient(host=url, timeout=timeout)

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        model = model or self.model
        remaining = remaining_seconds(deadline)
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(self._client.chat(
                model=model,
                messages=[{"role": "system", "content": prompt.system},
                          {"role": "user", "content": prompt.user}],
                format=schema,
                options={"temperature": 0},
            ), timeout=min(remaining, self.timeout))
        except asyncio.TimeoutError:
            raise ProviderError(f"ollama did not answer within {min(remaining, self.timeout):.1f}s",
                                transient=True) from None
        except ollama.ResponseError as exc:
            # 404: the model is not pulled; 4xx will not heal by retrying, 5xx may.
            raise ProviderError(f"ollama answered {exc.status_code}: {str(exc.error)[:200]}",
                                transient=exc.status_code >= 500,
                                answered=400 <= exc.status_code < 500) from None
        except (httpx.TransportError, ConnectionError, OSError) as exc:
            # The URL may carry user-info and the error text the host: neither is shown.
            raise ProviderError(f"ollama unreachable at {shown_url(self.url)} "
                                f"({failure_kind(exc)})",
                                transient=True) from None
        reply = response.message.content or ""
        parsed = parse_answer(reply)
        return Answer(
            summary=parsed.summary, root_cause=parsed.root_cause,
            recommendation=parsed.recommendation, severity=parsed.severity,
            confidence=parsed.confidence, model=response.model or model, provider=self.name,
            category=parsed.category, raw=reply[:RAW_CHARS],
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
            # Ollama's own measure (nanoseconds); ours only if it sent none.
            latency_ms=int(response.total_duration / 1e6 if response.total_duration
                           else (time.perf_counter() - started) * 1000),
        )
