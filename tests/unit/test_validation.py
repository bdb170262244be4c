import json

import pytest

from bifrost_streams import codes
from bifrost_streams.validation import InvalidRequest, dlq_payload, parse_request

JOB = {"schema_version": 1, "job_id": "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11",
       "idempotency_key": "manual:log:5:2b9c", "log_id": 5, "tenant_id": None,
       "priority": "ERROR", "timeout_ms": None, "model_policy": None,
       "trace_id": "c0ffee00-1111-2222-3333-444455556666", "timestamp": "2026-01-31T10:00:00Z"}
INLINE = {"request_id": "req-1", "timestamp": "2024-11-12T10:30:00Z", "log_id": 12345,
          "log_content": "ERROR: Connection timeout...", "service_name": "user-service",
          "environment": "production", "analysis_type": "error", "priority": "HIGH",
          "callback_topic": "analysis.result", "correlation_id": "correlation-uuid"}


def parse(document, **kwargs):
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_request(raw, max_bytes=kwargs.pop("max_bytes", 1 << 20), topic="t",
                         partition=2, offset=41, **kwargs)


def rejected(document, **kwargs) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as error:
        parse(document, **kwargs)
    return error.value


def test_job_form_as_heimdall_writes_it():
    request = parse(JOB)
    assert request.form == "job"
    assert (request.job_id, request.idempotency_key, request.log_id) == (
        JOB["job_id"], "manual:log:5:2b9c", 5)
    assert request.trace_id == JOB["trace_id"]
    assert (request.original_topic, request.original_partition, request.original_offset) == (
        "t", 2, 41)
    assert dlq_payload(request) == JOB


def test_inline_legacy_form_with_aliases():
    request = parse(INLINE)
    assert request.form == "inline"
    assert request.job_id == "req-1" and request.trace_id == "correlation-uuid"
    assert request.idempotency_key == "req-1"  # stable across redeliveries
    assert request.log_content.startswith("ERROR")
    assert request.service_name == "user-service"
    # log_content travels once; the DLQ payload is still the whole original request
    assert "log_content" not in request.payload
    assert dlq_payload(request) == INLINE


def test_camel_case_aliases_and_unknown_fields():
    document = {**{k: v for k, v in JOB.items() if k not in ("job_id", "trace_id")},
                "requestId": "abc", "correlationId": "trace-1", "new_field": {"x": 1}}
    request = parse(document)
    assert (request.job_id, request.trace_id) == ("abc", "trace-1")


@pytest.mark.parametrize("change, fragment", [
    ({"job_id": None}, "job_id is required"),
    ({"job_id": 42}, "job_id must be a string"),
    ({"idempotency_key": None}, "idempotency_key is required"),
    ({"idempotency_key": "k" * 201}, "at most 200"),
    ({"log_id": None}, "log_id is required"),
    ({"log_id": "5"}, "log_id must be an integer"),
    ({"log_id": True}, "log_id must be an integer"),
    ({"log_id": 2**63}, "log_id must be between"),
    ({"trace_id": None}, "trace_id is required"),
    ({"timeout_ms": -1}, "timeout_ms must be between"),
    ({"model_policy": ["local"]}, "model_policy must be an object"),
    ({"priority": 3}, "priority must be a string"),
])
def test_job_form_errors_say_what_is_wrong(change, fragment):
    error = rejected({**JOB, **change})
    assert error.code == codes.INVALID_REQUEST
    assert fragment in error.message
    assert error.payload == {**JOB, **change}


def test_invalid_json_and_non_objects_are_wrapped():
    error = rejected(b'{"job_id": ')
    assert error.code == codes.INVALID_JSON and error.payload == {"raw": '{"job_id": '}
    assert error.job_id is None
    error = rejected(b"\xff\xfeabc")
    assert error.code == codes.INVALID_JSON and "\\xff" in error.payload["raw"]
    error = rejected(b"[1, 2]")
    assert error.code == codes.INVALID_REQUEST and error.payload == {"raw": "[1, 2]"}
    error = rejected(b"null")
    assert error.code == codes.INVALID_REQUEST


def test_null_message_value():
    with pytest.raises(InvalidRequest) as error:
        parse_request(None, max_bytes=100)
    assert error.value.code == codes.INVALID_REQUEST


def test_oversized_payload_keeps_an_excerpt_and_a_digest():
    raw = json.dumps({**INLINE, "log_content": "x" * 5000}).encode()
    error = rejected(raw, max_bytes=1024)
    assert error.code == codes.PAYLOAD_TOO_LARGE
    assert error.payload["size_bytes"] == len(raw) and error.payload["truncated"] is True
    assert len(error.payload["sha256"]) == 64
    assert "t/2@41" in error.message


def test_unsupported_schema_version_keeps_ids_for_heimdall():
    error = rejected({**JOB, "schema_version": 2})
    assert error.code == codes.UNSUPPORTED_SCHEMA_VERSION
    assert error.job_id == JOB["job_id"] and error.idempotency_key == JOB["idempotency_key"]


def test_deeply_nested_json_is_rejected_not_crashing():
    raw = b"[" * 100000 + b"]" * 100000
    error = rejected(raw, max_bytes=1 << 20)
    assert error.code in (codes.INVALID_JSON, codes.INVALID_REQUEST)
