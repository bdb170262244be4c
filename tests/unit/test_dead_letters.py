"""The dead-letters table without servers: what an entry keeps, its cap and its expiry."""
from __future__ import annotations

import dataclasses
import itertools
import json
from types import SimpleNamespace

import pytest

from bifrost_streams.kafka.batching import set_current_event
from bifrost_streams.records import DlqEvent
from tables import changelog, dead_letters
from tests.support.events import FakeEvent

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def table(monkeypatch):
    """The table with its changelog writes captured, on a worker owning partitions 0 and 1."""
    sent = []

    def send_changelog(partition, key, value, **_):
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))  # as Faust's
    monkeypatch.setattr(dead_letters.dead_letters, "send_changelog", send_changelog)
    monkeypatch.setattr(changelog, "owned_partitions", lambda app, topic: {0, 1})
    dead_letters.dead_letters.data.clear()
    dead_letters._trim_above[0] = 0
    yield sent
    dead_letters.dead_letters.data.clear()
    set_current_event(None)


def _settings(monkeypatch, **changes):
    monkeypatch.setattr(dead_letters, "settings",
                        dataclasses.replace(dead_letters.settings, **changes))


def _event(job_id, payload, offset=7, partition=0):
    return DlqEvent(schema_version=1, job_id=job_id, idempotency_key=None,
                    error_code="LOG_NOT_FOUND", error_message="no row", trace_id="t",
                    original_topic="analysis.request", original_partition=partition,
                    original_offset=offset, failed_at="2026-01-31T10:00:02.123",
                    payload=payload)


def _record(event, partition=0):
    current = FakeEvent(partition)  # kept alive: the current event is held by a weak reference
    set_current_event(current)
    dead_letters.record(event)


def test_an_entry_keeps_a_redacted_bounded_excerpt_and_where_the_request_lies(table):
    payload = {"job_id": "j-1", "log_content": f"ERROR login password=hunter2hunter2 "
                                               f"key {AWS_KEY} " + "x" * (1 << 20)}
    _record(_event("j-1", payload, offset=1841, partition=1), partition=1)
    entry = dead_letters.dead_letters.data["j-1"]
    assert "payload" not in entry
    assert (entry["original_topic"], entry["original_partition"], entry["original_offset"]) == (
        "analysis.request", 1, 1841)
    assert len(entry["excerpt"]) == dead_letters.EXCERPT_CHARS
    assert entry["excerpt"].endswith(dead_letters.CUT) and entry["excerpt"].startswith('{"job_id"')
    assert "hunter2" not in entry["excerpt"] and AWS_KEY not in entry["excerpt"]
    assert entry["redrivable"] is True and entry["failures"] == 1
    assert len(json.dumps(entry)) < 4096  # from a payload of more than 1 MiB


def test_a_secret_across_the_excerpts_end_is_redacted_before_the_cut(table):
    # The key starts 15 characters before the cut.
    head = "ERROR " + "y" * (dead_letters.EXCERPT_CHARS - 40)
    _record(_event("j-2", {"log_content": f"{head} {AWS_KEY} tail"}))
    excerpt = dead_letters.dead_letters.data["j-2"]["excerpt"]
    assert AWS_KEY[:12] not in excerpt and len(excerpt) == dead_letters.EXCERPT_CHARS


def test_payloads_that_are_not_requests_are_marked_not_redrivable(table):
    _record(_event(None, {"raw": "{not json"}, offset=3))
    entry = dead_letters.dead_letters.data["analysis.request/0@3"]
    assert entry["redrivable"] is False and entry["excerpt"] == '{"raw": "{not json"}'


def test_the_least_recently_failed_leave_beyond_the_cap_with_tombstones(table, monkeypatch):
    _settings(monkeypatch, dlq_max_entries=10)
    clock = itertools.count(1)
    monkeypatch.setattr(dead_letters.time, "time", lambda: float(next(clock)))
    for i in range(100):
        _record(_event(f"job-{i}", {"job_id": f"job-{i}"}, offset=i), partition=i % 2)
        owned = len(dead_letters.dead_letters.data)
        assert owned <= 10, f"{owned} entries after {i + 1} dead letters"
    kept = set(dead_letters.dead_letters.data.keys())
    assert "job-99" in kept and "job-0" not in kept
    tombstones = [(partition, key) for partition, key, value in table if value is None]
    assert len(tombstones) == 100 - len(kept)
    # Each tombstone goes to the partition the entry was written under.
    assert all(partition == int(key.split("-")[1]) % 2 for partition, key in tombstones)
    assert not kept & {key for _, key in tombstones}


def test_dead_letters_expire_after_the_retention(table, monkeypatch):
    _settings(monkeypatch, dlq_retention_seconds=3600.0)
    monkeypatch.setattr(dead_letters.time, "time", lambda: 1000.0)
    _record(_event("old", {"job_id": "old"}))
    monkeypatch.setattr(dead_letters.time, "time", lambda: 4000.0)
    _record(_event("new", {"job_id": "new"}, offset=8), partition=1)
    assert dead_letters.expire(4600.0) == 1
    assert list(dead_letters.dead_letters.data.keys()) == ["new"]
    assert (0, "old", None) in table
    assert dead_letters.expire(7600.0) == 1 and not dead_letters.dead_letters.data


def test_a_standby_copy_is_neither_expired_nor_trimmed_here(table, monkeypatch):
    _settings(monkeypatch, dlq_max_entries=10)
    for i in range(15):
        _record(_event(f"standby-{i}", {"job_id": "x"}, offset=i, partition=2), partition=2)
    assert len(dead_letters.dead_letters.data) == 15
    assert dead_letters.expire(10 ** 12) == 0 and dead_letters.trim() == 0
    assert len(dead_letters.dead_letters.data) == 15
    assert all(value is not None for _, _, value in table)  # no tombstone
