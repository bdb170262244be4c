"""Log entries -> inline requests: stable ids, the contract's shape, the size limit."""
import json

from bifrost_streams.ingestion import ingest_requests
from bifrost_streams.ingestion.ingest_requests import (envelope, from_message, inline_request,
                                                       open_envelope, request_id)
from bifrost_streams.ingestion.logparse import LogEntry
from bifrost_streams.validation import parse_request

LEVELS = frozenset({"ERROR", "WARN", "FATAL"})


def test_ids_are_stable_and_distinct():
    assert request_id("kinesis:s/shard-0/42/0") == request_id("kinesis:s/shard-0/42/0")
    ids = {request_id(f"kinesis:s/shard-{s}/{n}/{i}", e)
           for s in range(2) for n in range(50) for i in range(2) for e in range(2)}
    assert len(ids) == 400


def test_an_inline_request_passes_intake_validation():
    entry = LogEntry(text="ERROR [svc] boom", level="ERROR", service="svc",
                     timestamp="2026-01-31T10:00:00Z", environment="prod", trace_id="t-1")
    job_id = request_id("origin")
    request = inline_request(entry, job_id, "analysis.result", 65536, "origin")
    parsed = parse_request(json.dumps(request).encode(), max_bytes=65536)
    assert parsed.form == "inline"
    assert parsed.job_id == job_id and parsed.idempotency_key == job_id
    assert parsed.trace_id == "t-1" and parsed.priority == "ERROR"
    assert parsed.log_content == "ERROR [svc] boom" and parsed.service_name == "svc"
    assert parsed.timestamp == "2026-01-31T10:00:00Z" and parsed.environment == "prod"


def test_the_trace_id_defaults_to_the_job_id_and_time_to_arrival():
    entry = LogEntry(text="WARN x", level="WARN")
    request = inline_request(entry, "job", "r", 65536, "o", received="2026-02-01T00:00:00Z")
    assert request["correlation_id"] == "job"
    assert request["timestamp"] == "2026-02-01T00:00:00Z"


def test_oversized_entries_are_cut_to_fit_the_request_limit():
    text = "ERROR " + "\u00e9\"x\n" * 50000  # escapes make the JSON much longer than the text
    entry = LogEntry(text=text, level="ERROR")
    request = inline_request(entry, "job", "analysis.result", 65536, "origin")
    encoded = json.dumps(request).encode()
    assert len(encoded) <= 65536
    assert request["log_content"].startswith("ERROR ")
    assert "[truncated by bifrost ingestion:" in request["log_content"]
    parse_request(encoded, max_bytes=65536)  # intake accepts it


def test_envelopes_round_trip_and_foreign_json_is_not_one():
    raw = envelope("kinesis:s/0/1/0", "ERROR x", "2026-01-31T10:00:00Z")
    assert open_envelope(raw) == {"envelope": "bifrost.ingestion.v1",
                                  "origin": "kinesis:s/0/1/0", "data": "ERROR x",
                                  "arrived_at": "2026-01-31T10:00:00Z"}
    assert open_envelope(json.dumps({"log": "ERROR x", "level": "error"}).encode()) is None
    assert open_envelope(b'{"envelope": "other", "origin": "a", "data": "b"}') is None
    assert open_envelope(b'{"envelope": broken') is None


def test_a_message_keeps_only_the_wanted_levels_with_ids_from_its_origin():
    text = ("2026-01-31 10:00:00 INFO [a] ok\n2026-01-31 10:00:01 ERROR [a] boom\n"
            "\tat x.Y(Y.java:1)\n2026-01-31 10:00:02 WARN [a] slow")
    pairs, dropped = from_message(envelope("kinesis:s/shard-1/77/0", text), "kafka:t/0/5",
                                  LEVELS, "analysis.result", 65536)
    assert dropped == 1
    assert [r["priority"] for _, r in pairs] == ["ERROR", "WARN"]
    assert [job for job, _ in pairs] == [request_id("kinesis:s/shard-1/77/0", 1),
                                        request_id("kinesis:s/shard-1/77/0", 2)]
    assert pairs[0][1]["log_content"].endswith("\tat x.Y(Y.java:1)")
    # The same record forwarded again (another offset) is the same jobs.
    again, _ = from_message(envelope("kinesis:s/shard-1/77/0", text), "kafka:t/2/9",
                            LEVELS, "analysis.result", 65536)
    assert again == pairs


