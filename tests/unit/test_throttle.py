"""The failed-authentication counter: one-second windows per address, bounded memory."""

from __future__ import annotations

from api.throttle import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_failure_past_the_limit_is_told_to_wait_until_the_window_ends() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, 100, clock)

    assert [limiter.failed("10.0.0.1") for _ in range(2)] == [None, None]
    clock.now += 0.25
    assert limiter.failed("10.0.0.1") == 1
    assert limiter.failed("10.0.0.2") is None, "another address has its own window"
    clock.now += 0.75
    assert limiter.failed("10.0.0.1") is None, "a new second, a new window"


def test_many_addresses_never_grow_it_past_its_bound() -> None:
    clock = Clock()
    limiter = FailureLimiter(1, 100, clock)

    for number in range(10_000):
        limiter.failed(f"10.0.{number // 256}.{number % 256}")
        clock.now += 0.001

    assert len(limiter) == 100
    # The most recent addresses are still counted.
    assert limiter.failed("10.0.39.15") == 1
