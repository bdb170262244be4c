"""The model goes away and comes back: the breaker opens, rules answer, nothing reaches the DLQ."""
from __future__ import annotations

import asyncio

from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_all, read_topic, wait_drained


def _results_for(records, requests):
    wanted = {r["request_id"] for r in requests}
    return [r["value"] for r in records if r["value"]["job_id"] in wanted]


async def test_model_outage_falls_back_to_rules_and_recovers(pipeline_env, worker_factory,
                                                            fake_ollama):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    worker = worker_factory(BIFROST_BREAKER_OPEN_SECONDS="3").start().wait_ready()
    fake_ollama.fail_status = 503
    # Distinct texts (letters, not numbers, which the fingerprint masks): one model call each.
    outage = [inline_request(f"ERROR upstream {chr(65 + i) * 3} refused the connection: "
                             "ECONNREFUSED", "svc") for i in range(12)]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(outage))
    records = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len(_results_for(rs, outage)) >= 12, 120, "12 results")
    during = _results_for(records, outage)
    assert all(r["status"] == "SUCCEEDED" and r["result"]["provider"] == "rules"
               and r["model_used"] == "rules-v1" and r["confidence"] <= 0.6 for r in during)
    assert worker.status()["model"]["breakers"]["ollama"] in ("open", "half_open")
    code, body = worker.get("/metrics")
    assert b'bifrost_breaker_state{provider="ollama"}' in body

    fake_ollama.fail_status = None
    after = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    # Requests keep coming; once the breaker's wait is over a trial call succeeds.
    while worker.status()["model"]["breakers"]["ollama"] != "closed":
        assert loop.time() < deadline, "the breaker did not close after the model came back"
        batch = [inline_request(f"WARN disk latency high on volume {chr(97 + len(after) % 26)}"
                                f"{chr(97 + i)}{chr(97 + len(after) // 26)}", "svc")
                 for i in range(3)]
        after.extend(batch)
        await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(batch))
        await asyncio.sleep(0.5)

    await wait_drained(bootstrap, env["BIFROST_APP_ID"], [env["BIFROST_REQUEST_TOPIC"]], 120)
    results = await read_all(bootstrap, env["BIFROST_RESULT_TOPIC"])
    assert any(r["result"]["provider"] == "ollama" for r in _results_for(results, after))
    dlq = await read_all(bootstrap, env["BIFROST_DLQ_TOPIC"])
    assert dlq == [], "a fallback could serve every request: nothing belongs in the DLQ"


async def test_an_invalid_answer_is_asked_again_then_falls_back(pipeline_env, worker_factory,
                                                               fake_ollama):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    worker = worker_factory().start().wait_ready()
    fake_ollama.invalid_answers = 1  # first answer breaks the schema, the retry is valid
    first = inline_request("ERROR payment gateway answered 502 Bad Gateway", "checkout")
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages([first]))
    records = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"], lambda rs: len(rs) >= 1,
                               60, "the first result")
    assert records[0]["value"]["result"]["provider"] == "ollama"
    retry = fake_ollama.chats()[-1]["body"]["messages"][-1]["content"]
    assert "Your previous answer was rejected" in retry

    fake_ollama.invalid_answers = 2  # invalid twice: the rules provider answers
    second = inline_request("ERROR disk full: No space left on device", "storage")
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages([second]))
    records = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"], lambda rs: len(rs) >= 2,
                               60, "the second result")
    result = next(r["value"] for r in records if r["value"]["job_id"] == second["request_id"])
    assert result["status"] == "SUCCEEDED" and result["result"]["provider"] == "rules"
    assert result["result"]["signature"] == "disk_full"
    _, body = worker.get("/metrics")
    calls = [line for line in body.decode().splitlines() if "bifrost_model_calls_total{" in line]
    assert any('outcome="invalid"' in line and line.endswith(" 3.0") for line in calls), calls
