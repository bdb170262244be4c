"""PostgreSQL and hostile values, through a running worker: NUL bytes and lone surrogates are
cleaned out of what is stored, and a result PostgreSQL still refuses is parked while the rest
of its batch is stored."""
from __future__ import annotations

import json
import uuid

from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import sql, wait_for


def _result(job_id: str, **changes) -> dict:
    result = {"schema_version": 1, "job_id": job_id, "status": "SUCCEEDED", "summary": "s",
              "root_cause": "r", "recommendation": "x", "severity": "LOW", "confidence": 0.5,
              "model_used": "m", "token_usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                 "total_tokens": 2},
              "latency_ms": 3, "error_code": None, "error_message": None, "trace_id": "t",
              "log_id": 1, "timestamp": "2026-01-31T10:00:02Z", "result": {"service_name": "p"}}
    result.update(changes)
    return result


async def test_nul_bytes_are_cleaned_and_a_refused_row_is_parked_not_blocking(
        pipeline_env, worker_factory):
    env = pipeline_env
    dsn = env["BIFROST_DATABASE_URL"]
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    worker = worker_factory().start().wait_ready()

    # Through the whole pipeline: NUL in the job id, the service and the log text.
    request = inline_request("ERROR payment\x00 declined \ud800 by issuer\x00", "pay\x00ments")
    request["request_id"] = str(uuid.uuid4())[:-1] + "\x00"
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages([request]))
    (published,) = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"],
                                    lambda rs: len(rs) >= 1, 60, "the result")
    assert published["value"]["status"] == "SUCCEEDED", published["value"]["error_message"]
    stored_id = request["request_id"].replace("\x00", "")
    row = wait_for(lambda: sql(dsn, "SELECT job_id, service_name, summary, result::text "
                                    "FROM bifrost_analyses WHERE job_id = %s",
                               (stored_id,)), 60, "the cleaned row")[0]
    assert row[0] == stored_id and row[1] == "payments"
    assert row[2] and all("\x00" not in value and "\\u0000" not in value for value in row)

    # Straight onto the result topic, in one batch: good results around refused ones.
    good = [_result(str(uuid.uuid4()), summary=f"fine {i}\x00") for i in range(5)]
    overflow = _result(str(uuid.uuid4()), confidence=12.5)  # NUMERIC(3, 2) holds < 10
    bad_time = _result(str(uuid.uuid4()), timestamp="the day after tomorrow")
    no_status = _result(str(uuid.uuid4()), status=None)
    messages = [(r["job_id"].encode(), json.dumps(r).encode())
                for r in good[:2] + [overflow, bad_time] + good[2:] + [no_status]]
    messages.append((b"x", b"\xffnot json at all"))
    await produce(bootstrap, env["BIFROST_RESULT_TOPIC"], messages)

    ids = [r["job_id"] for r in good]
    wait_for(lambda: sql(dsn, "SELECT count(*) FROM bifrost_analyses WHERE job_id = ANY(%s)",
                         (ids,))[0][0] == 5, 60, "the good rows of the batch")
    parked = wait_for(lambda: (rows := sql(dsn, "SELECT job_id, error_kind, error, document "
                                                "FROM bifrost_parked_results")) and
                      len(rows) >= 4 and rows, 60, "four parked messages")
    by_job = {job_id: (kind, error, document) for job_id, kind, error, document in parked}
    assert by_job[overflow["job_id"]][0] == "refused"
    assert "DataError" in by_job[overflow["job_id"]][1] or "overflow" in by_job[
        overflow["job_id"]][1]
    assert json.loads(by_job[overflow["job_id"]][2])["confidence"] == 12.5
    assert by_job[bad_time["job_id"]][0] == "refused"
    assert by_job[no_status["job_id"]][0] == "unstorable"
    assert by_job[None][0] == "unreadable" and "\\\\xff" in by_job[None][2]
    assert sql(dsn, "SELECT count(*) FROM bifrost_analyses WHERE job_id = ANY(%s)",
               ([overflow["job_id"], bad_time["job_id"], no_status["job_id"]],))[0][0] == 0
    summaries = sql(dsn, "SELECT summary FROM bifrost_analyses WHERE job_id = ANY(%s)", (ids,))
    assert sorted(s for (s,) in summaries) == [f"fine {i}" for i in range(5)]

    # Counted, logged, and the agent goes on: a later result is stored too.
    _, metrics = worker.get("/metrics")
    assert b'bifrost_persisted_results_total{outcome="parked"} 4.0' in metrics
    assert worker.log_path.read_text(errors="replace").count("result_parked") >= 4
    later = _result(str(uuid.uuid4()))
    await produce(bootstrap, env["BIFROST_RESULT_TOPIC"],
                  [(later["job_id"].encode(), json.dumps(later).encode())])
    wait_for(lambda: sql(dsn, "SELECT 1 FROM bifrost_analyses WHERE job_id = %s",
                         (later["job_id"],)), 60, "a result after the parked ones")
    assert "Traceback" not in worker.log_path.read_text(errors="replace")
