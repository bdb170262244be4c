"""PostgreSQL at the edges: Heimdall's late rows, and our table through an outage."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.requests_corpus import LOG_ENTRIES_DDL, inline_request, job_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import Postgres, free_port, sql, wait_for


async def test_a_row_committed_after_the_request_is_still_found(pipeline_env, worker_factory):
    env = pipeline_env
    dsn = env["BIFROST_DATABASE_URL"]
    sql(dsn, LOG_ENTRIES_DDL)
    worker_factory(BIFROST_LOG_FETCH_ATTEMPTS="6").start().wait_ready()
    request = job_request(424242)
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages([request]))
    # Heimdall's transaction commits a moment after the request was published.
    await asyncio.sleep(0.5)
    sql(dsn, "INSERT INTO log_entries (id, event_id, timestamp, source, service_name, "
                  "severity, log_content, log_hash) VALUES (424242, %s, now(), 'app', 'orders', "
                  "'ERROR', 'ERROR order 17 failed: connection refused', 'x')",
             (str(uuid.uuid4()),))
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: len(rs) >= 1, 60, "the result")
    result = records[0]["value"]
    assert result["status"] == "SUCCEEDED", result
    assert result["log_id"] == 424242 and result["result"]["service_name"] == "orders"


@pytest.fixture
def own_postgres():
    directory = Path(tempfile.mkdtemp(prefix="bifrost-pg-outage-"))
    directory.chmod(0o755)
    server = Postgres(directory / "data", free_port()).start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


async def test_results_reach_postgres_after_an_outage(pipeline_env, worker_factory,
                                                     own_postgres):
    env = pipeline_env
    dsn = own_postgres.url()
    worker_factory(BIFROST_DATABASE_URL=dsn).start().wait_ready()
    count = lambda: sql(dsn, "SELECT count(*) FROM bifrost_analyses")[0][0]  # noqa: E731
    before = [inline_request(f"ERROR before outage {chr(97 + i)}", "svc") for i in range(20)]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(before))
    wait_for(lambda: count() == 20, 60, "20 rows before the outage")

    own_postgres.stop()
    during = [inline_request(f"ERROR during outage {chr(97 + i)}", "svc") for i in range(30)]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(during))
    wanted = {r["request_id"] for r in during}
    # Analyses go on without the database: every result is published to Kafka.
    await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                     lambda rs: wanted <= {r["value"]["job_id"] for r in rs}, 60,
                     "results during the outage")
    own_postgres.start()
    wait_for(lambda: count() == 50, 90, "all 50 rows after the outage", interval=0.5)
    ids = {row[0] for row in sql(dsn, "SELECT job_id FROM bifrost_analyses")}
    assert ids == wanted | {r["request_id"] for r in before}
