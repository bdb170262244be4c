"""GET /analyses and /analyses/stats over real HTTP, on rows a real worker stored in PostgreSQL.

Two waves of requests a second apart give the time filters a boundary to find; the expected
answers are computed from the table itself.
"""
from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from datetime import datetime, timezone

import pytest

from bifrost_streams import codes
from tests.requests_corpus import LOG_ENTRIES_DDL, inline_request, job_request
from tests.support.kafka_io import as_messages, produce
from tests.support.services import sql, wait_for

ITEM_KEYS = {"job_id", "status", "severity", "confidence", "model_used", "summary",
             "root_cause", "recommendation", "error_code", "error_message", "trace_id",
             "log_id", "service_name", "provider", "cache_hit", "token_usage", "latency_ms",
             "produced_at", "result"}


def _rows(dsn):
    """Every stored row, newest first, as the view must order them."""
    rows = sql(dsn, "SELECT job_id, status, severity, model_used, service_name, "
                         "produced_at, latency_ms, cache_hit FROM bifrost_analyses")
    keys = ("job_id", "status", "severity", "model_used", "service_name", "produced_at",
            "latency_ms", "cache_hit")
    rows = [dict(zip(keys, row)) for row in rows]
    return sorted(rows, key=lambda r: (r["produced_at"], r["job_id"]), reverse=True)


def _iso(moment):
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _get(worker, path, **params):
    query = urllib.parse.urlencode(params)
    status, body = worker.get(f"{path}?{query}" if query else path)
    return status, json.loads(body) if body else None


def _ids(worker, **params):
    status, body = _get(worker, "/analyses", **params)
    assert status == 200, (params, body)
    return [item["job_id"] for item in body["items"]], body["total"]


async def _produce_and_wait(env, dsn, requests, rows_expected):
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                  as_messages(requests))
    wait_for(lambda: len(_rows(dsn)) == rows_expected, 90, f"{rows_expected} stored rows",
             interval=0.3)


