"""The templates table follows the miner's bounds: what the miner lets go leaves the table."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bifrost_streams.mining.miner import MinerConfig, TemplateMiner
from tables import templates


@pytest.fixture
def tombstones(monkeypatch):
    sent = []

    def send_changelog(partition, key, value, **_):
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))
    monkeypatch.setattr(templates.templates, "send_changelog", send_changelog)
    monkeypatch.setattr(templates, "miner", TemplateMiner(
        MinerConfig(max_templates_per_service=2), on_evict=templates._forget))
    templates.templates.data.clear()
    yield sent
    templates.templates.data.clear()


def test_an_evicted_template_leaves_the_table_and_is_new_again_when_it_returns(tombstones):
    first = templates.classify("svc", "ERROR disk full")
    templates.classify("svc", "ERROR disk almost full")
    third = templates.classify("svc", "ERROR disk quota exceeded")
    assert first.is_new and third.is_new
    assert first.template_id not in templates.templates.data
    assert len(templates.templates.data) == 2
    removed = [(p, key) for p, key, value in tombstones if value is None]
    assert removed == [(templates.templates.partition_for_key(first.template_id),
                        first.template_id)]
    again = templates.classify("svc", "ERROR disk full")
    assert again.template_id == first.template_id and again.is_new
    assert not templates.classify("svc", "ERROR disk full").is_new


def test_entries_the_miner_does_not_hold_leave_after_a_while(tombstones):
    held = templates.classify("svc", "ERROR disk full")
    templates.templates.data["svc:0000000000000000"] = {
        "service": "svc", "template": "ERROR from before a restart", "first_seen": 0.0}
    assert templates.sweep(templates.KEEP_SECONDS - 1) == 0
    assert templates.sweep(templates.KEEP_SECONDS) == 1
    assert list(templates.templates.data.keys()) == [held.template_id]
    # One the miner holds stays, however old.
    assert templates.sweep(10 ** 12) == 0
