"""The pipeline end to end on the real Apache Kafka broker and PostgreSQL."""
from __future__ import annotations

import json
import random
from collections import Counter, defaultdict


from bifrost_streams import codes
from tests.contract import check_dlq, check_result
from tests.requests_corpus import (inline_request, insert_log_entries, job_request, log_line,
                                   malformed_requests)
from tests.support.kafka_io import as_messages, produce, read_all, read_topic, wait_drained
from tests.support.services import sql, wait_for


def _jobs_topic(env):
    return f"{env['BIFROST_APP_ID']}-{env['BIFROST_REQUEST_TOPIC']}-by-key"


def _by_job(records):
    grouped = defaultdict(list)
    for record in records:
        grouped[record["value"]["job_id"]].append(record["value"])
    return grouped


def _db_rows(dsn):
    return sql(dsn, "SELECT job_id, status, error_code FROM bifrost_analyses")


async def test_two_hundred_requests_redeliveries_and_malformed(pipeline_env, worker_factory,
                                                               fake_ollama):
    env = pipeline_env
    bootstrap, dsn = env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_DATABASE_URL"]
    rng = random.Random(2026)
    log_ids = insert_log_entries(dsn, [(f"svc-{i % 4}", log_line(rng, i % 8)) for i in range(95)])
    missing = [job_request(10**12 + i) for i in range(5)]
    distinct = ([job_request(i) for i in log_ids] + missing
                + [inline_request(log_line(rng, i % 8), f"svc-{i % 4}") for i in range(100)])
    rng.shuffle(distinct)
    redelivered = missing[:2] + rng.sample([r for r in distinct if r not in missing], 18)
    malformed = malformed_requests(int(env["BIFROST_MAX_REQUEST_BYTES"]))

    worker = worker_factory().start().wait_ready()
    messages = as_messages(distinct) + [(None, raw) for raw, _ in malformed]
    rng.shuffle(messages)
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], messages + as_messages(redelivered))
    await wait_drained(bootstrap, env["BIFROST_APP_ID"],
                       [env["BIFROST_REQUEST_TOPIC"], _jobs_topic(env)], timeout=240)

    results = await read_all(bootstrap, env["BIFROST_RESULT_TOPIC"])
    dlq = await read_all(bootstrap, env["BIFROST_DLQ_TOPIC"])
    by_job = _by_job(results)

    # Every job exactly one distinct result; duplicates are the stored result, unchanged.
    assert len(by_job) == 200
    for job_id, copies in by_job.items():
        assert all(c == copies[0] for c in copies), f"two different results for {job_id}"
    statuses = Counter((v[0]["status"], v[0]["error_code"]) for v in by_job.values())
    assert statuses == {("SUCCEEDED", None): 195, ("FAILED", codes.LOG_NOT_FOUND): 5}
    assert {r["value"]["job_id"] for r in results if r["value"]["status"] == "FAILED"} == \
        {m["job_id"] for m in missing}

    # Exactly one DLQ event per failure: 10 malformed + 5 LOG_NOT_FOUND, with the right codes.
    dlq_codes = Counter(r["value"]["error_code"] for r in dlq)
    assert dlq_codes == Counter([code for _, code in malformed] + [codes.LOG_NOT_FOUND] * 5)
    for record in dlq:
        assert record["value"]["original_topic"] == env["BIFROST_REQUEST_TOPIC"]
        if record["value"]["error_code"] == codes.LOG_NOT_FOUND:
            assert record["value"]["payload"]["job_id"] == record["value"]["job_id"]
            assert record["key"] == record["value"]["job_id"]

    # The model saw every distinct analysis once.
    prompts = fake_ollama.prompt_counts()
    assert prompts and max(prompts.values()) == 1
    succeeded = [v[0] for v in by_job.values() if v[0]["status"] == "SUCCEEDED"]
    assert sum(1 for r in succeeded if not r["result"]["cache_hit"]) == len(prompts)
    # One model call per distinct log template, whichever partition its jobs landed on.
    assert len(fake_ollama.chats()) == len({r["result"]["template_id"] for r in succeeded})
    assert any(r["result"]["cache_hit"] for r in succeeded), "variants should hit the cache"

    # Contract: exact fields, types and timestamp formats, keyed by job_id.
    for record in results:
        check_result(record["value"])
        assert record["key"] == record["value"]["job_id"]
        assert "__faust" not in record["raw"].decode()
    for record in dlq:
        check_dlq(record["value"])

    # Our own Postgres table has every analysis (the persist agent writes asynchronously).
    rows = wait_for(lambda: (r := _db_rows(dsn)) and len(r) >= 200 and r, 60, "200 rows")
    assert len(rows) == 200
    assert Counter(status for _, status, _ in rows) == {"SUCCEEDED": 195, "FAILED": 5}

    code, body = worker.get("/metrics")
    assert code == 200 and b"bifrost_dlq_events_total" in body
    assert b'bifrost_results_total{status="FAILED"}' in body


async def test_restart_mid_stream_loses_nothing_and_keeps_finished_jobs(
        pipeline_env, worker_factory, fake_ollama, tmp_path):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    # Distinct templates (words differ; digits would be masked), so only the jobs table, not
    # the cache, can spare the model a second call.
    first = [inline_request(f"ERROR unique failure {i} in module-{chr(97 + i // 26)}"
                            f"{chr(97 + i % 26)}", "svc") for i in range(120)]
    fake_ollama.latency = 0.05
    worker = worker_factory("first").start().wait_ready()
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(first))
    before = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"],
                              lambda records: len(records) >= 40, 120, "40 results")
    worker.kill()
    finished = {r["value"]["job_id"]: r["value"] for r in before}

    # A fresh data directory: the tables must come back from their changelogs alone.
    second = worker_factory("second", BIFROST_DATA_DIR=str(tmp_path / "data-2")).start()
    second.wait_ready(180)
    later = [inline_request(f"ERROR another failure {i}", "svc") for i in range(30)]
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages(first + later))
    await wait_drained(bootstrap, env["BIFROST_APP_ID"],
                       [env["BIFROST_REQUEST_TOPIC"], _jobs_topic(env)], timeout=240)

    by_job = _by_job(await read_all(bootstrap, env["BIFROST_RESULT_TOPIC"]))
    assert set(by_job) == {r["request_id"] for r in first + later}
    for job_id, copies in by_job.items():
        assert all(c == copies[0] for c in copies), f"two different results for {job_id}"
        assert copies[0]["status"] == "SUCCEEDED"
    for job_id, result in finished.items():
        assert by_job[job_id][0] == result
    calls = fake_ollama.log_counts()
    texts = {r["request_id"]: r["log_content"] for r in first}
    for job_id in finished:
        reached = sum(n for log, n in calls.items() if f"\n{texts[job_id]}\n" in f"\n{log}\n")
        assert reached == 1, f"finished job {job_id} reached the model {reached} times"
    assert json.loads(second.get("/status")[1])["tables"]["jobs"] >= 150
