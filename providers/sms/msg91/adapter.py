"""MSG91 behind the SMS provider port.

Sources (public MSG91 documentation, checked 2026-12-06):
- Send: the v2 JSON send, ``POST https://api.msg91.com/api/v2/sendsms`` with the ``authkey``
  header and ``{"sender", "route", "country", "DLT_TE_ID", "sms": [{"message", "to": [...]}]}``,
  answered ``{"type": "success", "message": "<request id>"}`` (MSG91's own example, quoted in
  https://github.com/Sunbird-Lern/Community/blob/main/learn/product-and-developer-guide/user-and-org-service/configuration/sms-configuration.md,
  and its Node library https://github.com/MSG91/MSG91-node: route 4 transactional, 1
  promotional). ``PE_ID`` carries the DLT Principal Entity ID.
- Credentials: the balance, ``GET https://api.msg91.com/api/balance.php?type=4``
  (https://api.msg91.com/apidoc/basic/route-balance.php); the key goes in the ``authkey``
  header, never in the URL. No dedicated key check is documented.
- IP security (on by default for a new key): calls from an address not on the key's whitelist
  are refused with error 418 (https://msg91.com/help/what-do-you-mean-by-api-security), seen as
  an HTTP status or as the code of a 200 answer.
- Delivery reports and error codes: see ``words.py``.

Why the v2 send and not the v5 Flow API: ``sendSms(body)`` sends the body the caller wrote. The
Flow API sends an MSG91 template by its MSG91 id and fills its variables, so the body would be
MSG91's template, not ours; the v2 send carries our body as the message text, with the DLT
template id (``DLT_TE_ID``) it matches, which India's DLT scrubbing checks.

Inbound replies are not supported: MSG91 delivers them only to a purchased virtual number with
a keyword, which this service does not manage; the read and write of an inbound webhook refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.vocabulary import ErrorCode, MessageStatus, SmsProvider, SmsRoute, VerificationFailure
from providers.sms.errors import ProviderRefused, Reason
from providers.sms.msg91 import words
from providers.sms.msg91.client import (
    PROMOTIONAL_ROUTE,
    TRANSACTIONAL_ROUTE,
    Msg91Client,
    Msg91Rejected,
)
from providers.sms.port import (
    AccountFacts,
    Credentials,
    DeliveryReport,
    Form,
    Headers,
    InboundSms,
    InboundWebhook,
    OutgoingSms,
    Secrets,
    SentSms,
    WebhookAnswer,
)

# The hosts of MSG91's API: the default allow-list of MSG91 accounts' Base URLs.
DEFAULT_HOSTS = "api.msg91.com,control.msg91.com"
DEFAULT_BASE_URL = "https://api.msg91.com/"
# India's DLT headers for transactional and service messages: 6 letters.
DLT_HEADER = re.compile(r"[A-Za-z]{6}")
_ROUTES = {SmsRoute.TRANSACTIONAL: TRANSACTIONAL_ROUTE, SmsRoute.PROMOTIONAL: PROMOTIONAL_ROUTE}
INDIA = "+91"


def _refused(rejected: Msg91Rejected, reason: Reason) -> ProviderRefused:
    return ProviderRefused(
        reason, code=rejected.code, description=rejected.description, cause=rejected.cause
    )


def _reason(rejected: Msg91Rejected) -> Reason:
    """What MSG91's refusal means beyond the one request."""
    if rejected.reason is not ErrorCode.PROVIDER_REJECTED:
        return rejected.reason  # the whitelist refusal
    if rejected.code in words.BAD_CREDENTIALS or rejected.status in (401, 403):
        return VerificationFailure.INVALID_CREDENTIALS
    if rejected.code in words.SENDER_REFUSED:
        return VerificationFailure.INVALID_FROM_NUMBER
    if rejected.code in words.ACCOUNT_CLOSED:
        return VerificationFailure.ACCOUNT_SUSPENDED
    return ErrorCode.PROVIDER_REJECTED


