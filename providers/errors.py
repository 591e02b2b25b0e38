"""The one exception hierarchy of the Twilio boundary: httpx errors never leave ``providers``."""

from __future__ import annotations

from providers.error_codes import AUTHENTICATION_FAILED, NOT_FOUND


class TwilioError(Exception):
    """Base of every failure talking to Twilio. Messages never carry upstream text or secrets."""

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


class ProviderUnavailable(TwilioError):
    """Twilio kept failing transiently (timeouts, 5xx, 429) until the retry budget ran out."""


class TwilioAskedToWait(ProviderUnavailable):
    """Twilio answered 429 or 5xx with a Retry-After that ends after the call's retry budget:
    not a failure of the account, only a request to come back later (``retry_after`` seconds;
    may be infinite). Whoever can do the work later reschedules it."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("Twilio asked to be called again later")
        self.retry_after = retry_after


class TwilioUnreachable(ProviderUnavailable):
    """One of Twilio's own hosts cannot be reached from this server (DNS, connection, TLS): the
    network between here and Twilio is at fault (firewall, proxy), not the account's settings."""


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

    @property
    def bad_credentials(self) -> bool:
        """Twilio refused the Account SID / Auth Token pair itself (20003, or a bare 401)."""
        return self.code == AUTHENTICATION_FAILED or self.status == 401

    @property
    def no_such_resource(self) -> bool:
        """What was asked for is not there, or not visible to these credentials (20404, 403,
        404)."""
        return self.code == NOT_FOUND or self.status in (403, 404)

    @property
    def cause(self) -> str:
        return f"TwilioRejected(status {self.status}, code {self.code})"


class BaseUrlRefused(BaseUrlUnreachable):
    """The Base URL (or the messaging host derived from it) is outside the current host policy:
    no request was made."""
