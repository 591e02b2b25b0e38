"""Failed authentication is slowed: too many failed key or signature checks from one client
address in one second answer 429 with ``Retry-After``. Successes are never counted."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.types import Scope

WINDOW_SECONDS = 1.0


def client_address(scope: Scope) -> str:
    """The peer address of the connection (proxy headers are not trusted: they are spoofable)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class FailureLimiter:
    """Counts failures per address in one-second windows.

    Memory is bounded: at most ``max_addresses`` windows are kept; when full, the oldest window
    goes (usually long expired; an attacker with that many addresses can at worst make the
    limiter forget an address early, never make it grow).
    """

    def __init__(
        self,
        per_second: int,
        max_addresses: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.max_addresses = max_addresses
        self.clock = clock
        # address -> [window start, failures]; insertion order is window-start order.
        self._windows: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def failed(self, address: str) -> int | None:
        """Record a failure; the seconds to wait (for ``Retry-After``) once over the limit."""
        now = self.clock()
        window = self._windows.get(address)
        if window is None or now - window[0] >= WINDOW_SECONDS:
            self._windows.pop(address, None)
            self._make_room()
            window = self._windows[address] = [now, 0]
        window[1] += 1
        if window[1] <= self.per_second:
            return None
        return max(1, math.ceil(window[0] + WINDOW_SECONDS - now))

    def _make_room(self) -> None:
        while len(self._windows) >= self.max_addresses:
            self._windows.pop(next(iter(self._windows)))
