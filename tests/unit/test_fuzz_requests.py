"""Fuzzing analysis.request (hypothesis): whatever arrives, validation either builds a request
or names a DLQ code, and every event it can lead to (the DLQ event of a bad request; a valid
job's result and DLQ event) is what Heimdall's Jackson reads: tests/contract.py."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from bifrost_streams import codes
from bifrost_streams.wire import dlq_key, encode, failed, invalid_dlq_event, job_dlq_event
from bifrost_streams.records import AnalysisRequest
from bifrost_streams.validation import InvalidRequest, dlq_payload, is_uuid, parse_request
from tests.contract import check_dlq_message, check_result_message

MAX_BYTES = 64 * 1024
PARSE_CODES = {codes.INVALID_JSON, codes.INVALID_REQUEST, codes.PAYLOAD_TOO_LARGE,
               codes.UNSUPPORTED_SCHEMA_VERSION}
FIELDS = ["schema_version", "job_id", "request_id", "requestId", "idempotency_key", "log_id",
          "log_content", "trace_id", "correlation_id", "correlationId", "priority",
          "timeout_ms", "model_policy", "service_name", "environment", "tenant_id",
          "timestamp"]
A_UUID = "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11"

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=50)
           | st.just(A_UUID) | st.uuids().map(str))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
documents = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values,
                            max_size=len(FIELDS))


def _published(event) -> None:
    """The DLQ event as the worker would publish it, checked as Heimdall reads it."""
    check_dlq_message(dlq_key(event), encode(event.asdict()))


def _outcome(raw: bytes):
    """Validate, and check what would be published: the DLQ event, or the job's outcomes."""
    try:
        request = parse_request(raw, max_bytes=MAX_BYTES, topic="t", partition=0, offset=1)
    except InvalidRequest as error:
        assert error.code in PARSE_CODES, error.code
        assert error.message
        event = invalid_dlq_event(error, "t", 0, 1)
        _published(event)
        assert event.error_code == error.code
        return error
    assert isinstance(request, AnalysisRequest)
    assert request.job_id and request.trace_id and request.idempotency_key
    assert (request.log_content is None) == (request.form == "job")
    encode(request.asdict())
    encode(dlq_payload(request))
    event = job_dlq_event(request, codes.LOG_NOT_FOUND, "no row")
    _published(event)
    assert event.job_id == (request.job_id if is_uuid(request.job_id) else None)
    assert event.payload == dlq_payload(request)  # the raw job id stays in the payload
    if is_uuid(request.job_id):
        result = failed(request, codes.LOG_NOT_FOUND, "no row", {}).asdict()
        check_result_message(request.job_id, encode(result))
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


def test_a_job_id_that_is_no_uuid_gives_a_null_job_id_and_stays_in_the_payload():
    for job_id in ("x|<!here>", "j", A_UUID[:-1], "{" + A_UUID + "}", A_UUID.replace("-", ""),
                   "urn:uuid:" + A_UUID, A_UUID[:-1] + "g", A_UUID.replace("-", "_")):
        error = _outcome(json.dumps({"job_id": job_id, "idempotency_key": "k",
                                     "trace_id": "t"}).encode())
        event = invalid_dlq_event(error, "t", 0, 1)
        assert event.job_id is None and event.payload["job_id"] == job_id
        assert dlq_key(event) == "k"
    error = _outcome(json.dumps({"job_id": A_UUID.upper(), "log_id": "x"}).encode())
    assert invalid_dlq_event(error, "t", 0, 1).job_id == A_UUID.upper()


def test_ids_too_long_or_of_the_wrong_type_are_null_in_the_dlq_event():
    error = _outcome(json.dumps({"job_id": A_UUID, "idempotency_key": "k" * 201,
                                 "trace_id": ["t"], "log_id": "five"}).encode())
    event = invalid_dlq_event(error, "t", 0, 1)
    assert (event.job_id, event.idempotency_key, event.trace_id) == (A_UUID, None, None)
    assert event.payload["idempotency_key"] == "k" * 201


def test_nan_and_infinity_are_not_json():
    for constant in ("NaN", "Infinity", "-Infinity"):
        error = _outcome(('{"request_id": "%s", "log_content": "x", "n": %s}'
                          % (A_UUID, constant)).encode())
        assert error.code == codes.INVALID_JSON


def test_a_valid_request_with_a_job_id_that_is_no_uuid_fails_with_a_null_dlq_job_id():
    request = _outcome(json.dumps({"request_id": "req-1", "log_content": "ERROR x",
                                   "idempotency_key": "k"}).encode())
    event = job_dlq_event(request, codes.MODEL_UNAVAILABLE, "down")
    assert event.job_id is None and event.payload["request_id"] == "req-1"
    assert dlq_key(event) == "k"


def test_a_request_nested_deeper_than_jackson_reads_back_is_refused_whole():
    def nested(depth: int) -> bytes:
        return ('{"request_id": "%s", "log_content": "x", "model_policy": %s1%s}'
                % (A_UUID, '{"a":' * depth, "}" * depth)).encode()
    assert isinstance(_outcome(nested(62)), AnalysisRequest)
    error = _outcome(nested(64))
    assert error.code == codes.INVALID_REQUEST and "deeper than 64" in error.message
    assert error.payload == {"raw": nested(64).decode()}


def test_an_unpaired_surrogate_is_refused_in_an_id_and_replaced_in_the_log_text():
    error = _outcome(('{"request_id": "%s", "log_content": "x", "idempotency_key": "k\\ud800"}'
                      % A_UUID).encode())
    assert error.code == codes.INVALID_REQUEST and "surrogate" in error.message
    assert invalid_dlq_event(error, "t", 0, 1).idempotency_key is None
    request = _outcome(('{"request_id": "%s", "log_content": "ERROR \\udc80 cut"}'
                        % A_UUID).encode())
    assert request.log_content == "ERROR \ufffd cut"
    request.log_content.encode("utf-8")