async def test_history_and_stats_views(pipeline_env, worker_factory):
    env = pipeline_env
    dsn = env["BIFROST_DATABASE_URL"]
    # With the table present, a missing row is LOG_NOT_FOUND (not LOG_SOURCE_UNAVAILABLE).
    sql(dsn, LOG_ENTRIES_DDL)
    worker = worker_factory().start().wait_ready()

    first = [inline_request("ERROR Redis GET session:17 failed: connection refused", "orders"),
             inline_request("FATAL OutOfMemoryError: Java heap space (heap 512MB)", "payments"),
             inline_request("ERROR HTTP 503 from payment-gateway for order 9", "orders"),
             job_request(987654321)]
    await _produce_and_wait(env, dsn, first, 4)
    # Results carry whole seconds: the second wave must start in a later one.
    last_first = max(r["produced_at"] for r in _rows(dsn))
    wait_for(lambda: datetime.now(timezone.utc).replace(microsecond=0) > last_first, 5,
             "the clock to leave the first wave's second")
    second = [inline_request("ERROR TLS handshake with auth.internal:443 failed", "search"),
              inline_request("ERROR Kafka producer send failed for topic orders", "payments"),
              # The same line again: served from the result cache, if it is still there.
              inline_request("ERROR Redis GET session:17 failed: connection refused", "orders")]
    await _produce_and_wait(env, dsn, second, 7)

    rows = _rows(dsn)
    newest_first = [r["job_id"] for r in rows]
    second_ids = {r["request_id"] for r in second}
    assert set(newest_first[:3]) == second_ids  # the second wave is newer

    # All of them, newest first, and every field there.
    status, body = _get(worker, "/analyses")
    assert status == 200 and body["limit"] == 50 and body["offset"] == 0
    assert body["total"] == 7 and [i["job_id"] for i in body["items"]] == newest_first
    by_id = {item["job_id"]: item for item in body["items"]}
    assert all(set(item) == ITEM_KEYS for item in body["items"])
    failed = by_id[first[3]["job_id"]]
    assert failed["status"] == "FAILED" and failed["error_code"] == codes.LOG_NOT_FOUND
    assert failed["confidence"] is None and failed["log_id"] == 987654321
    ok = by_id[first[0]["request_id"]]
    assert ok["status"] == "SUCCEEDED" and ok["service_name"] == "orders"
    assert isinstance(ok["confidence"], float) and ok["summary"]
    assert ok["result"]["service_name"] == "orders" and ok["model_used"]
    assert set(ok["token_usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert all(item["produced_at"] == _iso(row["produced_at"])
               for item, row in zip(body["items"], rows))

    # Each filter narrows to exactly the matching rows, still newest first.
    def expect(**where):
        return [r["job_id"] for r in rows if all(r[k] == v for k, v in where.items())]

    for service in ("orders", "payments", "search", "nowhere"):
        wanted = expect(service_name=service)
        assert _ids(worker, service_name=service) == (wanted, len(wanted))
    model = ok["model_used"]
    assert _ids(worker, model=model) == (expect(model_used=model), 6)
    assert _ids(worker, model="no-such-model") == ([], 0)
    assert _ids(worker, status="FAILED") == ([failed["job_id"]], 1)
    assert _ids(worker, status="succeeded") == (expect(status="SUCCEEDED"), 6)
    for severity, count in Counter(r["severity"] for r in rows if r["severity"]).items():
        assert _ids(worker, severity=severity) == (expect(severity=severity), count)
    family = ok["result"]["category"]
    of_family = [i for i in newest_first if by_id[i]["result"].get("category") == family]
    assert of_family and _ids(worker, family=family) == (of_family, len(of_family))
    assert _get(worker, "/analyses", family="no.such_family")[0] == 400
    boundary = _iso(min(r["produced_at"] for r in rows if r["job_id"] in second_ids))
    assert _ids(worker, since=boundary) == (newest_first[:3], 3)
    assert _ids(worker, until=boundary) == (newest_first[3:], 4)
    wanted = [r["job_id"] for r in rows[3:] if r["service_name"] == "orders"]
    assert _ids(worker, until=boundary, service_name="orders") == (wanted, 2)

    # Pages do not overlap and together are the whole list.
    pages = [_ids(worker, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [total for _, total in pages] == [7, 7, 7]
    assert [len(ids) for ids, _ in pages] == [3, 3, 1]
    assert sum((ids for ids, _ in pages), []) == newest_first
    status, body = _get(worker, "/analyses", limit=2, offset=100)
    assert status == 200 and body == {"items": [], "limit": 2, "offset": 100, "total": 7}

    for path, name, value in [
            ("/analyses", "limit", "abc"), ("/analyses", "limit", "0"),
            ("/analyses", "limit", "501"), ("/analyses", "offset", "-1"),
            ("/analyses", "status", "MAYBE"), ("/analyses", "severity", "URGENT"),
            ("/analyses", "since", "notadate"), ("/analyses", "until", "yesterday"),
            ("/analyses", "sevrity", "HIGH"), ("/analyses/stats", "hours", "0"),
            ("/analyses/stats", "hours", "721"), ("/analyses/stats", "hours", "abc")]:
        status, body = _get(worker, path, **{name: value})
        assert status == 400 and name in body["error"], (path, name, value, body)

    # Stats: one row from two days ago shows only in a window that reaches back that far.
    sql(dsn, "INSERT INTO bifrost_analyses (job_id, status, severity, model_used, "
                  "latency_ms, cache_hit, produced_at) VALUES ('old-1', 'SUCCEEDED', 'LOW', "
                  "'old-model', 1000, false, now() - interval '48 hours')")
    status, stats = _get(worker, "/analyses/stats")
    assert status == 200 and stats["hours"] == 24
    assert stats["totals"] == {"all": 7, "succeeded": 6, "failed": 1}
    assert stats["statuses"] == {"SUCCEEDED": 6, "FAILED": 1}
    severities = Counter(r["severity"] for r in rows if r["severity"])
    assert stats["severities"] == {s: severities.get(s, 0)
                                   for s in ("LOW", "MEDIUM", "HIGH", "CRITICAL")}
    assert stats["cache_hits"] == sum(1 for r in rows if r["cache_hit"])
    latencies = [r["latency_ms"] for r in rows]
    assert stats["avg_latency_ms"] == pytest.approx(sum(latencies) / 7, abs=0.05)
    models = {m["model"]: m for m in stats["models"]}
    assert models.keys() == {model, None}
    assert models[model]["count"] == 6 and models[None]["count"] == 1
    ok_latencies = [r["latency_ms"] for r in rows if r["model_used"] == model]
    assert models[model]["avg_latency_ms"] == pytest.approx(sum(ok_latencies) / 6, abs=0.05)

    status, wider = _get(worker, "/analyses/stats", hours=72)
    assert status == 200 and wider["totals"] == {"all": 8, "succeeded": 7, "failed": 1}
    assert {m["model"]: m["count"] for m in wider["models"]}["old-model"] == 1
    assert wider["severities"]["LOW"] == stats["severities"]["LOW"] + 1
