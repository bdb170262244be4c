"""The throttle's window arithmetic, on a clock the test moves."""
from __future__ import annotations

from bifrost_streams.alerts.throttle import Throttle


def _send(throttle: Throttle, now: float) -> bool:
    if throttle.allows(now):
        throttle.record(now)
        return True
    return False


def test_five_pass_in_a_burst_and_the_sixth_waits_for_the_first_to_age_out():
    throttle = Throttle(5, 60)
    assert [_send(throttle, 100 + i * 0.1) for i in range(7)] == [True] * 5 + [False] * 2
    assert throttle.opens_at(101) == 160
    assert not throttle.allows(159.99)
    assert throttle.allows(160)


def test_the_window_slides_rather_than_resetting_on_the_minute():
    throttle = Throttle(5, 60)
    for t in (50, 51, 52, 53, 54):  # the end of one minute...
        assert _send(throttle, t)
    assert not _send(throttle, 61)  # ...leaves no room at the start of the next
    assert _send(throttle, 110)  # 50 aged out
    assert not _send(throttle, 110.5)
    assert throttle.opens_at(110.5) == 111


def test_a_limit_of_one_spaces_messages_a_window_apart():
    throttle = Throttle(1, 10)
    assert _send(throttle, 0)
    assert not _send(throttle, 9.9)
    assert _send(throttle, 10)
    assert throttle.opens_at(10) == 20


def test_retry_after_pauses_even_an_empty_window():
    throttle = Throttle(5, 60)
    throttle.pause_until(30)
    assert not throttle.allows(29.9)
    assert throttle.opens_at(0) == 30
    assert throttle.allows(30)
    throttle.pause_until(10)  # an earlier pause does not shorten a later one
    assert throttle.opens_at(0) == 30


def test_opens_at_is_now_when_there_is_room():
    throttle = Throttle(5, 60)
    _send(throttle, 0)
    assert throttle.opens_at(1) == 1
