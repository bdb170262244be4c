"""Operating it over real HTTP: /jobs/{job_id}, /dlq and POST /dlq/redrive, on a worker on the
real broker with PostgreSQL; and /jobs, /dlq from either of two workers on 4 partitions."""
from __future__ import annotations

import json
import uuid

from tests.requests_corpus import LOG_ENTRIES_DDL, inline_request, job_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import free_port, sql, wait_for

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def _json(answer):
    status, body = answer
    return status, json.loads(body) if body else None


def _add_log(dsn, log_id, line="ERROR payment 42 failed: connection refused"):
    sql(dsn, "INSERT INTO log_entries (id, event_id, timestamp, source, service_name, "
             "severity, log_content, log_hash) VALUES (%s, %s, now(), 'app', 'payments', "
             "'ERROR', %s, 'x')", (log_id, str(uuid.uuid4()), line))


def _waiting(worker, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, body = _json(worker.get(f"/dlq?{query}" if query else "/dlq"))
    assert status == 200, body
    return body


async def _results(env, count, what):
    return await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                            lambda rs: len(rs) >= count, 90, what)


def _statuses(records, job_id):
    return [r["value"]["status"] for r in records if r["value"]["job_id"] == job_id]


def _audit(dsn):
    return sql(dsn, "SELECT actor, reason, job_id, error_code, attempt, outcome "
                    "FROM bifrost_redrive_audit ORDER BY id")