def test_a_foreign_message_is_named_by_its_kafka_position():
    raw = json.dumps({"log": "boom", "level": "fatal", "service": "svc"}).encode()
    pairs, dropped = from_message(raw, "kafka:logs.ingestion/2/40", LEVELS, "r", 65536)
    assert dropped == 0 and len(pairs) == 1
    job_id, request = pairs[0]
    assert job_id == request_id("kafka:logs.ingestion/2/40", 0)
    assert request["origin"] == "kafka:logs.ingestion/2/40"
    assert (request["priority"], request["service_name"]) == ("FATAL", "svc")
    assert from_message(None, "kafka:x/0/0", LEVELS, "r", 65536) == ([], 0)
    assert from_message(b"\xff\xfe ERROR bytes", "k", LEVELS, "r", 65536)[0][0][1][
        "priority"] == "ERROR"


def test_a_message_is_read_one_entry_at_a_time(monkeypatch):
    # The agent gives the event loop a turn between entries: the first request must come out
    # before the rest of a long message is parsed.
    text = "\n".join(f"2026-01-31 10:00:00 ERROR [a] failure {i}" for i in range(200_000))
    parsed = []
    original = ingest_requests.iter_payload

    def counting(payload):
        for entry in original(payload):
            parsed.append(entry)
            yield entry

    monkeypatch.setattr(ingest_requests, "iter_payload", counting)
    requests = ingest_requests.iter_requests(text.encode(), "kafka:t/0/1", LEVELS, "r", 65536)
    job_id, request = next(requests)
    assert job_id == request_id("kafka:t/0/1", 0)
    assert request["log_content"].endswith("failure 0")
    assert len(parsed) == 1


def test_dropped_entries_are_counted_as_they_come():
    text = "INFO fine\nERROR broken\nDEBUG detail"
    items = list(ingest_requests.iter_requests(text.encode(), "k", LEVELS, "r", 65536))
    assert [item is None for item in items] == [True, False, True]
    assert from_message(text.encode(), "k", LEVELS, "r", 65536)[1] == 2


def test_an_entry_carries_the_first_lines_of_the_entries_before_it():
    text = "\n".join(["2026-01-31 10:00:00 INFO [orders] order 41 accepted",
                      "2026-01-31 10:00:01 INFO [orders] reserving stock for order 42",
                      "2026-01-31 10:00:02 WARN [orders] stock service slow: 2100 ms",
                      "2026-01-31 10:00:03 ERROR [orders] order 42 failed: upstream timeout",
                      "java.net.SocketTimeoutException: Read timed out",
                      "\tat com.acme.Stock.reserve(Stock.java:42)"])
    pairs, dropped = from_message(envelope("kinesis:s/shard-0/7", text), "x", LEVELS,
                                  "analysis.result", 65536)
    assert dropped == 2 and len(pairs) == 2
    (_, warn), (_, error) = pairs
    assert warn["context"] == ["2026-01-31 10:00:00 INFO [orders] order 41 accepted",
                               "2026-01-31 10:00:01 INFO [orders] reserving stock for order 42"]
    assert error["context"][-1] == "2026-01-31 10:00:02 WARN [orders] stock service slow: 2100 ms"
    parsed = parse_request(json.dumps(error).encode(), max_bytes=65536)
    assert parsed.context == error["context"]
    assert "context" not in pairs[0][1]["log_content"]


def test_the_context_goes_first_when_a_request_would_be_too_big():
    entry = LogEntry(text="ERROR " + "x" * 600, level="ERROR", service="svc")
    context = ["INFO " + "y" * 290] * 5
    request = inline_request(entry, "job", "analysis.result", 1400, "origin", None, context)
    assert "context" not in request and request["log_content"] == entry.text
    roomy = inline_request(entry, "job", "analysis.result", 65536, "origin", None, context)
    assert roomy["context"] == context


def test_a_bad_context_is_ignored_and_a_long_one_bounded():
    base = {"request_id": "r-1", "log_content": "ERROR boom", "log_id": 1}
    for bad in ("a line", 42, {"a": 1}, [1, 2], None):
        assert parse_request(json.dumps({**base, "context": bad}).encode(),
                             max_bytes=65536).context is None
    parsed = parse_request(json.dumps({**base, "context": ["z" * 1000] * 9}).encode(),
                           max_bytes=65536)
    assert len(parsed.context) == 5 and all(len(line) == 300 for line in parsed.context)
