"""Bounded state and cost through a running worker: the model budget per service, and the
dead-letters cap, which a restart does not undo."""
from __future__ import annotations

import json

from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import wait_for


async def test_past_the_model_budget_the_rules_provider_answers(pipeline_env, worker_factory,
                                                                 fake_ollama):
    env = pipeline_env
    worker = worker_factory(BIFROST_MODEL_BUDGET_PER_MINUTE="2").start().wait_ready()
    lines = ["ERROR payment gateway refused the card", "ERROR disk full on the data volume",
             "ERROR connection refused by the ledger", "ERROR worker pool exhausted",
             "ERROR session store unreachable"]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages([inline_request(line, "checkout") for line in lines]))
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len(rs) >= 5, 90, "five results")
    results = [r["value"] for r in records]
    assert all(r["status"] == "SUCCEEDED" for r in results)
    over = [r for r in results if r["result"].get("budget_exceeded")]
    assert len(over) == 3 and {r["result"]["provider"] for r in over} == {"rules"}
    assert len(fake_ollama.chats()) == 2
    status, body = worker.get("/metrics")
    assert status == 200
    assert 'bifrost_model_budget_refused_total{outcome="rules"} 3.0' in body.decode()


async def test_dead_letters_stay_capped_across_a_restart(pipeline_env, worker_factory):
    env = pipeline_env
    worker = worker_factory(BIFROST_DLQ_MAX_ENTRIES="10").start().wait_ready()
    secret = "password=hunter2hunter2"
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  [(None, f'{{"broken {i} {secret}'.encode()) for i in range(30)])
    await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_DLQ_TOPIC"],
                     lambda rs: len(rs) >= 30, 90, "thirty DLQ events")

    def listing():
        status, body = worker.get("/dlq?limit=1000")
        assert status == 200, body
        return json.loads(body)
    wait_for(lambda: listing()["total"] > 0, 90, "dead letters to be listed")
    before = listing()
    assert 0 < before["total"] <= 10
    assert "hunter2" not in json.dumps(before)
    kept = {item["key"] for item in before["items"]}
    # Removed entries left tombstones in the changelog: a restart does not bring them back.
    worker.stop()
    worker.start().wait_ready()
    wait_for(lambda: listing()["total"] > 0, 60, "dead letters after the restart")
    after = listing()
    assert {item["key"] for item in after["items"]} == kept
