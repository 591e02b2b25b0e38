"""Events as the bus carries them, with the personal data a real one holds (a body, numbers,
names): the wire codec's tests read them back, the Redis bus's tests look for them on Redis."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.accounts import Account, Sender, WebhookWiring
from domain.messages import Message
from domain.vocabulary import (
    AccountStatus,
    MessageDirection,
    MessageStatus,
    SenderKind,
    SmsProvider,
    VerificationFailure,
    WebhookWiringStatus,
)

NOW = datetime(2026, 11, 30, 3, 20, 1, 123456, tzinfo=UTC)
ACCOUNT = Account(
    id="a1",
    provider=SmsProvider.TWILIO,
    display_name="Support line ☎",
    sender_id="+14155550123",
    sender_kind=SenderKind.PHONE_NUMBER,
    dlt_entity_id=None,
    route=None,
    client_id="AC" + "0" * 32,
    auth_token_hint="••••ef90",
    base_url="https://api.twilio.com/",
    send_rate_per_second=1.0,
    status=AccountStatus.FAILED,
    failure=VerificationFailure.INVALID_CREDENTIALS,
    failure_message="Invalid credentials",
    trial=False,
    inbound_webhook_url="https://sms.example.com/webhooks/twilio/a1/inbound",
    webhooks=WebhookWiring(
        status=WebhookWiringStatus.WIRED,
        inbound_url="https://sms.example.com/webhooks/twilio/a1/inbound",
        previous_inbound_url="https://crm.example.com/sms",
        message=None,
        changed_at=NOW,
    ),
    status_webhook_url=None,
    verified_at=None,
    last_checked_at=NOW,
    created_at=NOW,
    updated_at=NOW,
)
SENDER = Sender("a1", "Support", SmsProvider.TWILIO, "MG" + "1" * 32, SenderKind.MESSAGING_SERVICE)
MESSAGE = Message(
    id="m1",
    account_id="a1",
    direction=MessageDirection.INBOUND,
    from_number="+14155550100",
    to_number="+14155550123",
    body="Call me back at 4 pm, it is about the invoice",
    status=MessageStatus.RECEIVED,
    provider_message_id="SM" + "2" * 32,
    error_code=None,
    error_message=None,
    segments=1,
    created_at=NOW,
    updated_at=NOW,
)
