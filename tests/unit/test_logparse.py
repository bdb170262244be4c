"""Line parsing, the level filter and the entry splitter
(bifrost_streams/ingestion/logparse.py)."""
import json
import random

import pytest

from bifrost_streams.ingestion import loggen
from bifrost_streams.ingestion.logparse import (iter_entries, keep, normalize_level,
                                                normalize_timestamp, parse_entry, parse_payload,
                                                parse_record, parse_text, split_entries)

JAVA_TRACE = """2026-01-31 10:00:00.123 ERROR [order-service] Request failed
org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection
\tat org.springframework.jdbc.datasource.DataSourceUtils.getConnection(DataSourceUtils.java:84)
\tat com.shop.user.UserRepository.findById(UserRepository.java:41)
Caused by: java.net.SocketTimeoutException: Connect timed out
\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:546)
\t... 42 more"""

PYTHON_TRACE = """2026-01-31 10:00:01,456 ERROR [billing] Unhandled exception
Traceback (most recent call last):
  File "/app/billing.py", line 10, in charge
    total = amount / count
ZeroDivisionError: division by zero

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/billing.py", line 12, in charge
    raise RuntimeError("charge failed")
RuntimeError: charge failed"""


@pytest.mark.parametrize("line, level, service, timestamp", [
    ("2026-01-31 10:00:00 ERROR [user-service] Connection refused", "ERROR", "user-service",
     "2026-01-31T10:00:00Z"),
    ("2026-01-31T10:00:00.123Z [WARN] disk at 91%", "WARN", None, "2026-01-31T10:00:00Z"),
    ("2026-01-31T19:00:00+09:00 FATAL [auth] out of memory", "FATAL", "auth",
     "2026-01-31T10:00:00Z"),
    ("2026/01/31 10:00:00 WARNING: slow query", "WARN", None, "2026-01-31T10:00:00Z"),
    ("ERROR: Connection timeout...", "ERROR", None, None),
    ("error: could not open file", "ERROR", None, None),
    ("[error] upstream timed out", "ERROR", None, None),
    ("ts=2026-01-31T10:00:00Z level=warn service=cart msg=\"retry\"", "WARN", "cart",
     "2026-01-31T10:00:00Z"),
    ("2026-01-31 10:00:00 INFO [api] request finished with ERROR count 0", "INFO", "api",
     "2026-01-31T10:00:00Z"),
    ("10:00:00.123 [main] CRITICAL c.s.App - boom", "FATAL", None, None),
    ("2026-01-31 10:00:00 DEBUG [api] cache miss", "DEBUG", "api", "2026-01-31T10:00:00Z"),
    ("the error rate is fine", None, None, None),
    ("user ERRORS counted", None, None, None),
])
def test_plain_lines(line, level, service, timestamp):
    entry = parse_text(line)
    assert (entry.level, entry.service, entry.timestamp) == (level, service, timestamp)
    assert entry.text == line


def test_a_level_word_later_in_the_message_does_not_win():
    assert parse_text("2026-01-31 10:00:00 INFO retry after ERROR from db").level == "INFO"
    # ...but a line that names no level of its own is not called INFO for an "info" inside.
    assert parse_text("info page visited").level is None


def test_an_unheaded_stack_trace_counts_as_an_error():
    text = 'Exception in thread "main" java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)'
    assert parse_text(text).level == "ERROR"


@pytest.mark.parametrize("name, level", [
    ("error", "ERROR"), ("Warning", "WARN"), ("CRITICAL", "FATAL"), ("err", "ERROR"),
    ("notice", "INFO"), ("3", "ERROR"), (4, "WARN"), (2, "FATAL"), ("loud", None), (True, None),
    (None, None),
])
def test_level_names(name, level):
    assert normalize_level(name) == level


@pytest.mark.parametrize("value, expected", [
    ("2026-01-31T10:00:00Z", "2026-01-31T10:00:00Z"),
    ("2026-01-31T10:00:00.999999+00:00", "2026-01-31T10:00:00Z"),
    ("2026-01-31 05:30:00-0430", "2026-01-31T10:00:00Z"),
    (1769853600, "2026-01-31T10:00:00Z"),
    (1769853600.25, "2026-01-31T10:00:00Z"),
    (1769853600000, "2026-01-31T10:00:00Z"),
    ("2026-13-45 10:00:00", None),
    ("yesterday", None),
    (False, None),
])
def test_timestamps(value, expected):
    assert normalize_timestamp(value) == expected


def test_fluent_bit_record_fields_win_over_the_text():
    entry = parse_record({"log": "2026-01-31 10:00:00 INFO [x] something broke\n",
                          "level": "error", "service": "payment-service",
                          "time": "2026-01-31T11:00:00Z", "environment": "production",
                          "trace_id": "abc-123"})
    assert entry.level == "ERROR" and entry.service == "payment-service"
    assert entry.timestamp == "2026-01-31T11:00:00Z"
    assert entry.environment == "production" and entry.trace_id == "abc-123"
    assert entry.text == "2026-01-31 10:00:00 INFO [x] something broke"


def test_fluent_bit_record_without_fields_reads_its_log_line():
    entry = parse_record({"log": "2026-01-31 10:00:00 WARN [user-service] slow", "time": 1.5})
    assert (entry.level, entry.service) == ("WARN", "user-service")
    assert entry.timestamp == "1970-01-01T00:00:01Z"  # the record's own time comes first


