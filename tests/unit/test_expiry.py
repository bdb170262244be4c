"""Expiry is ours: expired entries leave the local store and a tombstone reaches the changelog."""
from __future__ import annotations

from types import SimpleNamespace

from tables import changelog, jobs, results


def _record_changelog(monkeypatch, table):
    sent = []
    monkeypatch.setattr(table, "send_changelog",
                        lambda partition, key, value, **kw: sent.append((partition, key, value)))
    table.data.clear()
    return sent


def test_cache_sweep_tombstones_expired_entries_only(monkeypatch):
    sent = _record_changelog(monkeypatch, results.results)
    results.results.data["old"] = {"summary": "x", "stored_at": 100.0, "partition": 2}
    results.results.data["new"] = {"summary": "y", "stored_at": 990.0, "partition": 1}
    assert changelog.sweep(results.results, now=1000.0, ttl=60.0) == 1
    assert "old" not in results.results.data and "new" in results.results.data
    # the tombstone goes to the partition the key hashes to, like the write did
    assert sent == [(results.results.partition_for_key("old"), "old", None)]
    assert 0 <= sent[0][0] < 3


def test_jobs_sweep_touches_only_owned_partitions(monkeypatch):
    sent = _record_changelog(monkeypatch, jobs.jobs)
    jobs.jobs.data["mine"] = {"state": "DONE", "stored_at": 0.0, "partition": 0}
    jobs.jobs.data["theirs"] = {"state": "DONE", "stored_at": 0.0, "partition": 1}
    assert changelog.sweep(jobs.jobs, now=1000.0, ttl=10.0, partitions={0}) == 1
    assert sent == [(0, "mine", None)]
    assert "theirs" in jobs.jobs.data


def test_an_expired_cache_entry_reads_as_a_miss():
    assert changelog.expired({"stored_at": 0.0}, now=100.0, ttl=50.0)
    assert not changelog.expired({"stored_at": 80.0}, now=100.0, ttl=50.0)
    assert not changelog.expired(None, now=100.0, ttl=50.0)


def test_remembered_cache_entries_expire_and_leave_with_the_sweep(monkeypatch):
    sent = []

    def send_changelog(partition, key, value, **_kwargs):
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))
    monkeypatch.setattr(results.results, "send_changelog", send_changelog)
    results.results.data.clear()
    monkeypatch.setattr(results, "_recent", {})
    now = [1000.0]
    monkeypatch.setattr(results.time, "time", lambda: now[0])
    monkeypatch.setattr(changelog, "stamp", lambda value, at: {**value, "stored_at": at})
    results.store("k", {"summary": "x"})
    results.results.data.clear()  # a hit now comes from memory alone
    assert results.lookup("k")["summary"] == "x"
    now[0] = 1000.0 + results.settings.cache_ttl_seconds
    results.results.data["k"] = {"summary": "x", "stored_at": 1000.0}
    assert results.lookup("k") is None  # expired: gone from memory and from the table
    assert "k" not in results._recent and "k" not in results.results.data
    assert "k" in [key for _, key, value in sent if value is None]
    results.store("k2", {"summary": "y"})
    results.expire()  # the sweep may remove entries: memory forgets all
    assert results._recent == {}
