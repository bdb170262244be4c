"""Template windows follow the requests' timestamps, bounded: a request dated in the future
or long past counts as now, so it cannot hold /templates' newest window."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from tables import template_counts

NOW = 1_800_000_030.0  # 30 s into a minute and into an hour (1_800_000_000 is both)
YEAR_2099 = datetime(2099, 1, 1, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("event_time, window, start", [
    (NOW - 5, "1m", 1_800_000_000),  # this minute
    (NOW - 70, "1m", 1_799_999_940),  # the last one: kept, a backlog counts where it was
    (YEAR_2099, "1m", 1_800_000_000),  # the future counts now
    (NOW + 61, "1h", 1_800_000_000),
    (NOW - 11 * 60 - 30, "1m", 1_800_000_000),  # expired windows count now ...
    (NOW - 11 * 60 - 30, "1h", 1_799_996_400),  # ... the last hour is not expired yet
    (NOW - 5 * 3600, "1h", 1_800_000_000),
    (0.0, "1h", 1_800_000_000), (-0.001, "1m", 1_800_000_000),  # no timestamp at all
    (float("nan"), "1m", 1_800_000_000), (float("inf"), "1h", 1_800_000_000),
    (None, "1m", 1_800_000_000),
])
def test_an_event_counts_in_its_window_unless_that_is_in_the_future_or_expired(
        event_time, window, start):
    assert template_counts.window_start(event_time, window, NOW) == start


@pytest.fixture
def counting(monkeypatch):
    template_counts._totals.clear()
    template_counts.counts.data.clear()
    stamp = [time.time()]
    monkeypatch.setattr(template_counts, "current_event", lambda: SimpleNamespace(
        message=SimpleNamespace(partition=0, timestamp=stamp[0])))
    yield stamp
    template_counts._totals.clear()
    template_counts.counts.data.clear()


def test_an_event_dated_2099_does_not_pin_the_templates_view(counting):
    before = time.time()
    counting[0] = YEAR_2099
    assert template_counts.count("svc:future", "ERROR") == {"1m": 1, "1h": 1}
    counting[0] = time.time()
    assert template_counts.count("svc:now", "ERROR") == {"1m": 1, "1h": 1}
    now = time.time()
    for window, size in template_counts.WINDOWS.items():
        start, ranked = template_counts.top(window, 10)
        # The current window (the one of `before`, should a minute have turned meanwhile).
        assert start in (int(before // size * size), int(now // size * size)), window
        assert {template for (_, template, _), _ in ranked} == {"svc:future", "svc:now"}


def test_a_future_window_restored_from_the_changelog_is_not_shown_and_expires(counting):
    future = template_counts._key(0, "1m", int(YEAR_2099 // 60 * 60), "ERROR", "svc:old")
    template_counts.counts.data[future] = 7
    counting[0] = time.time()
    template_counts.count("svc:now", "ERROR")
    start, ranked = template_counts.top("1m", 10)
    assert start <= time.time() and [t for (_, t, _), _ in ranked] == ["svc:now"]
    assert template_counts._finished(future, time.time())


def test_past_the_key_cap_new_templates_share_one_overflow_count(counting, monkeypatch):
    import dataclasses
    monkeypatch.setattr(template_counts, "settings",
                        dataclasses.replace(template_counts.settings, max_templates=100))
    for index in range(50):  # two keys each: a minute and an hour
        template_counts.count(f"svc:t{index}", "ERROR")
    assert template_counts.count("svc:t0", "ERROR") == {"1m": 2, "1h": 2}  # known: its own
    assert template_counts.count("svc:new-1", "ERROR") == {"1m": 1, "1h": 1}
    assert template_counts.count("svc:new-2", "ERROR") == {"1m": 2, "1h": 2}  # shared
    template_counts.count("svc:new-3", "ERROR")
    assert len(template_counts._totals) == 102
    _, ranked = template_counts.top("1m", 1)
    assert ranked[0][0][1] == template_counts.OVERFLOW_TEMPLATE
