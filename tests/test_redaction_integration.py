"""Secrets in log lines never reach the model or our logs: asserted on what the model server
received and on the worker's log."""
from __future__ import annotations

import json
from collections import Counter

from tests.requests_corpus import inline_request
from tests.secrets_corpus import secrets
from tests.support.kafka_io import as_messages, produce, read_topic


async def test_no_secret_reaches_the_model_server(pipeline_env, worker_factory, fake_ollama):
    env = pipeline_env
    corpus = secrets()
    assert len(corpus) >= 200
    requests = [inline_request(line, "payments") for _, _, line in corpus]
    worker = worker_factory().start().wait_ready()
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(requests))
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len({r["value"]["job_id"] for r in rs}) >= len(corpus),
                               180, "a result for every request")
    received = json.dumps([r["body"] for r in fake_ollama.requests])
    leaked = [(kind, secret) for kind, secret, _ in corpus if secret in received]
    assert not leaked, leaked[:5]
    assert fake_ollama.chats(), "the model was asked"
    redacted = Counter()
    for record in records:
        assert record["value"]["status"] == "SUCCEEDED"
        redacted.update(record["value"]["result"]["redactions"])
    assert sum(redacted.values()) >= len(corpus)
    log = worker.log_path.read_text(errors="replace")
    assert not [secret for _, secret, _ in corpus if secret in log], "a secret reached a log line"
