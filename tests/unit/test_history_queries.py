"""History parameters and SQL, without a database: bad values name their parameter, filters
become parameters (never text in the statement)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from bifrost_streams.storage import history
from bifrost_streams.storage.history import HistoryQuery, ParameterError

UTC = timezone.utc


@pytest.mark.parametrize("params, name", [
    ({"limit": "abc"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"limit": "1.5"}, "limit"), ({"limit": "1_0"}, "limit"),
    ({"limit": "٣"}, "limit"), ({"limit": "9" * 5000}, "limit"),
    ({"offset": "-3"}, "offset"), ({"offset": "x"}, "offset"),
    ({"offset": "9" * 20}, "offset"),
    ({"status": "MAYBE"}, "status"), ({"severity": "URGENT"}, "severity"),
    ({"since": "notadate"}, "since"), ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
    ({"sevrity": "HIGH"}, "sevrity"),
])
def test_a_bad_history_parameter_is_refused_by_name(params, name):
    with pytest.raises(ParameterError) as caught:
        history.parse_history(params)
    assert caught.value.name == name
    assert name in str(caught.value)
    assert len(str(caught.value)) < 300  # a huge value is not echoed back whole


@pytest.mark.parametrize("value", ["0", "721", "abc", "-1", "2.5"])
def test_a_bad_hours_value_is_refused_by_name(value):
    with pytest.raises(ParameterError, match="hours") as caught:
        history.parse_hours({"hours": value})
    assert caught.value.name == "hours"


def test_hours_default_and_bounds():
    assert history.parse_hours({}) == 24
    assert history.parse_hours({"hours": "1"}) == 1
    assert history.parse_hours({"hours": "720"}) == 720
    with pytest.raises(ParameterError, match="limit"):
        history.parse_hours({"limit": "5"})


def test_defaults_and_empty_values_mean_not_given():
    assert history.parse_history({}) == HistoryQuery(limit=50, offset=0)
    assert history.parse_history({"limit": "", "status": " ", "service_name": ""}) == \
        HistoryQuery()


def test_values_are_parsed():
    query = history.parse_history({
        "limit": "500", "offset": "20", "service_name": "orders", "model": "mistral",
        "status": "failed", "severity": "High", "since": "2026-01-31T10:00:00Z",
        "until": "2026-01-31T12:30:00+02:00"})
    assert query == HistoryQuery(
        limit=500, offset=20, service_name="orders", model="mistral", status="FAILED",
        severity="HIGH", since=datetime(2026, 1, 31, 10, tzinfo=UTC),
        until=datetime(2026, 1, 31, 10, 30, tzinfo=UTC))


def test_a_timestamp_without_an_offset_is_utc():
    query = history.parse_history({"since": "2026-01-31T10:00:00"})
    assert query.since == datetime(2026, 1, 31, 10, tzinfo=UTC)


def test_no_filter_no_where():
    sql, args = history.history_sql(HistoryQuery())
    assert "WHERE" not in sql
    assert sql.endswith("ORDER BY produced_at DESC, job_id DESC LIMIT %s OFFSET %s")
    assert args == [50, 0]
    assert history.count_sql(HistoryQuery()) == ("SELECT count(*) FROM bifrost_analyses", [])


def test_every_filter_is_a_parameter():
    hostile = "x'; DROP TABLE bifrost_analyses; --"
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    query = HistoryQuery(limit=7, offset=14, service_name=hostile, model=hostile,
                         status="FAILED", severity="LOW", since=since, until=until)
    sql, args = history.history_sql(query)
    assert hostile not in sql and "FAILED" not in sql and "2026" not in sql
    assert ("WHERE service_name = %s AND model_used = %s AND status = %s AND severity = %s "
            "AND produced_at >= %s AND produced_at < %s ORDER BY") in sql
    assert args == [hostile, hostile, "FAILED", "LOW", since, until, 7, 14]
    count, count_args = history.count_sql(query)
    assert count.count("%s") == 6 and count_args == args[:-2]


def test_a_family_filter_matches_the_family_and_its_children():
    sql, args = history.count_sql(history.parse_history({"family": "database.query"}))
    assert sql == ("SELECT count(*) FROM bifrost_analyses WHERE (result->>'category' = %s "
                   "OR starts_with(result->>'category', %s))")
    assert args == ["database.query", "database.query."]
    with pytest.raises(history.ParameterError):
        history.parse_history({"family": "database.quer"})


def test_one_filter_alone():
    sql, args = history.count_sql(HistoryQuery(severity="CRITICAL"))
    assert sql == "SELECT count(*) FROM bifrost_analyses WHERE severity = %s"
    assert args == ["CRITICAL"]


def test_a_row_becomes_an_item():
    values = {column: None for column in history.COLUMNS}
    values.update(job_id="j1", status="SUCCEEDED", confidence=Decimal("0.80"), prompt_tokens=3,
                  completion_tokens=4, total_tokens=7, latency_ms=12, result={"a": 1},
                  produced_at=datetime(2026, 1, 31, 11, tzinfo=timezone.utc).astimezone())
    out = history.item(values[column] for column in history.COLUMNS)
    assert out["confidence"] == 0.8 and isinstance(out["confidence"], float)
    assert out["token_usage"] == {"prompt_tokens": 3, "completion_tokens": 4,
                                  "total_tokens": 7}
    assert "prompt_tokens" not in out
    assert out["produced_at"] == "2026-01-31T11:00:00Z"
    assert out["result"] == {"a": 1}


def test_stats_summary():
    rows = [("mistral", "SUCCEEDED", "HIGH", 3, Decimal(300), 1),
            ("mistral", "SUCCEEDED", "LOW", 1, Decimal(100), 0),
            ("llama", "SUCCEEDED", "HIGH", 2, Decimal(50), 2),
            (None, "FAILED", None, 2, Decimal(10), 0)]
    since = datetime(2026, 1, 31, tzinfo=UTC)
    stats = history.summarise(rows, 24, since)
    assert stats == {
        "hours": 24, "since": "2026-01-31T00:00:00Z",
        "totals": {"all": 8, "succeeded": 6, "failed": 2},
        "avg_latency_ms": 57.5, "cache_hits": 3,
        "models": [{"model": "mistral", "count": 4, "avg_latency_ms": 100.0},
                   {"model": "llama", "count": 2, "avg_latency_ms": 25.0},
                   {"model": None, "count": 2, "avg_latency_ms": 5.0}],
        "statuses": {"SUCCEEDED": 6, "FAILED": 2},
        "severities": {"LOW": 1, "MEDIUM": 0, "HIGH": 5, "CRITICAL": 0}}


def test_stats_of_nothing():
    stats = history.summarise([], 1, datetime(2026, 1, 31, tzinfo=UTC))
    assert stats["totals"] == {"all": 0, "succeeded": 0, "failed": 0}
    assert stats["avg_latency_ms"] is None and stats["models"] == []
    assert "%s" in history.STATS_SQL and "now()" not in history.STATS_SQL


class FakeView:
    def json(self, value, status=200):
        return status, value

    def error(self, status, reason):
        return status, {"error": reason}


async def _unused_fetch(dsn, parsed):
    raise AssertionError("no query may run")


async def test_views_answer_400_before_503_and_503_without_persistence(monkeypatch):
    from bifrost_streams.web import history as views
    request = SimpleNamespace(query={"limit": "abc"}, path="/analyses")
    monkeypatch.setattr(views, "settings", SimpleNamespace(database_url=None))
    status, body = await views._answer(FakeView(), request, history.parse_history,
                                       _unused_fetch)
    assert status == 400 and "limit" in body["error"]
    request.query = {}
    status, body = await views._answer(FakeView(), request, history.parse_history,
                                       _unused_fetch)
    assert status == 503 and "persistence is off" in body["error"]
