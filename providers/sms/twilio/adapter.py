"""Twilio behind the SMS provider port: the client's answers and refusals read into our words."""

from __future__ import annotations

from collections.abc import Mapping

from domain.vocabulary import ErrorCode, MessageStatus, SmsProvider, VerificationFailure
from providers.sms.errors import ProviderRefused, Reason, SenderQueueFull
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
from providers.sms.twilio import words
from providers.sms.twilio.client import IncomingNumber, TwilioClient, TwilioRejected
from providers.sms.twilio.error_codes import (
    AUTHENTICATION_FAILED,
    NOT_FOUND,
    QUEUE_FULL,
    RECIPIENT_UNSUBSCRIBED,
    SENDER_GONE,
    describe,
)
from providers.sms.twilio.signature import is_valid_signature

SIGNATURE_HEADER = "x-twilio-signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# A Messaging Service that leaves inbound to each number's own webhook (Twilio's
# ``UseInboundWebhookOnNumber``), as ``InboundWebhook.routing`` carries it.
NUMBERS_ROUTE_INBOUND = "UseInboundWebhookOnNumber"


def is_phone_number(sender: str) -> bool:
    """Twilio's two kinds of sender: a From number (E.164), or a Messaging Service SID."""
    return sender.startswith("+")


def _refused(rejected: TwilioRejected, reason: Reason) -> ProviderRefused:
    """Twilio's refusal as the port's, with what it means for the call that was refused."""
    return ProviderRefused(
        reason, code=rejected.code, description=rejected.description, cause=rejected.cause
    )


def _send_reason(code: int | None) -> Reason:
    """What a refused send means beyond the message: a gone sender or bad credentials fail the
    account, a recipient who replied STOP is opted out."""
    if code == RECIPIENT_UNSUBSCRIBED:
        return ErrorCode.RECIPIENT_OPTED_OUT
    if code in SENDER_GONE:
        return VerificationFailure.INVALID_FROM_NUMBER
    if code == AUTHENTICATION_FAILED:
        return VerificationFailure.INVALID_CREDENTIALS
    return ErrorCode.PROVIDER_REJECTED


