"""The prompt planned to fit the model's context window: context first to go, then the log's
middle, head and tail kept."""
from __future__ import annotations

from bifrost_streams.analysis.prompt_budget import ANSWER_TOKENS, CHARS_PER_TOKEN, fit, window
from bifrost_streams.storage.logs import LogEntry
from tests.unit.test_analyzer import BY_ID, INLINE, Setup

HEAD = "ERROR java.lang.IllegalStateException: order not found\n"
FRAMES = "".join(f"\tat com.acme.layer{i}.Handler.handle(Handler.java:{i})\n" for i in range(400))
TAIL = "Caused by: java.net.SocketTimeoutException: connect timed out"
LONG = HEAD + FRAMES + TAIL


def test_the_window_is_the_smallest_among_the_routes_model_providers():
    assert window(["ollama", "bedrock", "rules"], None) == 2048
    assert window(["bedrock", "rules"], None) == 100_000
    assert window(["rules"], None) is None
    assert window(["bedrock"], 8192) == 8192


def test_a_long_log_keeps_its_head_and_tail_within_the_window():
    fitted = fit(LONG, "figures", [], overhead_chars=700, window_tokens=2048,
                 max_log_chars=8000)
    assert fitted.log.startswith(HEAD) and fitted.log.endswith(TAIL)
    assert "characters cut]" in fitted.log
    assert fitted.report["log_chars_cut"] > 0
    assert fitted.report["estimated_tokens"] <= 2048 - ANSWER_TOKENS
    assert len(fitted.log) + len(fitted.context) + 700 <= (2048 - ANSWER_TOKENS) * CHARS_PER_TOKEN


def test_the_context_goes_before_the_log_is_cut_below_its_floor():
    lines = [f"INFO step {i} " + "x" * 250 for i in range(5)]
    roomy = fit("ERROR boom", "figures", lines, 700, 2048, 8000)
    assert "INFO step 4" in roomy.context and roomy.report["context_lines"] == 5
    tight = fit(LONG, "figures", lines, 700, 900, 8000)
    assert tight.context == "" and tight.report["context_dropped"] is True
    assert tight.log.startswith(HEAD)


def test_no_window_cuts_only_at_the_prompts_own_cap():
    fitted = fit(LONG, "figures", [], 700, None, 8000)
    assert len(fitted.log) <= 8000 and fitted.report["context_window"] is None


async def test_a_job_form_prompt_carries_the_lines_before_and_the_templates_figures():
    rows = {3: LogEntry(3, "INFO reserving stock for order 42", "payments", "prod", "INFO"),
            4: LogEntry(4, "WARN retry with password=hunter2", "payments", "prod", "WARN"),
            5: LogEntry(5, "ERROR payment failed", "payments", "prod", "ERROR")}
    setup = Setup(rows=rows)
    result = await setup.serve(BY_ID)
    user = setup.model.prompts[0].user
    assert "INFO reserving stock for order 42" in user and "hunter2" not in user
    assert "template is new" in user
    assert result["result"]["prompt"]["context_lines"] == 2
    assert result["result"]["prompt"]["estimated_tokens"] > 0


async def test_context_never_changes_the_cache_key_and_a_hit_reports_no_prompt():
    setup = Setup()
    first = await setup.serve(INLINE)
    again = await setup.serve({**INLINE, "request_id": "req-7"})
    assert again["result"]["cache_hit"] is True and len(setup.model.prompts) == 1
    assert "prompt" in first["result"] and "prompt" not in again["result"]


async def test_an_unreadable_context_fails_nothing():
    setup = Setup(rows={5: LogEntry(5, "ERROR payment failed", "payments", "prod", "ERROR")})

    async def broken(log_id, limit):
        raise OSError("database gone")
    setup.logs.preceding = broken
    result = await setup.serve(BY_ID)
    assert result["status"] == "SUCCEEDED" and result["result"]["prompt"]["context_lines"] == 0


async def test_an_inline_requests_context_reaches_the_prompt_redacted():
    setup = Setup()
    result = await setup.serve({**INLINE, "context": ["INFO pool size 10", "WARN login as "
                                                      "bob@example.com retried"]})
    user = setup.model.prompts[0].user
    assert "INFO pool size 10" in user and "bob@example.com" not in user
    assert result["result"]["prompt"]["context_lines"] == 2
