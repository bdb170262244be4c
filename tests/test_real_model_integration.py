"""The model path against a real model: SmolLM2-135M in llama.cpp's llama-server, behind the
Ollama API (tests/support/ollama_adapter.py). The model is tiny: this checks structure,
validation and accounting, not the wisdom of the text."""
from __future__ import annotations

import asyncio

import pytest

from tests.contract import check_result
from tests.requests_corpus import inline_request
from tests.support.bedrock_server import AWS_ENV, BedrockStandIn
from tests.support.kafka_io import as_messages, produce, read_all, read_topic, wait_drained
from tests.support.ollama_adapter import LlamaServer, OllamaAdapter
from tests.support.services import wait_for

SONNET = "anthropic.claude-3-sonnet-20240229-v1:0"


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
        assert result["result"]["model_latency_ms"] > 0
    assert len(real_ollama.prompts) == 3


async def test_bedrock_through_llm_katan_answers_from_the_real_model(
        pipeline_env, worker_factory, llama):
    env = pipeline_env
    bedrock = BedrockStandIn(SONNET, llama_url=llama.url).start()
    try:
        worker_factory(BIFROST_AI_SOURCE="cloud", BIFROST_FALLBACK="none",
                       BIFROST_BEDROCK_ENDPOINT_URL=bedrock.url, **AWS_ENV).start().wait_ready()
        requests = [inline_request(line, "checkout") for line in (
            "ERROR TLS handshake with api.partner.example failed: certificate expired",
            "ERROR Kafka producer: NOT_ENOUGH_REPLICAS for topic orders")]
        await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                      as_messages(requests))
        records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                                   lambda rs: len({r["value"]["job_id"] for r in rs}) >= 2, 300,
                                   "2 results from the real model behind Bedrock")
    finally:
        bedrock.stop()
    for record in records:
        result = record["value"]
        check_result(result)
        assert result["status"] == "SUCCEEDED", result
        assert (result["result"]["provider"], result["model_used"]) == ("bedrock", SONNET)
        assert result["token_usage"]["prompt_tokens"] > 0
        assert result["token_usage"]["completion_tokens"] > 0
        assert result["confidence"] in [i / 10 for i in range(11)]
    assert len(bedrock.backend.received) == 2


async def test_killing_the_model_server_opens_the_breaker_and_rules_answer_until_it_returns(
        pipeline_env, worker_factory, tmp_path):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    server = LlamaServer(tmp_path / "llama-server.log").start()
    adapter = OllamaAdapter(server.url).start()
    try:
        worker = worker_factory(BIFROST_OLLAMA_URL=adapter.url, BIFROST_OLLAMA_MODEL=adapter.model,
                                BIFROST_BREAKER_OPEN_SECONDS="3").start().wait_ready()
        before = [inline_request("ERROR Connection to postgres:5432 timed out", "orders")]
        await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(before))
        await _wait_results(env, before, "the first real-model result")

        outage = [inline_request(f"ERROR upstream {c * 3} refused the connection", "orders")
                  for c in "ABCDEFGHIJ"]
        await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(outage))
        # SIGKILL while the model is working on these: no goodbye to the adapter or worker.
        wait_for(lambda: len(adapter.prompts) > len(before), 60, "a call in flight")
        server.process.kill()
        server.process.wait(10)
        during = await _wait_results(env, outage, "10 results during the outage")
        assert all(r["status"] == "SUCCEEDED" for r in during), during
        assert sum(r["result"]["provider"] == "rules" for r in during) >= 8, during
        assert worker.status()["model"]["breakers"]["ollama"] in ("open", "half_open")

        server.start()  # the same port: the adapter finds it again
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        after = []
        while worker.status()["model"]["breakers"]["ollama"] != "closed":
            assert loop.time() < deadline, "the breaker did not close after the model came back"
            request = inline_request(f"WARN disk latency high on volume {len(after)} "
                                     f"{'xyzw'[len(after) % 4] * (len(after) + 1)}", "orders")
            after.append(request)
            await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages([request]))
            await _wait_results(env, after, "a result after the model came back")
        await wait_drained(bootstrap, env["BIFROST_APP_ID"], [env["BIFROST_REQUEST_TOPIC"]], 300)
        results = await _wait_results(env, after, "all results after the return")
        assert any(r["result"]["provider"] == "ollama" for r in results)
        assert await read_all(bootstrap, env["BIFROST_DLQ_TOPIC"]) == [], \
            "the rules could serve every request: nothing belongs in the DLQ"
    finally:
        adapter.stop()
        server.stop()


async def _wait_results(env, requests, what):
    wanted = {r["request_id"] for r in requests}
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: wanted <= {r["value"]["job_id"] for r in rs}, 300,
                               what)
    return [r["value"] for r in records if r["value"]["job_id"] in wanted]