def test_fluent_bit_kubernetes_metadata_names_the_service():
    entry = parse_record({"log": "ERROR boom", "kubernetes": {"container_name": "api",
                                                              "labels": {"app": "checkout"}}})
    assert entry.service == "checkout" and entry.level == "ERROR"
    entry = parse_record({"log": "ERROR boom", "kubernetes": {"container_name": "api"}})
    assert entry.service == "api"


def test_journald_priority_and_message():
    entry = parse_record({"MESSAGE": "disk failure", "PRIORITY": "2",
                          "SYSLOG_IDENTIFIER": "smartd"})
    assert (entry.level, entry.service, entry.text) == ("FATAL", "smartd", "disk failure")


def test_a_record_without_a_message_keeps_its_json():
    entry = parse_record({"level": "ERROR", "code": 17})
    assert json.loads(entry.text) == {"level": "ERROR", "code": 17}


def test_keep_filters_by_level():
    levels = {"ERROR", "WARN", "FATAL"}
    assert keep(parse_text("ERROR x"), levels) and keep(parse_text("FATAL x"), levels)
    assert keep(parse_text("WARNING x"), levels)
    assert not keep(parse_text("INFO x"), levels)
    assert not keep(parse_text("nothing to see"), levels)
    assert not keep(parse_text("ERROR x"), {"FATAL"})


# --- splitting ----------------------------------------------------------------------------

def test_a_java_trace_stays_with_its_line():
    lines = ["2026-01-31 09:59:59 INFO [order-service] start"] + JAVA_TRACE.split("\n") + \
        ["2026-01-31 10:00:02 INFO [order-service] next"]
    entries = split_entries(lines)
    assert [start for start, _ in entries] == [1, 2, 9]
    assert entries[1][1] == JAVA_TRACE
    assert parse_entry(entries[1][1]).level == "ERROR"


def test_a_chained_python_traceback_is_one_entry():
    lines = PYTHON_TRACE.split("\n") + ["2026-01-31 10:00:02 INFO [billing] recovered"]
    entries = split_entries(lines)
    assert len(entries) == 2
    assert entries[0] == (1, PYTHON_TRACE)
    assert entries[1][1].endswith("recovered")


def test_a_traceback_cut_short_does_not_swallow_the_next_log_line():
    lines = ["ERROR x", "Traceback (most recent call last):", '  File "a.py", line 1',
             "2026-01-31 10:00:02 INFO next", "plain line"]
    assert [start for start, _ in split_entries(lines)] == [1, 4, 5]


def test_continuations_and_blank_lines():
    lines = ["", "", "WARN first", "    indented detail", "", "\tmore detail", "ERROR second",
             "second line of its own", "goroutine 1 [running]:", "main.main()", "", ""]
    entries = split_entries(lines)
    assert entries == [(3, "WARN first\n    indented detail\n\n\tmore detail"),
                       (7, "ERROR second"), (8, "second line of its own\ngoroutine 1 [running]:"),
                       (10, "main.main()")]


def test_windows_line_endings_are_dropped():
    assert split_entries(["ERROR a\r\n", "\tat x.Y.z(Y.java:1)\r\n"]) == \
        [(1, "ERROR a\n\tat x.Y.z(Y.java:1)")]


def test_every_line_of_plain_text_is_its_own_entry():
    assert len(split_entries([f"line {i}" for i in range(50)])) == 50


def test_payload_json_record_and_json_lines():
    record = json.dumps({"log": "boom\n\tat a.B.c(B.java:1)", "level": "ERROR"})
    assert [e.level for e in parse_payload(record)] == ["ERROR"]
    lines = "\n".join([json.dumps({"log": "a", "level": "warn"}), "ERROR [svc] plain",
                       json.dumps({"log": "b", "level": "info"})])
    assert [(e.level, e.line) for e in parse_payload(lines)] == \
        [("WARN", 1), ("ERROR", 2), ("INFO", 3)]
    assert parse_payload("   \n  ") == []
    assert [e.text for e in parse_payload(JAVA_TRACE + "\n")] == [JAVA_TRACE]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_generated_logs_split_back_into_their_entries(fmt):
    rng = random.Random(7)
    generated = [loggen.entry(rng, 1769853600 + i) for i in range(400)]
    assert any(len(lines) > 3 for _, _, _, lines in generated)  # traces were generated
    text = "".join(loggen.render(*e, fmt) for e in generated)
    entries = [parse_entry(body, start) for start, body in split_entries(text.split("\n"))]
    assert [(e.level, e.service) for e in entries] == \
        [(level, service) for level, service, _, _ in generated]
    for entry, (_, _, _, lines) in zip(entries, generated):
        assert entry.text.count("\n") == len(lines) - 1 if fmt == "text" \
            else entry.text == "\n".join(lines)


def test_entries_come_out_as_the_lines_are_read():
    read = []

    def lines():
        for number in range(1_000_000):
            read.append(number)
            yield f"ERROR line {number}" if number % 3 == 0 else "\tat x.Y.z(Y.java:1)"

    entries = iter_entries(lines())
    assert next(entries) == (1, "ERROR line 0\n\tat x.Y.z(Y.java:1)\n\tat x.Y.z(Y.java:1)")
    assert len(read) == 4  # the entry's three lines and the one that closes it


def test_many_one_line_entries_are_split_like_a_few():
    lines = [f"ERROR e{i}" for i in range(100_000)]
    entries = split_entries(lines)
    assert len(entries) == 100_000
    assert entries[-1] == (100_000, "ERROR e99999")
