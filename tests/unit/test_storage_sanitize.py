"""What goes into PostgreSQL: NUL and lone surrogates cleaned out of every string, values no
column fits refused by name, and the sorting of failures into a row's and the database's."""
from __future__ import annotations

import json

import psycopg2
import pytest

from bifrost_streams.storage import analyses
from bifrost_streams.storage.history import ParameterError, parse_history
from bifrost_streams.storage.sanitize import clean, clean_text

JOB_ID = "3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11"


def _result(**changes):
    result = {"schema_version": 1, "job_id": JOB_ID, "status": "SUCCEEDED",
              "summary": "s", "root_cause": "r", "recommendation": "x", "severity": "HIGH",
              "confidence": 0.5, "model_used": "m",
              "token_usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
              "latency_ms": 5, "error_code": None, "error_message": None, "trace_id": "t",
              "log_id": 7, "timestamp": "2026-01-31T10:00:02Z",
              "result": {"service_name": "svc", "provider": "ollama", "cache_hit": False}}
    result.update(changes)
    return result


def test_nul_goes_and_a_lone_surrogate_becomes_a_replacement_character():
    assert clean_text("a\x00b\x00") == "ab"
    assert clean_text("x\ud800y") == "x\ufffdy"
    assert clean_text("\U0001F600 ok") == "\U0001F600 ok"  # a real pair is kept
    assert clean_text("plain") == "plain"


def test_json_is_cleaned_through_and_through_keys_included():
    value = {"a\x00": ["b\x00", {"c": "\udfff"}], "n": float("nan"), "i": float("inf"),
             "k": 1, "t": True, "none": None}
    assert clean(value) == {"a": ["b", {"c": "\ufffd"}], "n": None, "i": None, "k": 1,
                            "t": True, "none": None}


def test_a_row_holds_no_nul_anywhere_and_its_json_is_valid_for_jsonb():
    row = analyses.row(_result(job_id=JOB_ID[:-1] + "\x00", summary="boom\x00",
                               result={"service_name": "svc\x00", "note": "a\u0000b\ud83d",
                                       "nested": {"k\x00": ["\x00"]}}))
    text = json.dumps(row[:19] + row[20:])
    assert "\\u0000" not in text and "\x00" not in text
    assert row[0] == JOB_ID[:-1] and row[5] == "boom" and row[12] == "svc"
    extra = row[19]
    assert "\\u0000" not in extra and "\\ud83d" not in extra
    assert json.loads(extra) == {"service_name": "svc", "note": "ab\ufffd",
                                 "nested": {"k": [""]}}


@pytest.mark.parametrize("changes, fragment", [
    ({"summary": {"a": 1}}, "summary must be str"),
    ({"confidence": "high"}, "confidence must be"),
    ({"confidence": True}, "confidence must be"),
    ({"log_id": "5"}, "log_id must be int"),
    ({"token_usage": [1]}, "token_usage must be dict"),
    ({"result": "x"}, "result must be dict"),
    ({"latency_ms": 1.5}, "latency_ms must be int"),
    ({"job_id": 5}, "job_id must be a non-empty string"),
    ({"status": None}, "status and timestamp are required"),
])
def test_a_value_no_column_fits_is_refused_by_name(changes, fragment):
    with pytest.raises((TypeError, KeyError)) as caught:
        analyses.row(_result(**changes))
    assert fragment in str(caught.value)


def test_a_row_fault_is_told_from_a_database_fault():
    class Refused(psycopg2.DataError):
        pgcode = "22003"

    class Lost(psycopg2.OperationalError):
        pgcode = None

    assert analyses.row_fault(Refused("numeric field overflow"))
    assert analyses.row_fault(ValueError("A string literal cannot contain NUL"))
    assert not analyses.row_fault(Lost("server closed the connection unexpectedly"))
    assert not analyses.row_fault(OSError("connection refused"))


def test_a_parked_row_keeps_the_whole_document_as_ascii_json():
    item = analyses.Unstorable({"job_id": "a\x00b", "summary": "x\ud800"}, "refused", "e\x00")
    digest, job_id, kind, error, document = analyses.parked_row(item)
    assert (job_id, kind, error) == ("ab", "refused", "e")
    assert document.isascii() and "\x00" not in document
    assert json.loads(document) == {"job_id": "a\x00b", "summary": "x\ud800"}
    assert analyses.parked_row(item)[0] == digest  # parking twice parks once


def test_history_filters_with_nul_are_refused_by_name():
    with pytest.raises(ParameterError) as caught:
        parse_history({"service_name": "orders\x00"})
    assert caught.value.name == "service_name"
    assert parse_history({"service_name": "orders"}).service_name == "orders"
