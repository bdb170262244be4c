"""Fuzzing analysis.request (hypothesis): whatever arrives, validation either builds a request
or names a DLQ code, and the DLQ event for it can always be encoded and published."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from bifrost_streams import codes
from bifrost_streams.outcomes import encode
from bifrost_streams.records import SCHEMA_VERSION, AnalysisRequest, DlqEvent
from bifrost_streams.validation import InvalidRequest, dlq_payload, parse_request

MAX_BYTES = 64 * 1024
PARSE_CODES = {codes.INVALID_JSON, codes.INVALID_REQUEST, codes.PAYLOAD_TOO_LARGE,
               codes.UNSUPPORTED_SCHEMA_VERSION}
FIELDS = ["schema_version", "job_id", "request_id", "requestId", "idempotency_key", "log_id",
          "log_content", "trace_id", "correlation_id", "correlationId", "priority",
          "timeout_ms", "model_policy", "service_name", "environment", "tenant_id",
          "timestamp"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=50))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
documents = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values,
                            max_size=len(FIELDS))


def _outcome(raw: bytes):
    """Validate, and encode what would be published: the DLQ event, or the job's forward."""
    try:
        request = parse_request(raw, max_bytes=MAX_BYTES, topic="t", partition=0, offset=1)
    except InvalidRequest as error:
        assert error.code in PARSE_CODES, error.code
        assert error.message
        event = DlqEvent(schema_version=SCHEMA_VERSION, job_id=error.job_id,
                         idempotency_key=error.idempotency_key, error_code=error.code,
                         error_message=error.message, trace_id=error.trace_id,
                         original_topic="t", original_partition=0, original_offset=1,
                         failed_at="2026-01-01T00:00:00.000", payload=error.payload)
        assert json.loads(encode(event.asdict()))["error_code"] == error.code
        return error
    assert isinstance(request, AnalysisRequest)
    assert request.job_id and request.trace_id and request.idempotency_key
    assert (request.log_content is None) == (request.form == "job")
    encode(request.asdict())
    encode(dlq_payload(request))
    return request


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_request_or_a_dlq_event(raw):
    _outcome(raw)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_json_object_is_a_request_or_a_dlq_event(document):
    _outcome(json.dumps(document).encode())


@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", "{\"a\":"]))
@settings(max_examples=60, deadline=None)
def test_deeply_nested_values_are_refused_or_encodable(depth, opener):
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    raw = ('{"request_id": "r", "correlation_id": "c", "log_content": "ERROR x", '
           f'"model_policy": {{"deep": {nested}}}}}').encode()
    _outcome(raw)


def test_a_ten_megabyte_payload_is_refused_with_an_excerpt():
    raw = json.dumps({"request_id": "r", "correlation_id": "c",
                      "log_content": "E" * (10 * 1024 * 1024)}).encode()
    error = _outcome(raw)
    assert error.code == codes.PAYLOAD_TOO_LARGE
    assert len(encode({"payload": error.payload})) < 100 * 1024


def test_an_oversized_excerpt_stays_small_even_when_escaping_grows_it():
    for raw in (b"\x00" * (MAX_BYTES + 1), b"\xff" * (MAX_BYTES + 1)):
        error = _outcome(raw)
        assert error.code == codes.PAYLOAD_TOO_LARGE
        assert 1000 < len(encode(error.payload)) <= 64 * 1024 + 200


def test_invalid_utf8_keeps_its_bytes_visible():
    error = _outcome(b'{"request_id": "\xff\xfe"}')
    assert error.code == codes.INVALID_JSON and "\\xff" in error.payload["raw"]
