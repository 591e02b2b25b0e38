"""The one exception hierarchy of the Twilio boundary: httpx errors never leave ``providers``."""

from __future__ import annotations


class TwilioError(Exception):
    """Base of every failure talking to Twilio. Messages never carry upstream text or secrets."""


class ProviderUnavailable(TwilioError):
    """Twilio kept failing transiently (timeouts, 5xx, 429) until the retry budget ran out."""


class BaseUrlUnreachable(TwilioError):
    """The Base URL cannot be reached at all, or what answers there is not Twilio's JSON API."""


class OutcomeUnknown(TwilioError):
    """The request went out but no answer came back (timeout, dropped connection, 5xx): Twilio
    may or may not have acted on it. Never retried for sends (no idempotency key)."""


class TwilioRejected(TwilioError):
    """Twilio answered the request with an error: its HTTP status and numeric error code."""

    def __init__(self, status: int, code: int | None) -> None:
        super().__init__(f"Twilio answered {status} (code {code})")
        self.status = status
        self.code = code


class BaseUrlRefused(BaseUrlUnreachable):
    """The Base URL (or the messaging host derived from it) is outside the current host policy:
    no request was made."""
