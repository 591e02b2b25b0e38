"""Test doubles of what lies outside the project: an SMS provider behind the port, and a clock.

``FakeSms`` implements ``providers.sms.port.SmsPort`` in memory. A test steers what each method
answers (or raises: any error of ``providers.sms.errors``) and reads back every call it got.
Its webhooks are its own small form, signed with an HMAC of the URL and the form (``sign``), so
the use cases that read webhooks run exactly as with a real provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.vocabulary import MessageStatus, SmsProvider
from providers.sms import port
from providers.sms.errors import MalformedWebhook, SmsProviderError

SIGNATURE_HEADER = "x-fake-signature"


def sign(url: str, form: Sequence[tuple[str, str]], secret: str) -> str:
    """The fake provider's webhook signature: an HMAC of the URL and the sorted form."""
    signed = url + "".join(f"{name}={value}" for name, value in sorted(form))
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


@dataclass
class FakeSms:
    """A provider the test steers. ``None`` answers mean "all is well"."""

    provider: SmsProvider = SmsProvider.TWILIO
    label: str = "Fakeco"
    # As the real adapter of ``provider`` says (``fake_for`` sets them): whether sends name a
    # DLT template, and whether reports come to one URL per account.
    takes_dlt_template_id: bool = False
    reports_per_account: bool = False
    wires_inbound_webhook: bool = True
    inbound_answer: port.WebhookAnswer = field(
        default_factory=lambda: port.WebhookAnswer("", "text/plain")
    )
    facts: port.AccountFacts = field(
        default_factory=lambda: port.AccountFacts(suspended=False, trial=False)
    )
    # Raised by the next check of the account, the sender, a send, a webhook read or write.
    account_error: SmsProviderError | None = None
    sender_error: SmsProviderError | None = None
    send_error: SmsProviderError | None = None
    webhook_error: SmsProviderError | None = None
    # Raised by the next change of an inbound webhook alone (reads still answer): a refusal of
    # the update, as credentials that may read but not write get.
    webhook_change_error: SmsProviderError | None = None
    # What an accepted send answers (the status; the message id is fresh each time).
    sent_status: MessageStatus = MessageStatus.QUEUED
    sent_segments: int | None = 1
    sent_error_code: int | None = None
    # Each sender's inbound webhook, as the provider holds it.
    webhooks: dict[str, port.InboundWebhook] = field(default_factory=dict)
    # While set and not open, a change of an inbound webhook waits for it (a slow provider).
    webhook_gate: asyncio.Event | None = None
    # Every change of an inbound webhook the provider took, in order.
    webhook_changes: list[tuple[str, port.InboundWebhook]] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    sent: list[port.OutgoingSms] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def calls_of(self, method: str) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] == method]

    async def check_account(self, credentials: port.Credentials) -> port.AccountFacts:
        self.calls.append(("check_account", credentials.client_id, credentials.secret))
        if self.account_error is not None:
            raise self.account_error
        return self.facts

    async def check_sender(self, credentials: port.Credentials, sender: str) -> None:
        self.calls.append(("check_sender", credentials.client_id, sender))
        if self.sender_error is not None:
            raise self.sender_error

    async def send(self, credentials: port.Credentials, message: port.OutgoingSms) -> port.SentSms:
        self.calls.append(("send", credentials.client_id, message.to))
        self.sent.append(message)
        if self.send_error is not None:
            raise self.send_error
        return port.SentSms(
            provider_message_id=f"FAKE{next(self._ids):08d}",
            status=self.sent_status,
            segments=self.sent_segments,
            error_code=self.sent_error_code,
            error_message=(
                None if self.sent_error_code is None else self.describe_error(self.sent_error_code)
            ),
        )

    def describe_error(self, code: int) -> str:
        return f"Fakeco error {code}."

    def signature_valid(
        self, url: str, form: port.Form, headers: port.Headers, secrets: port.Secrets
    ) -> bool:
        given = headers.get(SIGNATURE_HEADER, "")
        return any(hmac.compare_digest(sign(url, form, secret), given) for secret in secrets)

    def delivery_report(self, form: Mapping[str, str]) -> port.DeliveryReport | None:
        if "id" not in form or form.get("status") not in MessageStatus.__members__:
            return None
        code = form.get("code")
        return port.DeliveryReport(
            provider_message_id=form["id"],
            status=MessageStatus[form["status"]],
            error_code=int(code) if code else None,
        )

    def account_reports(self, body: bytes, media_type: str) -> list[port.DeliveryReport]:
        """The fake's report post: a JSON list of the forms ``delivery_report`` reads."""
        try:
            entries = json.loads(body)
        except ValueError:
            raise MalformedWebhook("the body must be JSON") from None
        if media_type != "application/json" or not isinstance(entries, list):
            raise MalformedWebhook("the body must be a JSON list")
        reports = [self.delivery_report(entry) for entry in entries if isinstance(entry, dict)]
        return [report for report in reports if report is not None]

    def inbound_message(self, form: Mapping[str, str]) -> port.InboundSms | None:
        if "id" not in form or not form.get("from"):
            return None
        opt = form.get("opt")
        return port.InboundSms(
            provider_message_id=form["id"],
            from_number=form["from"],
            to_number=form.get("to", ""),
            body=form.get("body", ""),
            segments=1,
            opt=port.OptSignal[opt] if opt else None,
        )

    async def inbound_webhook(
        self, credentials: port.Credentials, sender: str
    ) -> port.InboundWebhook:
        self.calls.append(("inbound_webhook", credentials.client_id, sender))
        if self.webhook_error is not None:
            raise self.webhook_error
        return self.webhooks.get(sender, port.InboundWebhook(url=None, method=None))

    async def set_inbound_webhook(
        self, credentials: port.Credentials, sender: str, webhook: port.InboundWebhook
    ) -> port.InboundWebhook:
        self.calls.append(("set_inbound_webhook", credentials.client_id, sender))
        if self.webhook_error is not None:
            raise self.webhook_error
        if self.webhook_change_error is not None:
            raise self.webhook_change_error
        if self.webhook_gate is not None:
            await self.webhook_gate.wait()
        self.webhooks[sender] = webhook
        self.webhook_changes.append((sender, webhook))
        return webhook


def fake_for(provider: SmsProvider) -> FakeSms:
    """A fake of ``provider``: it takes DLT template ids and reports per account as that
    provider's adapter does (MSG91 both, Twilio neither)."""
    msg91 = provider is SmsProvider.MSG91
    return FakeSms(
        provider=provider,
        takes_dlt_template_id=msg91,
        reports_per_account=msg91,
        wires_inbound_webhook=not msg91,
    )


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []  # every wait asked of ``sleep``, in seconds

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Waiting under this clock: the time passes at once (and is noted)."""
        self.slept.append(seconds)
        self.advance(seconds=seconds)
        await asyncio.sleep(0)