class TwilioSms:
    """The port's methods on Twilio's REST API (``TwilioClient``) and its webhooks."""

    provider = SmsProvider.TWILIO
    label = "Twilio"
    inbound_answer = WebhookAnswer(EMPTY_TWIML, "text/xml")
    takes_dlt_template_id = False  # Twilio matches the body to a DLT template itself
    reports_per_account = False  # each send names its StatusCallback
    wires_inbound_webhook = True  # a number's SmsUrl, a Messaging Service's InboundRequestUrl

    def __init__(self, client: TwilioClient) -> None:
        self.client = client

    async def check_account(self, credentials: Credentials) -> AccountFacts:
        try:
            info = await self.client.fetch_account(credentials)
        except TwilioRejected as rejected:
            # On the account itself, any refusal ("not found" included) means these
            # credentials are not an account.
            raise _refused(rejected, VerificationFailure.INVALID_CREDENTIALS) from None
        if info.sid != credentials.client_id:
            raise ProviderRefused(
                VerificationFailure.INVALID_CREDENTIALS,
                description="Another Twilio account answered for these credentials.",
                cause="another account answered",
            )
        return AccountFacts(suspended=not info.active, trial=info.trial)

    async def check_sender(self, credentials: Credentials, sender: str) -> None:
        if is_phone_number(sender):
            await self._number(credentials, sender)
            return
        failure = VerificationFailure.INVALID_MESSAGING_SERVICE
        try:
            service = await self.client.fetch_messaging_service(credentials, sender)
        except TwilioRejected as rejected:
            raise _refused(rejected, self._sender_reason(rejected, failure)) from None
        if service.sid != sender or service.account_sid != credentials.client_id:
            raise _not_on_account(failure)

    async def _number(self, credentials: Credentials, phone_number: str) -> IncomingNumber:
        """The account's SMS-capable number equal to ``phone_number`` (Twilio's filter matches
        partially, so the match is checked here)."""
        failure = VerificationFailure.INVALID_FROM_NUMBER
        try:
            numbers = await self.client.incoming_numbers(credentials, phone_number)
        except TwilioRejected as rejected:
            raise _refused(rejected, self._sender_reason(rejected, failure)) from None
        exact = [number for number in numbers if number.phone_number == phone_number]
        for number in exact:
            if number.sms:
                return number
        if exact:
            raise ProviderRefused(
                failure,
                description="This number of the Twilio account cannot send or receive SMS.",
                cause="the sender is not on this account",
            )
        raise _not_on_account(failure)

    @staticmethod
    def _sender_reason(rejected: TwilioRejected, failure: VerificationFailure) -> Reason:
        # On a sender, "not found" (404 / 20404) means the sender, not the account.
        return VerificationFailure.INVALID_CREDENTIALS if rejected.bad_credentials else failure

    async def send(self, credentials: Credentials, message: OutgoingSms) -> SentSms:
        try:
            sent = await self.client.send_message(
                credentials,
                to=message.to,
                body=message.body,
                sender=message.sender,
                status_callback=message.status_callback,
                wait_out_rate_limits=message.wait_out_rate_limits,
            )
        except TwilioRejected as rejected:
            if rejected.code == QUEUE_FULL:  # not taken: safe to send again, slower
                raise SenderQueueFull(code=rejected.code) from None
            raise _refused(rejected, _send_reason(rejected.code)) from None
        return SentSms(
            provider_message_id=sent.sid or None,
            status=words.message_status(sent.status) or MessageStatus.QUEUED,
            segments=sent.segments,
            error_code=sent.error_code,
            error_message=None if sent.error_code is None else describe(sent.error_code),
        )

    def describe_error(self, code: int) -> str:
        return describe(code)

    def signature_valid(self, url: str, form: Form, headers: Headers, secrets: Secrets) -> bool:
        return is_valid_signature(url, form, headers.get(SIGNATURE_HEADER), secrets)

    def delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        return words.delivery_report(form)

    def account_reports(self, body: bytes, media_type: str) -> list[DeliveryReport]:
        return []  # Twilio posts each report to the callback its send named

    def inbound_message(self, form: Mapping[str, str]) -> InboundSms | None:
        return words.inbound_message(form)

    async def inbound_webhook(self, credentials: Credentials, sender: str) -> InboundWebhook:
        if is_phone_number(sender):
            number = await self._number(credentials, sender)
            return _number_webhook(number)
        try:
            service = await self.client.fetch_messaging_service(credentials, sender)
        except TwilioRejected as rejected:
            failure = VerificationFailure.INVALID_MESSAGING_SERVICE
            raise _refused(rejected, self._sender_reason(rejected, failure)) from None
        return InboundWebhook(
            url=service.inbound_request_url,
            method=service.inbound_method,
            routing=NUMBERS_ROUTE_INBOUND if service.use_inbound_webhook_on_number else None,
        )

    async def set_inbound_webhook(
        self, credentials: Credentials, sender: str, webhook: InboundWebhook
    ) -> InboundWebhook:
        try:
            if is_phone_number(sender):
                number = await self._number(credentials, sender)
                form = {
                    "SmsUrl": webhook.url or "",
                    "SmsMethod": webhook.method or "POST",
                    # An SMS application overrides SmsUrl: "" clears it.
                    "SmsApplicationSid": webhook.routing or "",
                }
                updated = await self.client.update_incoming_number(credentials, number.sid, form)
                return _number_webhook(updated)
            form = {
                "InboundRequestUrl": webhook.url or "",
                "InboundMethod": webhook.method or "POST",
                "UseInboundWebhookOnNumber": "true" if webhook.routing else "false",
            }
            service = await self.client.update_messaging_service(credentials, sender, form)
        except TwilioRejected as rejected:
            raise _refused(rejected, _update_reason(rejected, sender)) from None
        return InboundWebhook(
            url=service.inbound_request_url,
            method=service.inbound_method,
            routing=NUMBERS_ROUTE_INBOUND if service.use_inbound_webhook_on_number else None,
        )


def _update_reason(rejected: TwilioRejected, sender: str) -> Reason:
    """A refused update of a sender's webhook: 404 (20404), the sender went since it was read;
    anything else (401 / 403), these credentials may read the sender but not change it, which
    says nothing against them."""
    if rejected.status == 404 or rejected.code == NOT_FOUND:
        if is_phone_number(sender):
            return VerificationFailure.INVALID_FROM_NUMBER
        return VerificationFailure.INVALID_MESSAGING_SERVICE
    return ErrorCode.PROVIDER_REJECTED


def _not_on_account(failure: VerificationFailure) -> ProviderRefused:
    return ProviderRefused(
        failure,
        description="The sender is not an SMS sender of this Twilio account.",
        cause="the sender is not on this account",
    )


def _number_webhook(number: IncomingNumber) -> InboundWebhook:
    return InboundWebhook(
        url=number.sms_url, method=number.sms_method, routing=number.sms_application_sid
    )