def send_payload(message: OutgoingSms) -> dict[str, Any]:
    """The v2 send's JSON for one message to one recipient."""
    india = message.to.startswith(INDIA)
    payload: dict[str, Any] = {
        "sender": message.sender,
        "route": _ROUTES[message.route or SmsRoute.TRANSACTIONAL],
        # 91: a number of India without its country code; 0: an international number in full.
        "country": "91" if india else "0",
        "sms": [
            {"message": message.body, "to": [message.to.removeprefix(INDIA if india else "+")]}
        ],
    }
    if not message.body.isascii():
        payload["unicode"] = 1
    if message.dlt_template_id:
        payload["DLT_TE_ID"] = message.dlt_template_id
    if message.dlt_entity_id:
        payload["PE_ID"] = message.dlt_entity_id
    return payload


class Msg91Sms:
    """The port's methods on MSG91's API (``Msg91Client``) and its delivery-report webhook."""

    provider = SmsProvider.MSG91
    label = "MSG91"
    inbound_answer = WebhookAnswer("", "text/plain")
    takes_dlt_template_id = True  # DLT scrubbing matches the body against this template
    reports_per_account = True  # one webhook per MSG91 account, set in its panel
    wires_inbound_webhook = False  # replies need a purchased virtual number and keyword

    def __init__(self, client: Msg91Client) -> None:
        self.client = client

    async def check_account(self, credentials: Credentials) -> AccountFacts:
        try:
            await self.client.balance(credentials)
        except Msg91Rejected as rejected:
            reason = _reason(rejected)
            if reason is VerificationFailure.ACCOUNT_SUSPENDED:
                return AccountFacts(suspended=True, trial=None)
            if reason is ErrorCode.PROVIDER_REJECTED:  # any other refusal of the key itself
                reason = VerificationFailure.INVALID_CREDENTIALS
            raise _refused(rejected, reason) from None
        return AccountFacts(suspended=False, trial=None)

    async def check_sender(self, credentials: Credentials, sender: str) -> None:
        # MSG91 documents no read of a key's sender IDs: the header's form is what can be
        # checked before a send (a refused header fails the account on its first send).
        if not DLT_HEADER.fullmatch(sender):
            raise ProviderRefused(
                VerificationFailure.INVALID_FROM_NUMBER,
                description="An MSG91 Sender ID is a DLT header of 6 letters.",
                cause="the sender is not a 6-letter header",
            )

    async def send(self, credentials: Credentials, message: OutgoingSms) -> SentSms:
        try:
            request_id = await self.client.send(credentials, send_payload(message))
        except Msg91Rejected as rejected:
            raise _refused(rejected, _reason(rejected)) from None
        return SentSms(provider_message_id=request_id, status=MessageStatus.ACCEPTED, segments=None)

    def describe_error(self, code: int) -> str:
        return words.describe(code)

    def signature_valid(self, url: str, form: Form, headers: Headers, secrets: Secrets) -> bool:
        return False  # MSG91 signs nothing: its reports come to a URL with a secret token

    def delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        return None  # no per-message callback: see account_reports

    def account_reports(self, body: bytes, media_type: str) -> list[DeliveryReport]:
        return words.account_reports(body, media_type)

    def inbound_message(self, form: Mapping[str, str]) -> InboundSms | None:
        return None  # inbound replies are not supported for MSG91

    async def inbound_webhook(self, credentials: Credentials, sender: str) -> InboundWebhook:
        raise _no_inbound()

    async def set_inbound_webhook(
        self, credentials: Credentials, sender: str, webhook: InboundWebhook
    ) -> InboundWebhook:
        raise _no_inbound()


def _no_inbound() -> ProviderRefused:
    return ProviderRefused(
        ErrorCode.PROVIDER_REJECTED,
        description="Inbound replies are not supported for MSG91 accounts.",
        cause="MSG91 inbound needs a virtual number",
    )
