"""The redrive view's rules without servers: who may act, what a body may ask, how fast."""
from __future__ import annotations

import json

import pytest

from bifrost_streams import config
from bifrost_streams.web import dlq
from bifrost_streams.web.access import admin_refusal


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_refills_over_the_minute():
    clock = Clock()
    limit = dlq.TokenBucket(2, clock)
    assert [limit.take(), limit.take(), limit.take()] == [True, True, False]
    clock.now = 29.0
    assert not limit.take()  # one token takes 30 s at 2 per minute
    clock.now = 30.5
    assert limit.take() and not limit.take()
    clock.now = 1000.0
    assert [limit.take(), limit.take(), limit.take()] == [True, True, False]  # never above 2


def test_only_the_configured_bearer_token_may_use_an_admin_view():
    token = "a-long-enough-admin-token"
    assert "BIFROST_ADMIN_TOKEN is not set" in admin_refusal(f"Bearer {token}", None,
                                                             "redrives")
    assert admin_refusal(f"Bearer {token}", token, "redrives") is None
    assert admin_refusal(f"bearer {token}", token, "redrives") is None
    for header in ("", "Bearer", f"Basic {token}", "Bearer wrong", f"Bearer {token}x"):
        assert admin_refusal(header, token, "redrives"), header


@pytest.mark.parametrize("body, message", [
    (b"{", "must be JSON"),
    (b"[]", "JSON object"),
    (b'{"job_id": "j", "reason": "r"}', "actor is required"),
    (b'{"job_id": "j", "actor": "a"}', "reason is required"),
    (b'{"actor": "a", "reason": "r"}', "exactly one"),
    (b'{"job_id": "j", "error_code": "X", "actor": "a", "reason": "r"}', "exactly one"),
    (b'{"job_ids": [], "actor": "a", "reason": "r"}', "1 to"),
    (b'{"job_ids": [1], "actor": "a", "reason": "r"}', "as strings"),
    (b'{"error_code": "not a code", "actor": "a", "reason": "r"}', "error code"),
])
def test_a_bad_redrive_body_is_refused_with_a_reason(body, message):
    with pytest.raises(dlq.BadRequest, match=message):
        dlq._parse(body)


def test_a_redrive_body_names_its_jobs_once():
    selector, actor, reason = dlq._parse(json.dumps(
        {"job_ids": ["a", "b", "a"], "actor": " ops ", "reason": "restored"}).encode())
    assert selector == {"job_ids": ["a", "b"]} and (actor, reason) == ("ops", "restored")
    assert dlq._parse(b'{"error_code": "LOG_NOT_FOUND", "actor": "a", "reason": "r"}')[0] == {
        "error_code": "LOG_NOT_FOUND"}


def test_a_short_admin_token_stops_start_up():
    with pytest.raises(config.ConfigError, match="BIFROST_ADMIN_TOKEN: must be at least 16"):
        config.load({"BIFROST_ADMIN_TOKEN": "short"})
    assert config.load({"BIFROST_ADMIN_TOKEN": "x" * 16}).admin_token == "x" * 16
    assert config.load({}).admin_token is None


def test_the_advertised_url_defaults_to_the_web_address():
    assert config.load({"BIFROST_WEB_HOST": "127.0.0.1",
                        "BIFROST_WEB_PORT": "7000"}).web_url == "http://127.0.0.1:7000"
    assert config.load({"BIFROST_ADVERTISED_URL": "http://worker-1:6066/"}).web_url == \
        "http://worker-1:6066"
    with pytest.raises(config.ConfigError, match="BIFROST_ADVERTISED_URL"):
        config.load({"BIFROST_ADVERTISED_URL": "worker-1:6066"})


class FakeReader:
    """Records by (topic, partition, offset); a missing one is gone, an exception is raised."""

    def __init__(self, records) -> None:
        self.records = records
        self.reads = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        return None

    async def read(self, topic, partition, offset):
        self.reads.append((topic, partition, offset))
        value = self.records.get((topic, partition, offset))
        if isinstance(value, Exception):
            raise value
        return value


def _entry(job_id, offset, redrivable=True, redrives=0):
    return {"key": job_id, "job_id": job_id, "error_code": "LOG_NOT_FOUND", "redrives": redrives,
            "state": "WAITING", "redrivable": redrivable, "original_topic": "analysis.request",
            "original_partition": 0, "original_offset": offset, "partition": 0}


async def test_a_redrive_reads_each_original_from_its_offset_and_sends_it_unchanged(monkeypatch):
    import asyncio
    import dataclasses
    original = json.dumps({"job_id": "a", "log_id": 5, "x": "é"}).encode()
    entries = [_entry("a", 10), _entry("gone", 11), _entry("moved", 12), _entry("slow", 13),
               _entry("raw", 14, redrivable=False), _entry("tired", 15, redrives=3)]
    reader = FakeReader({("analysis.request", 0, 10): original,
                         ("analysis.request", 0, 12): b'{"job_id": "someone-else"}',
                         ("analysis.request", 0, 13): asyncio.TimeoutError()})
    sent, marked = [], []

    async def send_bytes(topic, key, value, headers=None):
        sent.append((topic, key, value, headers))
    monkeypatch.setattr(dlq, "settings", dataclasses.replace(
        dlq.settings, redrive_max_attempts=3, database_url=None))
    monkeypatch.setattr(dlq, "OriginalReader", lambda *args: reader)
    monkeypatch.setattr(dlq, "send_bytes", send_bytes)
    monkeypatch.setattr(dlq, "limit", dlq.TokenBucket(3))
    monkeypatch.setattr(dlq.dead_letters, "local_entries", lambda code=None: entries)
    monkeypatch.setattr(dlq.dead_letters, "mark_redriven",
                        lambda entry, now: marked.append(entry["key"]))
    outcome = await dlq._redrive_here({"job_ids": [e["key"] for e in entries]}, "ops", "why")
    assert [r["job_id"] for r in outcome["redriven"]] == ["a"]
    assert {r["job_id"]: r["reason"] for r in outcome["refused"]} == {
        "gone": "original_gone", "moved": "original_gone", "slow": "original_unreadable",
        "raw": "not_redrivable", "tired": "max_attempts"}
    assert sent == [(dlq.settings.request_topic, "a", original, [("bifrost-redrive", b"1")])]
    assert marked == ["a"]
    # Only what passed the attempts and format checks was read; refusals gave their token back.
    assert [offset for _, _, offset in reader.reads] == [10, 11, 12, 13]
    assert dlq.limit.tokens == pytest.approx(2.0, abs=0.01)


def test_a_token_given_back_never_lifts_the_bucket_above_its_size():
    clock = Clock()
    limit = dlq.TokenBucket(1, clock)
    assert limit.take() and not limit.take()
    limit.give_back()
    limit.give_back()
    assert limit.take() and not limit.take()
