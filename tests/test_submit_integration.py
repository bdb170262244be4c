"""bifrost-submit --wait against a real worker: a directory in, one result per error entry."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.kafka_io import read_all
from tests.support.services import REPO

pytestmark = pytest.mark.integration

APP_LOG = """2026-01-31 10:00:00.001 INFO  [order-service] Order 1 created
2026-01-31 10:00:00.123 ERROR [order-service] Request failed
java.lang.NullPointerException: Cannot invoke "Order.getItems()" because "order" is null
\tat com.shop.order.OrderService.total(OrderService.java:42)
\tat com.shop.order.OrderController.create(OrderController.java:17)
Caused by: java.lang.IllegalStateException: cart empty
\tat com.shop.cart.Cart.items(Cart.java:9)
\t... 12 more
2026-01-31 10:00:01.000 WARN  [order-service] Slow query detected: 1200ms on table orders
2026-01-31 10:00:02.000 DEBUG [order-service] cache miss
"""
WORKER_LOG = """2026-01-31 10:00:03,456 ERROR [billing] Unhandled exception
Traceback (most recent call last):
  File "/app/billing.py", line 10, in charge
    total = amount / count
ZeroDivisionError: division by zero
2026-01-31 10:00:04,000 INFO [billing] retry scheduled
"""


def _submit(env, *args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "bifrost_streams.ingestion.submit", *args],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=timeout)


async def test_submit_a_directory_and_wait_for_its_results(pipeline_env, worker_factory,
                                                           fake_ollama, tmp_path):
    env = pipeline_env
    logs = tmp_path / "logs"
    (logs / "billing").mkdir(parents=True)
    (logs / "app.log").write_text(APP_LOG)
    (logs / "billing" / "worker.log").write_text(WORKER_LOG)
    worker_factory().start().wait_ready()

    done = _submit(env, str(logs), "--wait", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    assert "3 entries to analyse, 3 below the kept levels" in done.stderr
    assert "3 results (0 FAILED), 0 missing" in done.stderr
    for where in (f"{logs}/app.log:2", f"{logs}/app.log:9", f"{logs}/billing/worker.log:1"):
        assert where in done.stdout, done.stdout

    requests = {r["value"]["request_id"]: r["value"]
                for r in await read_all(env["KAFKA_BOOTSTRAP_SERVERS"],
                                        env["BIFROST_REQUEST_TOPIC"])}
    assert len(requests) == 3
    by_origin_line = {r["origin"].split(":")[2]: r for r in requests.values()}
    java = by_origin_line["2"]["log_content"]
    assert java.startswith("2026-01-31 10:00:00.123 ERROR") and java.endswith("\t... 12 more")
    assert java.count("\n") == 6  # the header and every trace line, in one request
    assert by_origin_line["1"]["log_content"].endswith("ZeroDivisionError: division by zero")
    assert by_origin_line["1"]["service_name"] == "billing"
    calls = sum(fake_ollama.prompt_counts().values())
    assert calls >= 1

    # The same files again: the same jobs, answered from the jobs table, no new model call.
    again = _submit(env, str(logs), "--wait", "--timeout", "120", "--json")
    assert again.returncode == 0, again.stderr
    assert "3 results (0 FAILED), 0 missing" in again.stderr
    assert sum(fake_ollama.prompt_counts().values()) == calls
    assert {line.split('"job_id": "')[1][:36] for line in again.stdout.splitlines()} == \
        set(requests)


async def test_submit_without_a_worker(pipeline_env, tmp_path):
    env = pipeline_env
    (tmp_path / "a.log").write_text("ERROR nobody answers\n")
    done = _submit(env, str(tmp_path), "--wait", "--timeout", "3", timeout=120)
    assert done.returncode == 2
    assert f"topic {env['BIFROST_REQUEST_TOPIC']} does not exist" in done.stderr

    # The topics exist but no worker answers: --wait gives up at its timeout.
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(env["BIFROST_REQUEST_TOPIC"], 3, 1),
                                   NewTopic(env["BIFROST_RESULT_TOPIC"], 3, 1)])
    finally:
        await admin.close()
    done = _submit(env, str(tmp_path), "--wait", "--timeout", "3", timeout=120)
    assert done.returncode == 1
    assert "0 results (0 FAILED), 1 missing" in done.stderr
    assert f"no result for {tmp_path}/a.log:1" in done.stderr


async def test_every_kind_of_loggen_entry_gets_a_family_without_a_model(pipeline_env,
                                                                         worker_factory,
                                                                         tmp_path):
    """A fresh machine: no Ollama answers, so the rules do, and each WARN/ERROR kind that
    bifrost-loggen writes comes back with a failure family."""
    import json
    from bifrost_streams.ingestion import loggen
    path = tmp_path / "demo.log"
    with path.open("w") as out:
        loggen.run(out, rate=0, count=400, fmt="text", seed=7)
    worker_factory(BIFROST_OLLAMA_URL="http://127.0.0.1:9").start().wait_ready()
    done = _submit(pipeline_env, str(path), "--wait", "--json", "--timeout", "150")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) >= 60
    families = {r["result"]["template"]: r["result"]["category"] for r in results}
    unknown = sorted(template for template, family in families.items() if family == "unknown")
    assert not unknown, unknown
    assert all(r["status"] == "SUCCEEDED" for r in results)
    # Every kind of WARN and ERROR message and each stack trace was among them.
    kinds = len(loggen.MESSAGES["WARN"]) + len(loggen.MESSAGES["ERROR"])
    assert len({r["result"]["template"].split("\n")[0] for r in results}) >= kinds