async def test_jobs_dlq_and_redrive(pipeline_env, worker_factory):
    env = pipeline_env
    dsn = env["BIFROST_DATABASE_URL"]
    sql(dsn, LOG_ENTRIES_DDL)
    worker = worker_factory(BIFROST_ADMIN_TOKEN=TOKEN, BIFROST_REDRIVE_MAX_ATTEMPTS="1",
                            BIFROST_LOG_FETCH_ATTEMPTS="1").start().wait_ready()
    fixed, missing = job_request(900001), job_request(900002)
    inline = inline_request("ERROR disk /var is full", "storage")
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages([fixed, missing, inline]))
    await _results(env, 3, "three results")

    # /jobs/{job_id}: the job form through its idempotency key, the inline form directly.
    status, job = _json(worker.get(f"/jobs/{fixed['job_id']}"))
    assert status == 200, job
    assert job["state"] == "DONE" and job["status"] == "FAILED"
    assert job["idempotency_key"] == fixed["idempotency_key"]
    assert job["result"]["error_code"] == "LOG_NOT_FOUND"
    status, job = _json(worker.get(f"/jobs/{inline['request_id']}"))
    assert status == 200 and job["status"] == "SUCCEEDED" and job["result"]["summary"]
    status, body = _json(worker.get(f"/jobs/{uuid.uuid4()}"))
    assert status == 404 and "no job" in body["error"]

    # /jobs/{job_id}/prompt: the redacted prompt as sent and the answer, admin token only.
    path = f"/jobs/{inline['request_id']}/prompt"
    status, sent = _json(worker.request(path, headers=ADMIN))
    assert status == 200, sent
    assert "ERROR disk /var is full" in sent["user"] and sent["system"]
    assert sent["answer"]["summary"] == job["result"]["summary"]
    assert sent["budget"]["estimated_tokens"] > 0
    assert json.loads(sent["raw_answer"])["summary"] == sent["answer"]["summary"]
    assert worker.get(path)[0] == 401
    assert worker.request(path, headers={"Authorization": "Bearer wrong"})[0] == 401
    status, body = _json(worker.request(f"/jobs/{fixed['job_id']}/prompt", headers=ADMIN))
    assert status == 404 and "no model call" in body["error"]  # it failed before the model

    # /dlq lists both failures; bad parameters are refused.
    listing = _waiting(worker)
    assert listing["total"] == 2 and listing["waiting"] == 2
    assert {i["job_id"] for i in listing["items"]} == {fixed["job_id"], missing["job_id"]}
    assert all(i["error_code"] == "LOG_NOT_FOUND" and i["failures"] == 1
               and i["redrives"] == 0 and i["first_seen"] <= i["last_seen"]
               for i in listing["items"])
    assert _waiting(worker, error_code="INVALID_JSON")["total"] == 0
    status = worker.status()
    assert status["dlq"] == {"waiting_here": 2}
    assert status["alerts"]["slack"] is False and status["ingestion"]["kinesis_stream"] is None
    for query in ("limit=0", "limit=x", "error_code=lower-case"):
        status, body = _json(worker.get(f"/dlq?{query}"))
        assert status == 400 and body["error"], query

    # No token, a wrong token: 401, nothing re-published, no audit row.
    redrive = {"job_id": fixed["job_id"], "actor": "alice", "reason": "log row restored"}
    assert worker.post("/dlq/redrive", redrive)[0] == 401
    assert worker.post("/dlq/redrive", redrive, token="wrong-token-wrong-token")[0] == 401
    for bad in ({"actor": "alice", "reason": "r"},  # no selector
                {"job_id": fixed["job_id"], "reason": "r"},  # no actor
                {"job_id": fixed["job_id"], "job_ids": [], "actor": "a", "reason": "r"}):
        status, body = _json(worker.post("/dlq/redrive", bad, token=TOKEN))
        assert status == 400 and body["error"], bad
    requests = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                                lambda rs: len(rs) >= 3, 10, "the requests")
    assert len(requests) == 3
    assert _audit(dsn) == []

    # The log row arrives late; a redrive now ends SUCCEEDED and leaves the DLQ.
    _add_log(dsn, 900001)
    status, body = _json(worker.post("/dlq/redrive", redrive, token=TOKEN))
    assert status == 200, body
    assert [r["job_id"] for r in body["redriven"]] == [fixed["job_id"]]
    records = await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                               lambda rs: "SUCCEEDED" in _statuses(rs, fixed["job_id"]), 90,
                               "the redriven job's result")
    assert _statuses(records, fixed["job_id"]) == ["FAILED", "SUCCEEDED"]
    wait_for(lambda: _waiting(worker)["total"] == 1, 30, "the served job to leave the DLQ")
    status, job = _json(worker.get(f"/jobs/{fixed['job_id']}"))
    assert job["status"] == "SUCCEEDED"

    # The other one still has no log row: it fails again, and past the maximum (1) it is
    # refused.
    status, body = _json(worker.post(
        "/dlq/redrive", {"error_code": "LOG_NOT_FOUND", "actor": "bob", "reason": "retry all"},
        token=TOKEN))
    assert status == 200 and [r["job_id"] for r in body["redriven"]] == [missing["job_id"]]
    wait_for(lambda: _waiting(worker)["items"][0]["failures"] == 2, 60,
             "the second failure to be recorded")
    entry = _waiting(worker)["items"][0]
    assert entry["redrives"] == 1 and entry["state"] == "WAITING"
    status, body = _json(worker.post(
        "/dlq/redrive", {"job_ids": [missing["job_id"], "no-such-job"], "actor": "bob",
                         "reason": "once more"}, token=TOKEN))
    assert status == 200 and body["redriven"] == []
    assert [(r["job_id"], r["reason"]) for r in body["refused"]] == [
        (missing["job_id"], "max_attempts")]
    assert body["not_found"] == ["no-such-job"]

    assert _audit(dsn) == [
        ("alice", "log row restored", fixed["job_id"], "LOG_NOT_FOUND", 1, "redriven"),
        ("bob", "retry all", missing["job_id"], "LOG_NOT_FOUND", 1, "redriven"),
        ("bob", "once more", missing["job_id"], "LOG_NOT_FOUND", 2, "max_attempts"),
    ]


