"""The model-call budget per service: a token bucket on an injected clock, and the analysis
agent answering past it with the rules provider."""
from __future__ import annotations

import pytest

from agents import analysis
from bifrost_streams.model_budget import ModelBudget
from tables import results
from tests.unit.test_agents import INLINE, _analyse, _request, model, outbox  # noqa: F401


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_service_gets_its_calls_per_minute_refilled_continuously():
    clock = Clock()
    budget = ModelBudget(2, clock=clock)
    assert [budget.take("api"), budget.take("api"), budget.take("api")] == [True, True, False]
    assert budget.take("billing")  # each service has its own
    clock.now = 29.0
    assert not budget.take("api")  # one call takes 30 s at 2 a minute
    clock.now = 30.5
    assert budget.take("api") and not budget.take("api")
    clock.now = 10_000.0
    assert [budget.take("api") for _ in range(3)] == [True, True, False]  # never above 2


def test_no_limit_when_the_budget_is_zero():
    budget = ModelBudget(0)
    assert all(budget.take("api") for _ in range(10_000))
    assert budget.tracked() == 0


def test_new_service_names_buy_no_calls_beyond_the_tracked_services():
    clock = Clock()
    budget = ModelBudget(1, max_services=3, clock=clock)
    assert [budget.take(f"s{i}") for i in range(3)] == [True] * 3
    # No bucket has refilled: every further name shares one bucket of 1 call.
    assert [budget.take(f"new-{i}") for i in range(5)] == [True, False, False, False, False]
    assert budget.tracked() == 4
    clock.now = 60.0  # all refilled: they are dropped to make room
    assert budget.take("fresh") and budget.tracked() <= 4
    assert not budget.take("fresh")


def test_a_bad_budget_is_refused():
    with pytest.raises(ValueError):
        ModelBudget(-1)


async def test_past_the_budget_the_rules_provider_answers_and_nothing_is_cached(
        outbox, model):  # noqa: F811
    analysis.analyzer().budget = ModelBudget(2, clock=Clock())
    lines = ["ERROR payment gateway refused the card", "ERROR disk full on the data volume",
             "ERROR connection refused by the ledger", "ERROR worker pool exhausted",
             "ERROR session store unreachable"]
    requests = [_request({**INLINE, "request_id": f"req-{i}", "log_content": line})
                for i, line in enumerate(lines)]
    await _analyse(requests)
    answers = [value["result"] for _, value in outbox.sent["result"]]
    assert len(model.prompts) == 2
    over = [a for a in answers if a.get("budget_exceeded")]
    assert len(answers) == 5 and len(over) == 3
    assert {a["provider"] for a in over} == {"rules"}
    assert all("budget_exceeded" not in a for a in answers if a not in over)
    assert all(value["status"] == "SUCCEEDED" for _, value in outbox.sent["result"])
    # Only the model's two answers are in the result cache.
    assert len(list(results.results.keys())) == 2
