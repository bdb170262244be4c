"""Bedrock in the chain, through Kafka: model_policy picks the provider per request, and the
cloud never receives a secret, even with redaction switched off for local models."""
from __future__ import annotations

import json

import pytest

from tests.contract import check_result
from tests.requests_corpus import inline_request
from tests.secrets_corpus import secrets
from tests.support.bedrock_server import AWS_ENV, BedrockStandIn
from tests.support.kafka_io import as_messages, produce, read_all, read_topic, wait_drained

SONNET = "anthropic.claude-3-sonnet-20240229-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def bedrock():
    stand_in = BedrockStandIn(SONNET).start()
    yield stand_in
    stand_in.stop()


def with_policy(line: str, policy) -> dict:
    return {**inline_request(line, "payments"), "model_policy": policy}


async def _results(env, requests, what):
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len({r["value"]["job_id"] for r in rs})
                               >= len(requests), 180, what)
    return {r["value"]["job_id"]: r["value"] for r in records}


async def test_model_policy_picks_the_provider_and_the_cloud_gets_no_secret(
        pipeline_env, worker_factory, fake_ollama, bedrock):
    env = pipeline_env
    worker_factory(BIFROST_FALLBACK="bedrock,rules", BIFROST_BEDROCK_ENDPOINT_URL=bedrock.url,
                   BIFROST_REDACTION="off", BIFROST_ALLOWED_MODELS=HAIKU,
                   **AWS_ENV).start().wait_ready()
    corpus = secrets()
    local = [with_policy(f"ERROR cache node {c * 3} evicted the session", None) for c in "ABC"]
    cloud = [with_policy(line, {"source": "cloud"}) for _, _, line in corpus]
    haiku = [with_policy(f"ERROR queue {c * 3} is full", {"source": "cloud", "model": HAIKU})
             for c in "DE"]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(local + cloud + haiku))
    results = await _results(env, local + cloud + haiku, "a result for every request")

    for result in results.values():
        check_result(result)
        assert result["status"] == "SUCCEEDED", result
    for request in local:
        result = results[request["request_id"]]
        assert (result["result"]["provider"], result["model_used"]) == ("ollama", "fake-model")
        assert "model_policy" not in result["result"]
    for request in cloud:
        result = results[request["request_id"]]
        assert (result["result"]["provider"], result["model_used"]) == ("bedrock", SONNET)
        assert result["result"]["model_policy"] == {"source": "cloud", "model": None,
                                                    "ignored": []}
        if not result["result"]["cache_hit"]:
            assert result["token_usage"]["prompt_tokens"] > 0
    for request in haiku:
        assert results[request["request_id"]]["model_used"] == HAIKU

    sent_to_cloud = json.dumps(bedrock.backend.received)
    leaked = [(kind, secret) for kind, secret, _ in corpus if secret in sent_to_cloud]
    assert not leaked, leaked[:5]
    assert bedrock.backend.received, "the cloud was asked"
    # Redaction off applies to local models only: the local model saw raw text.
    assert "ERROR cache node AAA" in json.dumps(fake_ollama.requests)


async def test_a_request_cannot_turn_on_a_disabled_cloud(pipeline_env, worker_factory, bedrock):
    env = pipeline_env
    worker_factory(BIFROST_BEDROCK_ENDPOINT_URL=bedrock.url, **AWS_ENV).start().wait_ready()
    request = with_policy("ERROR payment declined by issuer", {"source": "cloud"})
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages([request]))
    result = (await _results(env, [request], "the result"))[request["request_id"]]
    assert result["status"] == "SUCCEEDED" and result["result"]["provider"] == "ollama"
    assert "not enabled" in result["result"]["model_policy"]["ignored"][0]
    assert bedrock.backend.received == []


async def test_ollama_down_falls_back_to_bedrock_before_rules(pipeline_env, worker_factory,
                                                             fake_ollama, bedrock):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    fake_ollama.fail_status = 503
    worker_factory(BIFROST_FALLBACK="bedrock,rules", BIFROST_BEDROCK_ENDPOINT_URL=bedrock.url,
                   **AWS_ENV).start().wait_ready()
    requests = [with_policy(f"ERROR shard {c * 3} lost its leader", None) for c in "FGHIJK"]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(requests))
    results = await _results(env, requests, "6 results")
    assert {r["result"]["provider"] for r in results.values()} == {"bedrock"}
    await wait_drained(bootstrap, env["BIFROST_APP_ID"], [env["BIFROST_REQUEST_TOPIC"]], 60)
    assert await read_all(bootstrap, env["BIFROST_DLQ_TOPIC"]) == []