async def test_redrives_are_rate_limited(pipeline_env, worker_factory):
    env = pipeline_env
    dsn = env["BIFROST_DATABASE_URL"]
    sql(dsn, LOG_ENTRIES_DDL)
    worker = worker_factory(BIFROST_ADMIN_TOKEN=TOKEN, BIFROST_REDRIVE_PER_MINUTE="1",
                            BIFROST_LOG_FETCH_ATTEMPTS="1").start().wait_ready()
    jobs = [job_request(910000 + i) for i in range(2)]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(jobs))
    await _results(env, 2, "two results")
    wait_for(lambda: _waiting(worker)["total"] == 2, 30, "two dead letters")
    ids = [job["job_id"] for job in jobs]
    status, body = _json(worker.post("/dlq/redrive", {"job_ids": ids, "actor": "carol",
                                                      "reason": "bulk"}, token=TOKEN))
    assert status == 200 and len(body["redriven"]) == 1
    assert [r["reason"] for r in body["refused"]] == ["rate_limited"]
    limited = body["refused"][0]["job_id"]
    status, body = _json(worker.post("/dlq/redrive", {"job_id": limited, "actor": "carol",
                                                      "reason": "again"}, token=TOKEN))
    assert status == 429 and body["redriven"] == []
    outcomes = [row[5] for row in _audit(dsn)]
    assert sorted(outcomes) == ["rate_limited", "rate_limited", "redriven"]


async def test_two_workers_answer_for_each_other(pipeline_env, worker_factory, tmp_path):
    env = {**pipeline_env, "BIFROST_PARTITIONS": "4"}
    dsn = env["BIFROST_DATABASE_URL"]
    sql(dsn, LOG_ENTRIES_DDL)
    ports = [env["BIFROST_WEB_PORT"], str(free_port())]
    workers = [worker_factory(f"w{i}", BIFROST_PARTITIONS="4", BIFROST_WEB_PORT=port,
                              BIFROST_DATA_DIR=str(tmp_path / f"data-{i}"),
                              BIFROST_ADMIN_TOKEN=TOKEN, BIFROST_LOG_FETCH_ATTEMPTS="1")
               for i, port in enumerate(ports)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_ready(180)

    def split():
        owned = [len([a for a in w.status()["consumer"]["assignment"]
                      if a.startswith(env["BIFROST_REQUEST_TOPIC"] + "/")]) for w in workers]
        return owned == [2, 2]
    wait_for(split, 120, "the two workers to share the 4 partitions")

    missing = [job_request(920000 + i) for i in range(6)]
    inline = [inline_request(f"ERROR cache node {i} unreachable", "edge") for i in range(6)]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(missing + inline))
    await _results(env, 12, "twelve results")
    for request in missing + inline:
        job_id = request.get("job_id") or request["request_id"]
        answers = [_json(w.get(f"/jobs/{job_id}")) for w in workers]
        assert answers[0] == answers[1], job_id
        status, job = answers[0]
        assert status == 200 and job["state"] == "DONE", (job_id, job)
        assert job["status"] == ("FAILED" if request in missing else "SUCCEEDED")
    assert all(_json(w.get(f"/jobs/{uuid.uuid4()}"))[0] == 404 for w in workers)

    listings = [_waiting(w) for w in workers]
    assert [lst["total"] for lst in listings] == [6, 6]
    assert {i["job_id"] for i in listings[0]["items"]} == {j["job_id"] for j in missing}
    assert listings[0]["unanswered_workers"] == []

    # A redrive asked of one worker acts on dead letters held by both.
    for request in missing:
        _add_log(dsn, request["log_id"])
    status, body = _json(workers[0].post(
        "/dlq/redrive", {"error_code": "LOG_NOT_FOUND", "actor": "dave", "reason": "restored"},
        token=TOKEN))
    assert status == 200 and len(body["redriven"]) == 6, body
    wait_for(lambda: _waiting(workers[1])["total"] == 0, 90, "every redriven job to be served")
    for request in missing:
        assert _json(workers[1].get(f"/jobs/{request['job_id']}"))[1]["status"] == "SUCCEEDED"
    assert {row[4] for row in _audit(dsn)} == {1} and len(_audit(dsn)) == 6

    # Each worker answers for a prompt the other holds; only jobs that called the model
    # have one (the others were served from the cache).
    answers = [[_json(w.request(f"/jobs/{r['job_id']}/prompt", headers=ADMIN))
                for r in missing] for w in workers]
    assert answers[0] == answers[1]
    sent = [body for status, body in answers[0] if status == 200]
    assert sent and all("ERROR payment 42 failed" in body["user"] for body in sent)
    assert {status for status, _ in answers[0]} <= {200, 404}
