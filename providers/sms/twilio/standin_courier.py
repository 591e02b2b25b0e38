"""What the Twilio stand-in posts after a send, and when: each message's status callbacks, then
the recipient's reply, signed as Twilio signs its webhooks.

``Courier`` keeps the deliveries due in one heap of at most ``cap`` messages, served by one
task with ``posts_at_once`` posts in flight (``POSTS_AT_ONCE`` by default): however long the
stand-in runs and however fast it is sent to, it holds no more than that (a send beyond is refused
by the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from providers.sms.twilio.signature import compute_signature

log = logging.getLogger("sms_accounts.standin")

POSTS_AT_ONCE = 16
API_VERSION = "2010-04-01"


@dataclass(slots=True)
class Delivery:
    """A sent message on its way: the statuses still to report, then the reply."""

    sid: str
    account_sid: str
    to: str
    sender: str  # the number it goes out from
    service_sid: str | None
    callback: str | None
    statuses: deque[str]
    error_code: int | None
    reply: str | None
    segments: int

    def status_form(self, status: str) -> list[tuple[str, str]]:
        """A status callback's form, as Twilio posts it."""
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("From", self.sender),
            ("MessageSid", self.sid),
            ("MessageStatus", status),
            ("NumSegments", str(self.segments)),
            ("SmsSid", self.sid),
            ("SmsStatus", status),
            ("To", self.to),
        ]
        if self.service_sid is not None:
            params.append(("MessagingServiceSid", self.service_sid))
        if status in ("undelivered", "failed") and self.error_code is not None:
            params.append(("ErrorCode", str(self.error_code)))
        return params

    def reply_form(
        self, sid: str, text: str, segments: int, service_sid: str | None
    ) -> list[tuple[str, str]]:
        """The recipient's answer, as Twilio posts an incoming SMS to the sender's number."""
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("Body", text),
            ("From", self.to),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("NumSegments", str(segments)),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", self.sender),
        ]
        if service_sid is not None:
            params.append(("MessagingServiceSid", service_sid))
        return params


def signed(
    url: str, params: Iterable[tuple[str, str]], auth_token: str, method: str = "POST"
) -> tuple[str, dict[str, str]]:
    """The URL to call and the headers of a webhook Twilio signs with ``auth_token``: HMAC-SHA1
    over the full URL, then (for a POST) each parameter's name and value sorted by name, base64.
    A GET carries the parameters in its query string, which the URL signed then includes."""
    pairs = list(params)
    if method == "GET":
        url = url + ("&" if urlsplit(url).query else "?") + urlencode(pairs)
        pairs = []
    signature = compute_signature(url, pairs, auth_token)
    return url, {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}


class Courier:
    """Runs each delivery's next step when due. ``step`` posts it and answers the delay until
    the one after, or None when the delivery is done."""

    def __init__(
        self, cap: int, posts_at_once: int, step: Callable[[Delivery], Awaitable[float | None]]
    ) -> None:
        self._cap = cap
        self._step = step
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self.pending = 0  # deliveries in the heap or being posted
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(posts_at_once)
        self._posting: set[asyncio.Task[None]] = set()

    def add(self, delivery: Delivery, delay: float) -> bool:
        """False when ``cap`` deliveries are already on their way."""
        if self.pending >= self._cap:
            return False
        self.pending += 1
        self._push(delivery, delay)
        return True

    def _push(self, delivery: Delivery, delay: float) -> None:
        due = asyncio.get_running_loop().time() + delay
        heapq.heappush(self._heap, (due, next(self._order), delivery))
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: a slot, then the next delivery due, posted in a task of its own."""
        while True:
            await self._slots.acquire()
            try:
                delivery = await self._next_due()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._post(delivery))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)

    async def aclose(self) -> None:
        """Cancel the posts in flight (``run`` is cancelled by its owner)."""
        for task in list(self._posting):
            task.cancel()
        await asyncio.gather(*self._posting, return_exceptions=True)

    async def _next_due(self) -> Delivery:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            wait = None
            if self._heap:
                wait = self._heap[0][0] - loop.time()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _post(self, delivery: Delivery) -> None:
        delay: float | None = None
        try:
            delay = await self._step(delivery)
        except Exception:
            log.exception("the stand-in could not post for message %s", delivery.sid)
        finally:
            self._slots.release()
        if delay is None:
            self.pending -= 1
        else:
            self._push(delivery, delay)
