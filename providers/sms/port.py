"""The SMS provider port: what the use cases ask of any provider, in our words.

An adapter (``providers/sms/twilio/``, ``providers/sms/msg91/``) implements it and keeps its
vendor's words to itself: field names, status words, error codes, signature schemes. The use
cases receive a ``dict[SmsProvider, SmsPort]`` and dispatch on the account's provider. Every
method either answers with one of the types below or raises one of ``providers.sms.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from domain.vocabulary import MessageStatus, SmsProvider, SmsRoute

# A webhook as it arrived: its form fields in order (a name may repeat), its headers, and the
# secrets it may be signed with (the current one, and the previous one for a while).
Form = Sequence[tuple[str, str]]
Headers = Mapping[str, str]
Secrets = Sequence[str]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an account signs in with: its client id (Twilio's Account SID), its secret (the Auth
    Token) and the API's base URL (normalized, ending with "/")."""

    client_id: str
    secret: str
    base_url: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(client_id={self.client_id!r}, base_url={self.base_url!r})"


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the provider says about the account behind the credentials."""

    suspended: bool  # suspended or closed: it cannot send
    trial: bool | None  # None: the provider did not say


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    sender: str  # the account's sender id (a number, a Messaging Service, a DLT header…)
    to: str  # E.164
    body: str
    status_callback: str | None  # where delivery reports for this message go (our URL)
    # India DLT: the account's Principal Entity ID and the registered template the body
    # matches (for providers that take them; see ``SmsPort.takes_dlt_template_id``).
    dlt_entity_id: str | None = None
    dlt_template_id: str | None = None
    route: SmsRoute | None = None  # the account's route, for providers that ask
    # When the provider refuses for its rate (nothing processed): True, the send is tried again
    # within its call (a one-off); False, ``ProviderRateLimited`` comes back at once and the
    # caller backs off (a campaign, which must not hand anything over after a pause).
    wait_out_rate_limits: bool = True


@dataclass(frozen=True, slots=True)
class SentSms:
    """The provider's answer to a send it accepted."""

    provider_message_id: str | None
    status: MessageStatus
    segments: int | None
    # An error the provider reported with an accepted send: its own code (shown as
    # ``SmsMessage.errorCode``, never read by a use case) and our sentence for it.
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A delivery report read from a webhook: the message and the status it reached."""

    provider_message_id: str
    status: MessageStatus
    error_code: int | None  # the provider's code, to be shown as errorCode


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A reply read from a webhook."""

    provider_message_id: str
    from_number: str
    to_number: str
    segments: int | None
    body: str
    opt: OptSignal | None = None  # the provider's own reading of it as STOP or START


class OptSignal(Enum):
    """A provider's own reading of a reply as an opt-out or an opt-in (our keywords count too)."""

    OPT_OUT = "OPT_OUT"
    OPT_IN = "OPT_IN"


@dataclass(frozen=True, slots=True)
class InboundWebhook:
    """Where a sender's replies are posted, as the provider has it: read before wiring our URL,
    and set back exactly as read when the wiring is undone.

    ``routing`` is whatever else decides where replies go, as the adapter alone reads it (Twilio:
    a number's SMS application, or whether a Messaging Service leaves inbound to its numbers);
    None means nothing overrides ``url``. Use cases store it and hand it back untouched.
    """

    url: str | None
    method: str | None  # "POST" or "GET"
    routing: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What a webhook is answered with once it was handled (Twilio: an empty TwiML document)."""

    body: str
    media_type: str


class SmsPort(Protocol):
    """One SMS provider, in our words."""

    provider: SmsProvider
    label: str  # the provider's name in sentences, e.g. "Twilio"
    inbound_answer: WebhookAnswer
    # Whether a send names the DLT template its body matches (required then, refused else).
    takes_dlt_template_id: bool
    # Whether delivery reports come to one URL per account (``account_reports``) rather than
    # to a callback named with each send.
    reports_per_account: bool
    # Whether its senders have an inbound webhook this server can point at itself (wiring).
    wires_inbound_webhook: bool

    async def check_account(self, credentials: Credentials) -> AccountFacts:
        """The account behind ``credentials``; ``ProviderRefused(INVALID_CREDENTIALS)`` when the
        credentials are not an account's."""
        ...

    async def check_sender(self, credentials: Credentials, sender: str) -> None:
        """Return when ``sender`` can send SMS for this account; otherwise ``ProviderRefused``
        with the reason (a From number, a Messaging Service, or the credentials)."""
        ...

    async def send(self, credentials: Credentials, message: OutgoingSms) -> SentSms:
        """Hand one message to the provider, at most once: ``OutcomeUnknown`` when the request
        left but no answer came; nothing is ever sent twice."""
        ...

    def describe_error(self, code: int) -> str:
        """Our sentence for one of the provider's error codes (never the provider's text)."""
        ...

    def signature_valid(self, url: str, form: Form, headers: Headers, secrets: Secrets) -> bool:
        """Whether the webhook posted to ``url`` with ``form`` was signed with any of
        ``secrets``."""
        ...

    def delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        """The delivery report a status webhook carries; None when it names no message or no
        status we know."""
        ...

    def account_reports(self, body: bytes, media_type: str) -> list[DeliveryReport]:
        """The delivery reports one post to an account's report URL carries (``body`` as it
        arrived, ``media_type`` without parameters); ``MalformedWebhook`` when it is not a post
        the provider makes. Empty for a provider without such a URL."""
        ...

    def inbound_message(self, form: Mapping[str, str]) -> InboundSms | None:
        """The reply an inbound webhook carries; None when it names no message or sender."""
        ...

    async def inbound_webhook(self, credentials: Credentials, sender: str) -> InboundWebhook:
        """Where ``sender``'s replies are posted now."""
        ...

    async def set_inbound_webhook(
        self, credentials: Credentials, sender: str, webhook: InboundWebhook
    ) -> InboundWebhook:
        """Point ``sender``'s replies at ``webhook`` (idempotent: retried like reads); what the
        provider then holds."""
        ...
