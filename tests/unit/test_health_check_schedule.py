"""When a verified account is due its next health check: the interval, ±10 % per account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from resolvers.verification import next_health_check

CHECKED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
DAY = 86_400.0


def offsets(count: int) -> list[float]:
    ids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(count)]
    return [(next_health_check(i, CHECKED, DAY) - CHECKED).total_seconds() / DAY for i in ids]


def test_each_account_is_due_within_ten_percent_of_the_interval() -> None:
    assert all(0.9 <= offset <= 1.1 for offset in offsets(10_000))


def test_ten_thousand_accounts_checked_together_come_due_spread_out() -> None:
    found = offsets(10_000)
    # Twenty buckets of a hundredth of the interval each: none holds much more than its share.
    buckets = [0] * 20
    for offset in found:
        buckets[min(int((offset - 0.9) * 100), 19)] += 1
    assert max(buckets) < 2 * 10_000 / 20


def test_an_account_keeps_its_offset_from_one_check_to_the_next() -> None:
    account_id = str(uuid.uuid4())
    later = datetime(2026, 12, 25, tzinfo=UTC)
    assert next_health_check(account_id, later, DAY) - later == (
        next_health_check(account_id, CHECKED, DAY) - CHECKED
    )
