"""The model path against a real model: SmolLM2-135M in llama.cpp's llama-server, behind the
Ollama API (tests/support/ollama_adapter.py). The model is tiny: this checks structure,
validation and accounting, not the wisdom of the text."""
from __future__ import annotations

import pytest

from tests.contract import check_result
from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.ollama_adapter import LlamaServer, OllamaAdapter


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    server = LlamaServer(tmp_path_factory.mktemp("llama") / "llama-server.log").start()
    yield server
    server.stop()


@pytest.fixture
def real_ollama(llama):
    adapter = OllamaAdapter(llama.url).start()
    yield adapter
    adapter.stop()


async def test_results_carry_the_real_model_its_tokens_and_its_confidence(
        pipeline_env, worker_factory, real_ollama):
    env = pipeline_env
    worker_factory(BIFROST_OLLAMA_URL=real_ollama.url, BIFROST_OLLAMA_MODEL=real_ollama.model,
                   BIFROST_FALLBACK="none").start().wait_ready()
    lines = ["ERROR Connection to postgres:5432 timed out after 3000ms",
             "FATAL java.lang.OutOfMemoryError: Java heap space in OrderService",
             "ERROR Redis GET session:42 failed: connection refused"]
    requests = [inline_request(line, "checkout") for line in lines]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(requests))
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len({r["value"]["job_id"] for r in rs}) >= 3, 300,
                               "3 results from the real model")
    for record in records:
        result = record["value"]
        check_result(result)
        assert result["status"] == "SUCCEEDED", result
        assert result["model_used"] == "smollm2:135m"
        assert result["result"]["provider"] == "ollama"
        assert result["token_usage"]["prompt_tokens"] > 0
        assert result["token_usage"]["completion_tokens"] > 0
        assert result["confidence"] in [i / 10 for i in range(11)]  # the schema's enum
    assert len(real_ollama.prompts) == 3
