"""bifrost-submit without a broker: which files, which entries, which requests."""
import gzip
import json

import pytest

from bifrost_streams.ingestion import loggen, submit
from bifrost_streams.validation import parse_request

LEVELS = frozenset({"ERROR", "WARN", "FATAL"})
APP_LOG = """2026-01-31 10:00:00.001 INFO  [order-service] Order 1 created
2026-01-31 10:00:00.123 ERROR [order-service] Request failed
java.lang.NullPointerException: Cannot invoke "Order.getItems()"
\tat com.shop.order.OrderService.total(OrderService.java:42)
\tat com.shop.order.OrderController.create(OrderController.java:17)
Caused by: java.lang.IllegalStateException: cart empty
\tat com.shop.cart.Cart.items(Cart.java:9)
\t... 12 more
2026-01-31 10:00:01.000 WARN  [order-service] Slow query detected: 1200ms
2026-01-31 10:00:02.000 DEBUG [order-service] cache miss
"""


def _tree(tmp_path):
    logs = tmp_path / "logs"
    (logs / "nested").mkdir(parents=True)
    (logs / "app.log").write_text(APP_LOG)
    (logs / "nested" / "old.log.gz").write_bytes(gzip.compress(b"FATAL [auth] keystore gone\n"))
    (logs / ".hidden.log").write_text("ERROR hidden\n")
    (logs / "image.bin").write_bytes(b"\x89PNG\0\0ERROR not a log")
    return logs


def test_files_are_walked_recursively_without_hidden_ones(tmp_path):
    logs = _tree(tmp_path)
    assert [p.relative_to(logs).as_posix() for p in submit.files_under([logs])] == \
        ["app.log", "image.bin", "nested/old.log.gz"]
    assert submit.read_lines(logs / "image.bin") is None
    assert submit.read_lines(logs / "nested" / "old.log.gz") == ["FATAL [auth] keystore gone"]
    with pytest.raises(FileNotFoundError):
        submit.files_under([tmp_path / "missing"])


def test_a_java_trace_is_one_request_and_info_is_left_out(tmp_path):
    path = _tree(tmp_path) / "app.log"
    requests, skipped = submit.requests_for(path, APP_LOG.splitlines(), LEVELS,
                                            "analysis.result", 65536)
    assert skipped == 2  # INFO and DEBUG
    assert [where for where, _ in requests] == [f"{path}:2", f"{path}:9"]
    trace = requests[0][1]
    assert trace["log_content"].count("\n\tat ") == 3 and "Caused by:" in trace["log_content"]
    assert trace["log_content"].endswith("\t... 12 more")
    assert (trace["priority"], trace["service_name"]) == ("ERROR", "order-service")
    # Each carries the first lines of the entries before it, for the model's context.
    assert trace["context"] == ["2026-01-31 10:00:00.001 INFO  [order-service] Order 1 created"]
    assert requests[1][1]["context"] == [
        "2026-01-31 10:00:00.001 INFO  [order-service] Order 1 created",
        "2026-01-31 10:00:00.123 ERROR [order-service] Request failed"]
    for _, request in requests:
        parsed = parse_request(json.dumps(request).encode(), max_bytes=65536)
        assert parsed.form == "inline" and parsed.job_id == request["request_id"]


def test_every_entry_with_all_and_the_file_name_as_service(tmp_path):
    path = tmp_path / "billing.log"
    requests, skipped = submit.requests_for(path, ["a line with no level", "ERROR boom"], None,
                                            "r", 65536)
    assert skipped == 0 and len(requests) == 2
    assert {r["service_name"] for _, r in requests} == {"billing"}


def test_ids_are_the_same_on_a_second_run_and_change_with_the_text(tmp_path):
    path = tmp_path / "app.log"
    first, _ = submit.requests_for(path, APP_LOG.splitlines(), LEVELS, "r", 65536)
    second, _ = submit.requests_for(path, APP_LOG.splitlines(), LEVELS, "r", 65536)
    assert [r["request_id"] for _, r in first] == [r["request_id"] for _, r in second]
    edited = APP_LOG.replace("1200ms", "1300ms").splitlines()
    third, _ = submit.requests_for(path, edited, LEVELS, "r", 65536)
    assert first[0][1]["request_id"] == third[0][1]["request_id"]
    assert first[1][1]["request_id"] != third[1][1]["request_id"]
    other, _ = submit.requests_for(tmp_path / "copy.log", APP_LOG.splitlines(), LEVELS, "r",
                                   65536)
    assert not {r["request_id"] for _, r in other} & {r["request_id"] for _, r in first}


def test_main_without_entries_to_send_needs_no_broker(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    (tmp_path / "quiet.log").write_text("2026-01-31 10:00:00 INFO [a] fine\n")
    assert submit.main([str(tmp_path)]) == 0
    assert "0 entries to analyse, 1 below the kept levels" in capsys.readouterr().err
    assert submit.main([str(tmp_path / "nope")]) == 2
    assert submit.main([str(tmp_path), "--levels", "LOUD"]) == 2


def test_loggen_writes_count_entries_to_a_file(tmp_path):
    out = tmp_path / "gen.log"
    assert loggen.main(["--count", "300", "--rate", "0", "--seed", "3", "--output",
                        str(out)]) == 0
    lines = out.read_text().splitlines()
    requests, skipped = submit.requests_for(out, lines, None, "r", 65536)
    assert len(requests) == 300 and skipped == 0
    levels = {r["priority"] for _, r in requests}
    assert levels == {"INFO", "DEBUG", "WARN", "ERROR"}
    assert any("\tat " in r["log_content"] for _, r in requests)


def test_loggen_keeps_its_rate(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(loggen.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(loggen.time, "sleep", lambda s: clock.__setitem__("now",
                                                                          clock["now"] + s))

    class Sink:
        def write(self, _): pass
        def flush(self): pass
    assert loggen.run(Sink(), rate=20, count=100, fmt="text", seed=1) == 100
    assert clock["now"] == pytest.approx(5.0)
