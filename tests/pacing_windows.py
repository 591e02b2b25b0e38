"""Measuring a pace: the most segments any one-second window holds."""

from __future__ import annotations

from collections.abc import Sequence


def busiest_window(sent: Sequence[tuple[float, int]], window: float = 1.0) -> int:
    """The most segments sent in any closed window of ``window`` seconds: ``sent`` holds
    (when it left, its segments). The busiest window starts at some send, so those are tried."""
    ordered = sorted(sent)
    busiest = 0
    end = 0
    total = 0
    for start, (at, _) in enumerate(ordered):
        while end < len(ordered) and ordered[end][0] <= at + window + 1e-9:
            total += ordered[end][1]
            end += 1
        busiest = max(busiest, total)
        total -= ordered[start][1]
    return busiest
