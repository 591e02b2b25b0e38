"""Pacing per sender, shared by every replica and worker, counted in message segments.

A provider counts a sender's throughput in segments per second (Twilio: a US long code 1,
toll-free 3, a short code 100 and more); past it, messages wait in the provider's queue and then
fail. Each account has ``send_rate_per_second``, and one row per sender in the database keeps
when its next segment may leave (a GCRA: "next free at"), so every process draws from the same
budget with one conditional upsert (``storage.pace_queries``).

The pace is a hard limit: never more than the rate plus one segment in any one-second window.
A message of n segments pays its gaps on both sides: it may leave only once n - 1 gaps have
passed since the pace's "next free at", which then moves n gaps past it. Single-segment traffic
runs at exactly the rate; a stream of long messages runs below it (that is the price of the
limit: a window can start just before one long message and end just after the next).

Two ways to draw:

- a **campaign claim** (``claim``) takes segments only if the budget allows now, else says how
  long to wait: campaign sends use only free budget;
- a **one-off reservation** (``wait_for_slot``, ``sendSms``) takes the next slot even if it lies
  in the future, and waits for it: one-offs go ahead of every campaign send not yet claimed. A
  slot further away than ``one_off_max_wait_seconds`` is not taken; the send is refused with
  ``SenderBusy`` (the caller says why and when to try again).

A sender the provider said is full (its queue) is slowed down: its gaps are multiplied by
``slow_factor`` for ``slow_seconds`` (``slow_down``).

"Now" is the servers' clock (``Services.clock``): replicas on several hosts keep their clocks
in sync (NTP); a skew of d seconds between two of them can add up to d x rate segments.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import pace_queries
from storage.pace_queries import Gaps, Pace

Sleep = Callable[[float], Awaitable[None]]

MIN_RATE = 0.1  # segments per second an admin may set, at least…
MAX_RATE = 500.0  # …and at most


@dataclass(frozen=True, slots=True)
class PaceRules:
    """The bounds of pacing (settings ``SMS_SEND_MAX_WAIT_SECONDS``,
    ``SMS_QUEUE_FULL_SLOWDOWN_FACTOR``, ``SMS_QUEUE_FULL_SLOWDOWN_SECONDS``,
    ``SMS_CAMPAIGN_CLAIM_AHEAD_SECONDS``)."""

    one_off_max_wait_seconds: float = 5.0
    slow_factor: float = 2.0
    slow_seconds: float = 60.0
    # A campaign batch whose first message is free now may also take the slots of the next
    # ones coming within this long (they leave at their slots): a batch carries several sends
    # in flight, so a provider answering in 50 ms does not cap a sender at 20 a second.
    campaign_ahead_seconds: float = 0.25


class SenderBusy(Exception):
    """A one-off send's slot is further away than it may wait: nothing was taken."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"the sender's next free slot is in {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


class Pacer:
    """Draws segments from each sender's shared budget (see the module's docstring)."""

    def __init__(
        self,
        reads: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        rules: PaceRules,
        clock: Callable[[], datetime],
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._reads = reads
        self._writes = writes
        self.rules = rules
        self._clock = clock
        self._sleep = sleep

    def _gaps(self, rate: float) -> Gaps:
        interval = 1.0 / rate
        return Gaps(interval, interval * self.rules.slow_factor)

    def _gap_at(self, gaps: Gaps, pace: Pace, now: float) -> float:
        slowed = pace.slowed_until is not None and pace.slowed_until > now
        return gaps.slow_interval if slowed else gaps.interval

    async def _take(
        self, account_id: str, rate: float, segments: int, horizon: float
    ) -> tuple[float, float]:
        """(now, the slot taken), or (now, inf) when none was within ``horizon``."""
        now = self._clock().timestamp()
        gaps = self._gaps(rate)
        async with self._writes() as session:
            taken = await pace_queries.take(
                session, account_id, segments=segments, gaps=gaps, now=now, horizon=horizon
            )
            await session.commit()
        if taken is None:
            return now, math.inf
        return now, taken.next_free_at - segments * self._gap_at(gaps, taken, now)

    async def _wait_hint(self, account_id: str, rate: float, segments: int, now: float) -> float:
        """How long until a message of ``segments`` could leave, as the pace is now."""
        async with self._reads() as session:
            pace = await pace_queries.pace_of(session, account_id)
        if pace is None:
            return 0.0
        gap = self._gap_at(self._gaps(rate), pace, now)
        return max(0.0, pace.next_free_at + (segments - 1) * gap - now)

    async def claim(self, account_id: str, rate: float, segments: int) -> float:
        """A campaign send: take ``segments`` if the budget allows now and answer 0; else take
        nothing and answer how many seconds to wait before asking again."""
        now, slot = await self._take(account_id, rate, segments, 0.0)
        if slot != math.inf:
            return 0.0
        # Never 0: a slot that was free a moment ago was taken by someone else.
        return max(await self._wait_hint(account_id, rate, segments, now), 0.001)

    async def claim_batch(
        self, account_id: str, rate: float, sizes: Sequence[int]
    ) -> tuple[list[float], float]:
        """Campaign sends of ``sizes`` segments, in order: the first only if the budget allows
        now, then each next one whose slot comes within ``campaign_ahead_seconds``. Answers the
        seconds each one taken must wait before it leaves, and, when none was taken, how long to
        wait before asking again."""
        delays: list[float] = []
        for size in sizes:
            horizon = self.rules.campaign_ahead_seconds if delays else 0.0
            now, slot = await self._take(account_id, rate, size, horizon)
            if slot == math.inf:
                break
            delays.append(max(0.0, slot - now))
        if delays or not sizes:
            return delays, 0.0
        wait = await self._wait_hint(account_id, rate, sizes[0], self._now())
        return [], max(wait, 0.001)  # never 0: the slot free a moment ago was taken

    def _now(self) -> float:
        return self._clock().timestamp()

    async def wait_for_slot(self, account_id: str, rate: float, segments: int) -> None:
        """A one-off send: reserve the sender's next slot (ahead of campaign sends) and wait
        until it comes. Raises ``SenderBusy`` when it is further than the rules allow."""
        horizon = self.rules.one_off_max_wait_seconds
        now, slot = await self._take(account_id, rate, segments, horizon)
        if slot == math.inf:
            raise SenderBusy(await self._wait_hint(account_id, rate, segments, now))
        if slot > now:
            await self._sleep(slot - now)

    async def slow_down(self, account_id: str) -> None:
        """The provider's queue for this sender is full: slow it down for a while."""
        now = self._clock().timestamp()
        async with self._writes() as session:
            await pace_queries.slow_down(
                session, account_id, now=now, until=now + self.rules.slow_seconds
            )
            await session.commit()
