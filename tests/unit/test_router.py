import asyncio

import pytest

from bifrost_streams import codes
from bifrost_streams.codes import JobFailed
from bifrost_streams.providers.base import Prompt, ProviderError
from bifrost_streams.providers.router import ModelRouter
from tests.support.stub_provider import StubProvider, invalid, transient

PROMPT = Prompt(system="sys", user="log line", version="v1")


def deadline(seconds: float = 30) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_transient_errors_are_retried():
    provider = StubProvider("a", [transient(), transient()])
    result = await ModelRouter([provider]).analyze(PROMPT, deadline())
    assert result.provider == "a" and len(provider.prompts) == 3


async def test_permanent_errors_are_not_retried_and_fall_back():
    first = StubProvider("a", [ProviderError("404 model not found", transient=False)])
    second = StubProvider("b", [])
    result = await ModelRouter([first, second]).analyze(PROMPT, deadline())
    assert result.provider == "b" and len(first.prompts) == 1


async def test_invalid_answer_is_asked_again_once_with_the_error():
    provider = StubProvider("a", [invalid()])
    result = await ModelRouter([provider]).analyze(PROMPT, deadline())
    assert result.provider == "a"
    assert "rejected: answer does not match the schema" in provider.prompts[1].user


async def test_twice_invalid_moves_on_and_reports_the_code():
    provider = StubProvider("a", [invalid(), invalid()])
    with pytest.raises(JobFailed) as error:
        await ModelRouter([provider]).analyze(PROMPT, deadline())
    assert error.value.code == codes.MODEL_INVALID_ANSWER


async def test_every_provider_down_is_model_unavailable():
    provider = StubProvider("a", [transient()] * 5)
    with pytest.raises(JobFailed) as error:
        await ModelRouter([provider]).analyze(PROMPT, deadline())
    assert error.value.code == codes.MODEL_UNAVAILABLE
    assert "connection refused" in error.value.message


async def test_the_request_deadline_bounds_retries():
    provider = StubProvider("a", [0.3, 0.3, 0.3])
    with pytest.raises(JobFailed) as error:
        await ModelRouter([provider]).analyze(PROMPT, deadline(0.2))
    assert error.value.code == codes.TIMEOUT
    assert len(provider.prompts) == 1


def test_a_router_needs_a_provider():
    with pytest.raises(ValueError):
        ModelRouter([])


async def test_a_down_provider_falls_back_and_its_breaker_opens():
    down = StubProvider("ollama", [ProviderError("refused", transient=False)] * 20)
    rules = StubProvider("rules", [], model="rules-v1")
    router = ModelRouter([down, rules])
    for _ in range(8):
        assert (await router.analyze(PROMPT, deadline())).provider == "rules"
    assert router.breaker_states()["ollama"] == "open"
    calls = len(down.prompts)
    await router.analyze(PROMPT, deadline())
    assert len(down.prompts) == calls, "an open breaker refuses without calling"


async def test_a_route_picks_the_first_provider_and_its_model():
    local, cloud = StubProvider("ollama", []), StubProvider("bedrock", [], model="claude")
    router = ModelRouter([local, cloud], allowed_models={"claude-haiku"})
    chosen = router.route({"source": "cloud", "model": "claude-haiku"})
    result = await router.analyze(PROMPT, deadline(), chosen)
    assert (result.provider, result.model) == ("bedrock", "claude-haiku")
    assert cloud.models == ["claude-haiku"] and local.prompts == []
    assert router.first_model(chosen) == "claude-haiku"
    assert router.first_model(router.route(None)) == "stub-model"


async def test_a_refusal_for_one_request_does_not_open_the_breaker():
    refusals = [ProviderError("404 model 'nope' not found", transient=False, answered=True)
                for _ in range(10)]
    provider = StubProvider("ollama", refusals)
    router = ModelRouter([provider, StubProvider("rules", [])])
    for _ in range(10):
        await router.analyze(PROMPT, deadline())
    assert router.breaker_states()["ollama"] == "closed"


def test_a_request_names_only_an_allowed_or_configured_model():
    local, cloud = StubProvider("ollama", []), StubProvider("bedrock", [], model="claude")
    router = ModelRouter([local, cloud, StubProvider("rules", [], model="rules-v1")],
                         allowed_models={"llama3.1:8b"})
    assert router.allowed_models == {"llama3.1:8b", "stub-model", "claude"}
    assert router.route({"model": "llama3.1:8b"}).steps[0] == ("ollama", "llama3.1:8b")
    assert router.route({"source": "cloud", "model": "stub-model"}).steps[0] == (
        "bedrock", "stub-model")
    expensive = router.route({"source": "cloud", "model": "anthropic.claude-3-opus"})
    assert expensive.steps[0] == ("bedrock", None)
    assert router.first_model(expensive) == "claude"
    assert expensive.note["model"] == "anthropic.claude-3-opus"
    assert ["not allowed" in reason and "BIFROST_ALLOWED_MODELS" in reason
            for reason in expensive.note["ignored"]] == [True]
    assert router.route({"model": "rules-v1"}).steps[0] == ("ollama", None)
