"""The one-command start: no KAFKA_BOOTSTRAP_SERVERS and no database, only Python."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bifrost_streams.kafka.embedded import EMBEDDED_PORT
from tests.contract import check_result
from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import Worker, free_port


@pytest.fixture
def embedded_worker(tmp_path, fake_ollama):
    data_dir = tmp_path / "data"
    env = {"KAFKA_BOOTSTRAP_SERVERS": None, "BIFROST_DATABASE_URL": None,
           "HEIMDALL_DATABASE_URL": None, "BIFROST_TABLE_STORE": None,
           "BIFROST_DATA_DIR": str(data_dir), "BIFROST_WEB_PORT": str(free_port()),
           "BIFROST_WEB_HOST": "127.0.0.1", "BIFROST_OLLAMA_URL": fake_ollama.url,
           "BIFROST_OLLAMA_MODEL": fake_ollama.model, "BIFROST_LOG_LEVEL": "info"}
    worker = Worker(env, tmp_path, "embedded")
    yield worker
    worker.stop()
    noida = Path(sys.executable).with_name("noida-db")
    subprocess.run([str(noida), "down", "--data-dir", str((data_dir / "noida-db").resolve())],
                   capture_output=True, timeout=60)


async def test_worker_starts_with_the_embedded_broker_and_answers(embedded_worker):
    embedded_worker.start().wait_ready(180)
    status = embedded_worker.status()
    assert status["kafka"]["embedded"] is True
    assert status["persistence"]["enabled"] is False
    log = embedded_worker.log_path.read_text()
    assert log.count('"event": "persistence_off"') == 1

    bootstrap = f"127.0.0.1:{EMBEDDED_PORT}"
    request = inline_request("ERROR payment timed out after 3000ms", "checkout")
    await produce(bootstrap, "analysis.request", as_messages([request]))
    records = await read_topic(
        bootstrap, "analysis.result",
        lambda rs: any(r["value"]["job_id"] == request["request_id"] for r in rs), 120,
        "the result")
    result = next(r["value"] for r in records if r["value"]["job_id"] == request["request_id"])
    check_result(result)
    assert result["status"] == "SUCCEEDED" and result["trace_id"] == request["correlation_id"]
    assert json.loads(json.dumps(result))["result"]["form"] == "inline"
