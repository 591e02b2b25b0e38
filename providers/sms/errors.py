"""The one exception tree of the SMS provider boundary.

Every failure an adapter reports is one of these, carrying our own reason (a
``VerificationFailure``, a finer ``FailureReason`` behind one, or an ``ErrorCode``), never a
vendor's code or text: a use case decides on ``reason`` alone. httpx errors never leave
``providers``.
"""

from __future__ import annotations

from typing import ClassVar

from domain.vocabulary import ErrorCode, FailureReason, VerificationFailure

Reason = VerificationFailure | FailureReason | ErrorCode


class SmsProviderError(Exception):
    """Base of every failure talking to a provider. Messages never carry upstream text or
    secrets. Without a finer class, what answered is not the provider's API: a Base URL problem."""

    default_reason: ClassVar[Reason] = VerificationFailure.BASE_URL

    def __init__(self, detail: str, *, reason: Reason | None = None) -> None:
        super().__init__(detail)
        self.reason: Reason = self.default_reason if reason is None else reason

    @property
    def cause(self) -> str:
        """The class at the bottom of the chain (``gaierror`` under ``ConnectError``), for logs:
        an operator needs the real cause, and a class name carries no secret or upstream text."""
        error: BaseException = self
        seen = {id(error)}
        while True:
            # Also through ``from None``: httpcore re-raises that way, and a class name is safe.
            below = error.__cause__ or error.__context__
            if below is None:
                return type(error).__name__
            if id(below) in seen:  # re-raised errors close loops: the one re-raised is the cause
                return type(below).__name__
            seen.add(id(below))
            error = below


class ProviderUnavailable(SmsProviderError):
    """The provider kept failing transiently (timeouts, 5xx, 429) until the retry budget ran
    out."""

    default_reason: ClassVar[Reason] = VerificationFailure.PROVIDER_UNAVAILABLE


class ProviderAskedToWait(ProviderUnavailable):
    """The provider answered 429 or 5xx with a Retry-After that ends after the call's retry
    budget: not a failure of the account, only a request to come back later (``retry_after``
    seconds; may be infinite). Whoever can do the work later reschedules it."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the provider asked to be called again later")
        self.retry_after = retry_after


class ProviderRateLimited(ProviderUnavailable):
    """The provider refused the request for its rate and did not process it: nothing was sent,
    so sending it again later is safe. ``retry_after``: the seconds it asked to wait (None: it
    did not say); ``code``: its own number, kept only to be shown. A one-off send is tried again
    within its call; a campaign send comes back at once and its engine backs off."""

    def __init__(self, retry_after: float | None = None, *, code: int | None = None) -> None:
        super().__init__("the provider refused the request for its rate; nothing was sent")
        self.retry_after = retry_after
        self.code = code


class SenderQueueFull(ProviderRateLimited):
    """The provider's queue for this sender is full: this message was not taken (safe to send
    again later), and the sender sends faster than the provider lets it out: slow it down."""


class ProviderUnreachable(ProviderUnavailable):
    """One of the provider's own hosts cannot be reached from this server (DNS, connection,
    TLS): the network between here and the provider is at fault (firewall, proxy), not the
    account's settings."""

    default_reason: ClassVar[Reason] = FailureReason.PROVIDER_UNREACHABLE


class BaseUrlUnreachable(SmsProviderError):
    """The Base URL cannot be reached at all, or what answers there is not the provider's API."""


class BaseUrlRefused(BaseUrlUnreachable):
    """The Base URL (or a host derived from it) is outside the current host policy: no request
    was made."""


class OutcomeUnknown(SmsProviderError):
    """The request went out but no answer came back (timeout, dropped connection, 5xx): the
    provider may or may not have acted on it. Never retried for sends (no idempotency key)."""

    default_reason: ClassVar[Reason] = ErrorCode.PROVIDER_UNAVAILABLE


class ProviderRefused(SmsProviderError):
    """The provider answered with a refusal, read by the adapter into ``reason``: what it means
    for us (bad credentials, a sender that is not the account's, a recipient who opted out, or
    ``PROVIDER_REJECTED`` when it concerns this request alone).

    ``code`` is the provider's own number, kept only to be shown (``SmsMessage.errorCode``) and
    logged; ``description`` is our sentence for it. No use case branches on ``code``.
    """

    def __init__(
        self,
        reason: Reason,
        *,
        code: int | None = None,
        description: str,
        cause: str,
    ) -> None:
        super().__init__(description, reason=reason)
        self.code = code
        self.description = description
        self._cause = cause

    @property
    def cause(self) -> str:
        return self._cause


class MalformedWebhook(SmsProviderError):
    """A signed webhook carries a value the provider never sends (or no column could keep): it
    is refused alone (400) before anything is written, so it cannot fail anyone else's report in
    the batch it would have joined. The message names the field in the provider's words."""

    default_reason: ClassVar[Reason] = ErrorCode.INVALID
