"""The analyser on in-memory stores: no Kafka, no Faust app, no patched globals."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest

from bifrost_streams import codes
from bifrost_streams.analysis.analyzer import Analyzer, Limits, Prepared, Ready
from bifrost_streams.analysis.memory import MemoryLogs, RecordedFailures, memory_stores
from bifrost_streams.model_budget import ModelBudget
from bifrost_streams.providers.base import ProviderError
from bifrost_streams.providers.router import ModelRouter
from bifrost_streams.providers.rules import RulesProvider
from bifrost_streams.redaction import compile_rules
from bifrost_streams.storage.logs import LogEntry
from bifrost_streams.validation import parse_request
from tests.contract import check_result
from tests.support.stub_provider import StubProvider, answer

JOB_ID = "5b0f3f0e-6c1a-4d8e-9f00-000000000001"
INLINE = {"request_id": JOB_ID, "log_id": 12345, "correlation_id": "corr-1",
          "log_content": "ERROR Connection to 10.0.0.1:5432 timed out after 3000ms",
          "service_name": "user-service"}
BY_ID = {"schema_version": 1, "job_id": "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11",
         "idempotency_key": "manual:log:5:2b9c", "log_id": 5, "trace_id": "trace-1"}


class Setup:
    """An analyser and what it was given, to look at afterwards."""

    def __init__(self, outcomes: Optional[List[Any]] = None, *, rows: Optional[Dict] = None,
                 budget: int = 0, rules: Optional[list] = None, max_chars: int = 32 * 1024,
                 providers: Optional[list] = None) -> None:
        self.model = StubProvider("ollama", list(outcomes or []))
        self.stores = memory_stores()
        self.failures = RecordedFailures()
        self.logs = MemoryLogs(rows)
        self.analyzer = Analyzer(
            Limits(max_chars, True, rules if rules is not None else compile_rules([]), "en"),
            self.stores, ModelRouter(providers or [self.model]), self.logs, self.failures,
            ModelBudget(budget), RulesProvider())

    async def serve(self, document: Dict[str, Any], redrive: int = 0) -> Dict[str, Any]:
        """What the agent does with one job: the quick path, else the slow one."""
        request = request_of(document)
        request.redrive = redrive
        step = self.analyzer.quick(request)
        if isinstance(step, Ready):
            if step.delivered is not None:
                await step.delivered
            return step.result
        assert step is None or isinstance(step, Prepared)
        result, encoded = await self.analyzer.run(request, step)
        assert json.loads(encoded) == result
        return result


def request_of(document: Dict[str, Any]):
    return parse_request(json.dumps(document).encode(), max_bytes=1 << 20, topic="t",
                         partition=0, offset=1)


def test_the_analyser_imports_no_faust_app_tables_or_agents():
    code = ("import sys, bifrost_streams.analysis.analyzer, bifrost_streams.analysis.memory; "
            "print(sorted(m for m in sys.modules if m == 'bifrost_streams.app' "
            "or m.split('.')[0] in ('tables', 'agents')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


async def test_a_duplicate_gets_the_stored_result_and_never_reaches_the_model_twice():
    setup = Setup()
    first = await setup.serve(INLINE)
    second = await setup.serve(INLINE)
    assert first == second and len(setup.model.prompts) == 1
    check_result(first)
    assert first["status"] == "SUCCEEDED" and first["model_used"] == "stub-model"
    assert setup.stores.jobs.get(JOB_ID)["result"] == first


async def test_a_variant_of_an_analysed_line_is_a_cache_hit_marked_as_a_storm():
    setup = Setup()
    first = await setup.serve(INLINE)
    second = await setup.serve({**INLINE, "request_id": "req-2",
                                "log_content": "ERROR Connection to 10.9.9.9:5432 timed out "
                                               "after 12ms"})
    assert len(setup.model.prompts) == 1
    assert second["result"]["cache_hit"] is True and second["token_usage"]["total_tokens"] == 0
    assert first["result"]["template_id"] == second["result"]["template_id"]
    assert (first["result"]["new_template"], second["result"]["new_template"]) == (True, False)
    assert second["result"]["storm_suppressed"] is True
    assert "storm_suppressed" not in first["result"]


async def test_secrets_and_configured_patterns_never_reach_the_prompt():
    rules = compile_rules([("employee_id", r"EMP-\d{6}")])
    setup = Setup(rules=rules)
    result = await setup.serve({**INLINE, "log_content": "ERROR login failed password=hunter2 "
                                                         "for bob@example.com as EMP-123456"})
    prompt = setup.model.prompts[0].user
    for secret in ("hunter2", "bob@example.com", "EMP-123456"):
        assert secret not in prompt
    assert result["result"]["redactions"] == {"secret_assignment": 1, "email": 1,
                                              "employee_id": 1}


async def test_a_log_read_by_id_names_its_service_and_environment():
    row = LogEntry(5, "ERROR payment failed", "payments", "prod", "ERROR")
    setup = Setup(rows={5: row})
    result = await setup.serve(BY_ID)
    assert result["status"] == "SUCCEEDED"
    assert (result["result"]["service_name"], result["result"]["environment"]) == (
        "payments", "prod")
    assert result["result"]["template_id"].startswith("payments:")


async def test_a_missing_log_row_fails_with_one_dead_letter_and_a_copy_gets_the_same():
    setup = Setup()
    first = await setup.serve(BY_ID)
    second = await setup.serve(BY_ID)
    assert first == second and first["error_code"] == codes.LOG_NOT_FOUND
    check_result(first)
    assert setup.failures.sent == [(BY_ID["job_id"], codes.LOG_NOT_FOUND,
                                    "log_entries has no row with id 5")]
    assert setup.model.prompts == []


async def test_a_redrive_serves_a_failed_job_again_and_resolves_its_dead_letter():
    setup = Setup()
    assert (await setup.serve(BY_ID))["status"] == "FAILED"
    setup.logs.rows[5] = LogEntry(5, "ERROR payment failed", "payments", "prod", "ERROR")
    assert (await setup.serve(BY_ID))["status"] == "FAILED"  # a plain copy: what it got
    assert (await setup.serve(BY_ID, redrive=1))["status"] == "SUCCEEDED"
    assert (await setup.serve(BY_ID))["status"] == "SUCCEEDED"
    assert setup.stores.dead_letters.resolved == [BY_ID["job_id"]]


async def test_a_model_outage_fails_the_job_and_the_next_one_is_served():
    setup = Setup([ProviderError("404 no model", transient=False)])
    down = await setup.serve(INLINE)
    fine = await setup.serve({**INLINE, "request_id": "req-9", "log_content": "WARN other"})
    assert (down["error_code"], fine["error_code"]) == (codes.MODEL_UNAVAILABLE, None)
    assert [code for _, code, _ in setup.failures.sent] == [codes.MODEL_UNAVAILABLE]


async def test_a_job_past_its_deadline_fails_with_timeout():
    class Hanging(MemoryLogs):
        async def fetch(self, log_id):
            await asyncio.sleep(3600)

    setup = Setup()
    setup.analyzer.logs = Hanging()
    setup.analyzer.deadline_grace = 0.05
    started = asyncio.get_running_loop().time()
    result = await setup.serve({**BY_ID, "timeout_ms": 200})
    assert asyncio.get_running_loop().time() - started < 5
    check_result(result)
    assert result["error_code"] == codes.TIMEOUT and "0.2 s" in result["error_message"]
    assert [code for _, code, _ in setup.failures.sent] == [codes.TIMEOUT]


async def test_past_the_model_budget_the_rules_answer_and_are_not_cached():
    setup = Setup(budget=1)
    await setup.serve(INLINE)
    over = await setup.serve({**INLINE, "request_id": "req-3",
                              "log_content": "ERROR disk /var is full on node-1"})
    assert len(setup.model.prompts) == 1
    assert over["result"]["provider"] == "rules" and over["result"]["budget_exceeded"] is True
    assert len(setup.stores.results.entries) == 1


async def test_a_fallback_answer_is_served_but_not_cached():
    backup = StubProvider("bedrock", [answer("bedrock", model="backup-model")],
                          model="backup-model")
    setup = Setup(providers=[StubProvider("ollama", [ProviderError("refused", transient=False)]),
                             backup])
    result = await setup.serve(INLINE)
    assert result["status"] == "SUCCEEDED" and result["model_used"] == "backup-model"
    assert setup.stores.results.entries == {}


class Slow(StubProvider):
    async def analyze(self, *args, **kwargs):
        await asyncio.sleep(0.05)
        return await super().analyze(*args, **kwargs)


async def test_two_jobs_of_one_new_template_share_one_model_call():
    slow = Slow("ollama", [])
    setup = Setup(providers=[slow])
    first = request_of(INLINE)
    second = request_of({**INLINE, "request_id": "req-4",
                         "log_content": INLINE["log_content"].replace("10.0.0.1", "10.0.0.2")})
    steps = [setup.analyzer.quick(first), setup.analyzer.quick(second)]
    assert all(isinstance(step, Prepared) for step in steps)
    (a, _), (b, _) = await asyncio.gather(setup.analyzer.run(first, steps[0]),
                                          setup.analyzer.run(second, steps[1]))
    assert len(slow.prompts) == 1
    assert (a["result"]["cache_hit"], b["result"]["cache_hit"]) == (False, True)
    assert a["summary"] == b["summary"]


async def test_a_long_log_is_cut_to_head_and_tail_before_redaction_and_mining():
    head = "ERROR java.lang.IllegalStateException: order not found\n"
    frames = "".join(f"\tat com.acme.layer{i}.Handler.handle(Handler.java:{i})\n"
                     for i in range(3000))
    tail = "Caused by: java.net.SocketTimeoutException: timed out, password=hunter2"
    setup = Setup(max_chars=8 * 1024)
    result = await setup.serve({**INLINE, "log_content": head + frames + tail})
    check_result(result)
    truncated = result["result"]["truncated"]
    assert truncated["original_chars"] == len(head + frames + tail)
    assert truncated["kept_chars"] <= 8 * 1024
    assert setup.model.prompts[0].log.startswith(head)
    assert "SocketTimeoutException" in result["result"]["template"]
    assert "hunter2" not in setup.model.prompts[0].user
    short = await setup.serve({**INLINE, "request_id": "req-5"})
    assert "truncated" not in short["result"]


@pytest.mark.parametrize("priority", [None, "high"])
async def test_occurrences_are_counted_by_template_and_priority(priority):
    setup = Setup()
    document = {**INLINE, "priority": priority} if priority else INLINE
    result = await setup.serve(document)
    template_id = result["result"]["template_id"]
    assert setup.stores.counts.seen[template_id, (priority or "UNKNOWN").upper()] == 1


async def test_every_result_carries_its_failure_family_in_result():
    setup = Setup([answer("ollama", category="network.timeout")], budget=1)
    first = await setup.serve(INLINE)
    # A variant of the line: answered from the cache, which kept the family.
    cached = await setup.serve({**INLINE, "request_id": JOB_ID[:-1] + "2", "log_content":
                                "ERROR Connection to 10.0.0.2:5432 timed out after 5000ms"})
    over = await setup.serve({**INLINE, "request_id": JOB_ID[:-1] + "3",
                              "log_content": "FATAL: sorry, too many clients already"})
    lost = await setup.serve({**BY_ID, "log_id": 404})
    for result in (first, cached, over, lost):
        check_result(result)
        assert "category" not in result  # inside `result`, never top level
    assert (first["result"]["category"], cached["result"]["category"]) == (
        "network.timeout", "network.timeout")
    assert cached["result"]["cache_hit"] is True
    assert over["result"]["provider"] == "rules"
    assert over["result"]["category"] == "database.connection_pool"
    assert lost["status"] == "FAILED" and lost["result"]["category"] == "unknown"


async def test_a_model_answer_without_a_family_gets_the_rules_one_if_they_know_it():
    setup = Setup([answer("ollama"), answer("ollama")])
    known = await setup.serve(INLINE)
    assert known["result"]["provider"] == "ollama" and known["summary"] == "s"
    assert known["result"]["category"] == "network.timeout"
    assert known["result"]["category_signature"] == "timeout"
    unknown = await setup.serve({**INLINE, "request_id": JOB_ID[:-1] + "2",
                                 "log_content": "ERROR the frobnicator reports state 7"})
    assert unknown["result"]["category"] == "unknown"
    assert "category_signature" not in unknown["result"]
