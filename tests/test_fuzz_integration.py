"""Fuzzing a running worker: a few hundred malformed analysis.request messages (random bytes,
invalid UTF-8, JSON that is not an object, wrong types, deep nesting, over-long strings, two
10 MB payloads, a null value) on the real broker. Every one lands in the DLQ exactly once with
a reason, none gets a result, and the worker keeps serving. Every DLQ event and result is
checked as Heimdall's Jackson reads it (tests/contract.py), message key included."""
from __future__ import annotations

import json
import random
from collections import Counter

from bifrost_streams.validation import InvalidRequest, parse_request
from tests.contract import check_dlq_message, check_result_message
from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic

MAX_BYTES = 1024 * 1024
WRONG = {"schema_version": [2, "1", None, 1.5], "job_id": [5, None, "", ["x"], "x" * 300],
         "request_id": [7, {}, ""], "idempotency_key": [3, "k" * 201, []],
         "log_id": ["five", -1, 2**64, 1.5, True], "trace_id": [1, None, []],
         "correlation_id": [2, {}], "log_content": [5, [], {"a": 1}],
         "timeout_ms": [-5, "10", 2**70], "model_policy": ["cloud", 3, [1]],
         "priority": [5, ["ERROR"]], "timestamp": [5, "yesterday"]}


def _wrong_types(rng: random.Random) -> bytes:
    document = inline_request("ERROR fuzz", "fuzz") if rng.random() < 0.5 else {
        "schema_version": 1, "job_id": "j", "idempotency_key": "k", "log_id": 1,
        "trace_id": "t"}
    for name in rng.sample(sorted(WRONG), rng.randint(1, 3)):
        document[name] = rng.choice(WRONG[name])
    return json.dumps(document).encode()


def _payloads(seed: int = 7):
    rng = random.Random(seed)
    out = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000))) for _ in range(40)]
    out += [b'{"request_id": "r", "log_content": "' + bytes([rng.randint(0x80, 0xff)]) * 3
            + b'"}' for _ in range(20)]
    out += [json.dumps(v).encode() for v in ([1, 2], 3, "text", None, True, [], 2.5)] * 3
    out += [_wrong_types(rng) for _ in range(80)]
    # Job ids Jackson cannot read as a UUID, in requests bad for another reason.
    out += [json.dumps({"job_id": job_id, "idempotency_key": "k", "log_id": "five",
                        "trace_id": "t"}).encode()
            for job_id in ("x|<!here>", "{3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11}")]
    # Half a character (an unpaired surrogate) in an id: no Kafka key, no table key.
    out += [b'{"request_id": "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11", "log_content": "x", '
            b'"idempotency_key": "k\\ud800"}']
    out += [("[" * d + "]" * d).encode() for d in (500, 999, 1000, 1001, 3000)]
    out += [('{"request_id": "r", "x": ' + "[" * d + "]" * d + "}").encode()
            for d in (100, 990, 5000)]
    out += [json.dumps({"request_id": "r", "correlation_id": "c",
                        "log_content": "E" * (MAX_BYTES + rng.randint(1, 500000))}).encode()
            for _ in range(3)]
    out += [json.dumps({"request_id": "big", "log_content": "E" * (10 * 1024 * 1024)}).encode(),
            b"\x00" * (10 * 1024 * 1024), b"", None]
    return out


def _expected_code(raw):
    try:
        parse_request(raw, max_bytes=MAX_BYTES)
    except InvalidRequest as error:
        return error.code
    return None


async def test_malformed_requests_all_reach_the_dlq_and_the_worker_keeps_serving(
        pipeline_env, worker_factory):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    worker = worker_factory(BIFROST_MAX_REQUEST_BYTES=str(MAX_BYTES),
                            BIFROST_LOG_LEVEL="info").start().wait_ready()
    bad = [raw for raw in _payloads() if _expected_code(raw) is not None]
    assert len(bad) >= 170, "the fuzz corpus must stay large"
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"],
                  [(str(i).encode(), raw) for i, raw in enumerate(bad)])
    dlq = await read_topic(bootstrap, env["BIFROST_DLQ_TOPIC"],
                           lambda records: len(records) >= len(bad), 180,
                           f"{len(bad)} DLQ events")

    events = [check_dlq_message(record["key"], record["raw"]) for record in dlq]
    assert len(events) == len(bad)
    # A job id that is no UUID is null in the event, and kept in its payload.
    odd = [e for e in events if isinstance(e["payload"].get("job_id"), str)
           and e["payload"]["job_id"].startswith(("x|", "{"))]
    assert odd and all(e["job_id"] is None for e in odd)
    assert len({(e["original_partition"], e["original_offset"]) for e in events}) == len(bad)
    assert Counter(e["error_code"] for e in events) == Counter(map(_expected_code, bad))
    assert all(e["error_message"] and isinstance(e["payload"], dict) for e in events)
    # An oversized message is not copied: its event holds an excerpt of at most 64 KiB.
    assert max(len(record["raw"]) for record in dlq) < 80 * 1024

    # Still serving: a valid request afterwards gets its result, and nothing else got one.
    good = inline_request("ERROR after the fuzz: connection reset", "fuzz")
    await produce(bootstrap, env["BIFROST_REQUEST_TOPIC"], as_messages([good]))
    results = await read_topic(bootstrap, env["BIFROST_RESULT_TOPIC"],
                               lambda records: len(records) >= 1, 60, "the valid request")
    assert [check_result_message(r["key"], r["raw"])["job_id"] for r in results] == [
        good["request_id"]]
    assert results[0]["value"]["status"] == "SUCCEEDED"
    assert worker.process.poll() is None and worker.get("/health")[0] == 200
    # The event loop's lag is watched from the start (bifrost_streams/loop_watch.py).
    status, metrics = worker.get("/metrics")
    assert status == 200 and b"\nbifrost_event_loop_lag_seconds " in metrics
    assert b"bifrost_event_loop_lag_distribution_seconds_count" in metrics
    assert "Traceback" not in worker.log_path.read_text(errors="replace")
