"""The Bedrock provider through aioboto3 against llm-katan's Bedrock Runtime endpoint."""
from __future__ import annotations

import asyncio

import pytest

from bifrost_streams.prompts import build_prompt
from bifrost_streams.providers.answer import answer_schema
from bifrost_streams.providers.base import ProviderError
from bifrost_streams.providers.bedrock import BedrockProvider
from bifrost_streams.redaction import compile_rules
from tests.support.bedrock_server import AWS_ENV, BedrockStandIn
from tests.support.services import free_port

MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def bedrock():
    stand_in = BedrockStandIn(MODEL).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, bedrock):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    bedrock.backend.fail_status = None


def provider(url: str) -> BedrockProvider:
    return BedrockProvider(MODEL, "us-east-1", timeout=10, rules=compile_rules(),
                           endpoint_url=url)


def deadline(seconds: float = 10) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_converse_answer_is_validated_with_usage_from_the_response(bedrock):
    client = provider(bedrock.url)
    prompt = build_prompt("ERROR db timeout after 30000 ms", service="api", environment="prod",
                          priority="ERROR")
    try:
        answer = await client.analyze(prompt, answer_schema(), deadline())
    finally:
        await client.close()
    assert (answer.provider, answer.model) == ("bedrock", MODEL)
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    assert answer.severity in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
    system = bedrock.backend.received[-1][0]
    assert system["role"] == "system" and '"severity"' in system["content"], \
        "the answer schema travels in the system prompt"


async def test_the_cloud_prompt_is_redacted_even_when_the_caller_did_not(bedrock):
    client = provider(bedrock.url)
    raw = build_prompt(f"ERROR login failed aws_key={SECRET} password=hunter2", service="api",
                       environment="prod", priority="ERROR")
    try:
        await client.analyze(raw, answer_schema(), deadline())
    finally:
        await client.close()
    sent = bedrock.backend.prompts()[-1]
    assert SECRET not in sent and "hunter2" not in sent
    assert "[REDACTED:aws_access_key]" in sent


@pytest.mark.parametrize("status, transient, answered", [
    (429, True, False), (503, True, False), (500, True, False), (400, False, True),
    (404, False, True)])
async def test_errors_are_classified_for_retries_and_the_breaker(bedrock, status, transient,
                                                                 answered):
    bedrock.backend.fail_status = status
    error = await _refusal(bedrock.url)
    assert (error.transient, error.answered) == (transient, answered)
    assert str(status) in str(error)


async def test_an_unreachable_endpoint_is_transient():
    error = await _refusal(f"http://127.0.0.1:{free_port()}")
    assert error.transient and not error.answered


async def _refusal(url: str) -> ProviderError:
    client = provider(url)
    prompt = build_prompt("ERROR x", service=None, environment=None, priority=None)
    try:
        with pytest.raises(ProviderError) as error:
            await client.analyze(prompt, answer_schema(), deadline())
    finally:
        await client.close()
    return error.value


async def test_the_connection_pool_holds_every_call_in_flight(bedrock):
    # botocore keeps 10 connections: calls beyond them would wait for one, below
    # BIFROST_CONCURRENCY.
    client = BedrockProvider(MODEL, "us-east-1", timeout=10, rules=compile_rules(),
                             endpoint_url=bedrock.url, connections=30)
    prompt = build_prompt("ERROR db timeout", service="api", environment="prod",
                          priority="ERROR")
    try:
        answers = await asyncio.gather(*(client.analyze(prompt, answer_schema(), deadline())
                                         for _ in range(12)))
        assert (await client._runtime()).meta.config.max_pool_connections == 30
    finally:
        await client.close()
    assert all(answer.provider == "bedrock" for answer in answers)
