"""Test support, not product: a Bedrock Runtime endpoint for aioboto3 to talk to.

llm-katan speaks Bedrock's wire protocol (SigV4 check, Converse request and response, error
shapes) but ships only echo, transformers and vLLM backends. We give it ours: one that records
every message it receives and answers either from a real llama-server or with a deterministic
answer. It runs in a background thread of the test process, like the other stand-ins.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Dict, List, Optional

import aiohttp
import uvicorn
from llm_katan import server as katan_server
from llm_katan.config import ServerConfig
from llm_katan.model import ModelBackend, SimulatedError

from bifrost_streams.providers.bedrock import JSON_ONLY
from tests.support.fake_ollama import deterministic_answer
from tests.support.services import free_port, wait_for

# aioboto3 signs requests; llm-katan checks the SigV4 shape, not the secret.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIDTESTKATAN", "AWS_SECRET_ACCESS_KEY": "katan-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def schema_in(messages: List[Dict[str, str]]) -> Optional[Dict[str, Any]]:
    """The JSON schema the provider put after its JSON-only instruction, if any."""
    for message in messages:
        if message["role"] == "system" and JSON_ONLY in message["content"]:
            return json.loads(message["content"].split(JSON_ONLY, 1)[1])
    return None


class RecordingBackend(ModelBackend):
    """Records what reached the 'cloud'; answers from llama-server when given its URL."""

    def __init__(self, config: ServerConfig, llama_url: Optional[str]) -> None:
        super().__init__(config)
        self.llama_url = llama_url
        self.received: List[List[Dict[str, str]]] = []
        self.fail_status: Optional[int] = None
        self._lock = threading.Lock()

    async def load_model(self) -> None:
        return None

    def prompts(self) -> List[str]:
        with self._lock:
            return [json.dumps(messages) for messages in self.received]

    async def _generate_text(self, messages: List[Dict[str, str]], max_tokens: int,
                             temperature: float) -> tuple:
        with self._lock:
            self.received.append(messages)
        if self.fail_status is not None:
            raise SimulatedError(self.fail_status, "told to fail by the test")
        if self.llama_url is None:
            user = next(m["content"] for m in messages if m["role"] == "user")
            text = json.dumps(deterministic_answer(user))
            return text, len(user.split()), len(text.split())
        return await self._llama(messages, max_tokens, temperature)

    async def _llama(self, messages: List[Dict[str, str]], max_tokens: int,
                     temperature: float) -> tuple:
        # A 135M model does not follow a JSON-only instruction the way Bedrock's models do;
        # constraining its sampling to the schema from the prompt stands in for that.
        schema = schema_in(messages)
        payload: Dict[str, Any] = {"messages": messages, "max_tokens": max(max_tokens, 1024),
                                   "temperature": temperature, "repeat_penalty": 1.1}
        if schema is not None:
            payload["json_schema"] = schema
        async with aiohttp.ClientSession() as session:
            async with session.post(self.llama_url + "/v1/chat/completions", json=payload,
                                    timeout=aiohttp.ClientTimeout(total=300)) as response:
                if response.status != 200:
                    raise SimulatedError(503, await response.text())
                body = await response.json()
        usage = body.get("usage") or {}
        return (body["choices"][0]["message"]["content"], usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0))


class BedrockStandIn:
    def __init__(self, model: str = "anthropic.claude-3-sonnet-20240229-v1:0",
                 llama_url: Optional[str] = None) -> None:
        self.port = free_port()
        config = ServerConfig(model_name=model, port=self.port, host="127.0.0.1",
                              backend="echo", providers=["bedrock"], max_concurrent=8,
                              dashboard_enabled=False)
        self.backend = RecordingBackend(config, llama_url)
        self._config = config
        self._server: Optional[uvicorn.Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BedrockStandIn":
        # llm-katan builds its backend in its lifespan through this module-level factory.
        katan_server.create_backend = lambda config: self.backend
        app = katan_server.create_app(self._config)
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", loop="asyncio"))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()),
                                        daemon=True)
        self._thread.start()
        wait_for(lambda: self._server.started, 30, "llm-katan to start", interval=0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(15)
