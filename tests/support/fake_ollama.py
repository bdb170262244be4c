"""A deterministic stand-in for an Ollama server, for tests only (never the product).

Speaks the parts of the Ollama HTTP API the worker uses (/api/chat, /api/generate, /api/tags,
/api/show) on 127.0.0.1 in a background thread, records every request it receives, and can be
told to fail or to answer invalid JSON.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from typing import Any, Dict, List, Optional

from aiohttp import web

from tests.support.http_server import ThreadedServer

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def deterministic_answer(prompt: str) -> Dict[str, Any]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return {"summary": f"Summary {digest[:4].hex()}",
            "root_cause": "A dependency stopped answering.",
            "recommendation": "Check the dependency's health and retry.",
            "severity": SEVERITIES[digest[0] % 4],
            "confidence": round((digest[1] % 10) / 10, 1)}


class FakeOllama(ThreadedServer):
    def __init__(self, model: str = "fake-model", latency: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.latency = latency
        self.requests: List[Dict[str, Any]] = []
        self.fail_status: Optional[int] = None
        self.invalid_answers = 0  # answer this many chats with text that is not the schema
        self.severity: Optional[str] = None  # every answer's severity, when set
        self._lock = threading.Lock()

    def chats(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] == "/api/chat"]

    def prompt_counts(self) -> Counter:
        """How often each distinct user prompt reached the model."""
        return Counter(next(m["content"] for m in r["body"]["messages"] if m["role"] == "user")
                       for r in self.chats())

    def log_counts(self) -> Counter:
        """How often each log text reached the model: the user prompt's part after its "Log:"
        line (the context before it quotes other entries)."""
        return Counter(prompt.rsplit("\nLog:\n", 1)[-1].strip("\n")
                       for prompt in self.prompt_counts().elements())

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)

    async def _record(self, request: web.Request) -> Dict[str, Any]:
        body = await request.json()
        with self._lock:
            self.requests.append({"path": request.path, "body": body})
        if self.latency:
            await asyncio.sleep(self.latency)
        return body

    def _failure(self) -> Optional[web.Response]:
        if self.fail_status is not None:
            return web.json_response({"error": "injected failure"}, status=self.fail_status)
        return None

    def _content(self, prompt: str) -> str:
        with self._lock:
            if self.invalid_answers > 0:
                self.invalid_answers -= 1
                return '{"summary": "missing the other fields"}'
        answer = deterministic_answer(prompt)
        if self.severity is not None:
            answer["severity"] = self.severity
        return json.dumps(answer)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._failure()
        if failure is not None:
            return failure
        prompt = "\n".join(m["content"] for m in body["messages"])
        return web.json_response({
            "model": body.get("model", self.model), "created_at": "2026-01-31T10:00:00Z",
            "message": {"role": "assistant", "content": self._content(prompt)},
            "done": True, "done_reason": "stop", "total_duration": 1000000,
            "prompt_eval_count": len(prompt.split()), "eval_count": 42})

    async def _generate(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._failure()
        if failure is not None:
            return failure
        return web.json_response({
            "model": body.get("model", self.model), "created_at": "2026-01-31T10:00:00Z",
            "response": self._content(body.get("prompt", "")), "done": True,
            "prompt_eval_count": 10, "eval_count": 42})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": self.model, "model": self.model}]})

    async def _show(self, request: web.Request) -> web.Response:
        return web.json_response({"modelfile": "", "details": {"family": "fake"}})
