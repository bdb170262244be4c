from bifrost_streams.providers.breaker import CLOSED, HALF_OPEN, OPEN, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_over_half_failures_then_half_opens_after_the_wait():
    clock, changes = Clock(), []
    breaker = Breaker(min_calls=4, open_seconds=60, clock=clock, on_change=changes.append)
    for success in (True, False, False):
        assert breaker.allow()
        breaker.record(success)
    assert breaker.state == CLOSED  # 3 calls: not enough to judge
    breaker.record(False)  # 3 of 4 failed
    assert breaker.state == OPEN and not breaker.allow()
    clock.now = 59.9
    assert not breaker.allow()
    clock.now = 60.0
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow(), "one trial call at a time"
    breaker.record(True)
    assert breaker.state == CLOSED and breaker.allow()
    assert changes == [OPEN, HALF_OPEN, CLOSED]


def test_a_failed_trial_opens_it_again():
    clock = Clock()
    breaker = Breaker(min_calls=2, open_seconds=10, clock=clock)
    breaker.record(False)
    breaker.record(False)
    clock.now = 10
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state == OPEN and not breaker.allow()


def test_exactly_half_failures_keeps_it_closed():
    breaker = Breaker(min_calls=4)
    for success in (True, False, True, False):
        breaker.record(success)
    assert breaker.state == CLOSED
