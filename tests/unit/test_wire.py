"""The JSON form of the bus's events: what one replica publishes, another reads back as equal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.accounts import Account, Sender, Stats
from domain.messages import Message
from domain.vocabulary import (
    AccountStatus,
    MessageDirection,
    MessageStatus,
    SenderKind,
    SmsProvider,
    VerificationFailure,
)
from resolvers.api_keys import KeyRevoked
from resolvers.events import AccountEvent, AccountEventKind, SendersChanged
from resolvers.wire import EVENTS, UnknownEventError

NOW = datetime(2026, 11, 30, 3, 20, 1, 123456, tzinfo=UTC)
ACCOUNT = Account(
    id="a1",
    provider=SmsProvider.TWILIO,
    display_name="Support line ☎",
    sender_id="+14155550123",
    sender_kind=SenderKind.PHONE_NUMBER,
    dlt_entity_id=None,
    client_id="AC" + "0" * 32,
    auth_token_hint="••••ef90",
    base_url="https://api.twilio.com/",
    status=AccountStatus.FAILED,
    failure=VerificationFailure.INVALID_CREDENTIALS,
    failure_message="Invalid credentials",
    trial=False,
    inbound_webhook_url=None,
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
    body="STOP",
    status=MessageStatus.RECEIVED,
    provider_message_id="SM" + "2" * 32,
    error_code=None,
    error_message=None,
    segments=1,
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize(
    "event",
    [
        AccountEvent(
            AccountEventKind.STATUS_CHANGED, ACCOUNT, AccountStatus.VERIFYING, Stats(3, 1, 2)
        ),
        AccountEvent(AccountEventKind.ADDED, ACCOUNT, None, Stats(1, 0, 1)),
        SendersChanged([SENDER, SENDER]),
        SendersChanged([]),
        MESSAGE,
        KeyRevoked("k1"),
    ],
    ids=["status-changed", "added", "senders", "no-senders", "message", "key-revoked"],
)
def test_every_event_reads_back_equal_to_what_was_published(event: object) -> None:
    assert EVENTS.decode(EVENTS.encode(event)) == event


def test_an_object_that_is_not_an_event_is_refused_before_it_reaches_redis() -> None:
    with pytest.raises(UnknownEventError):
        EVENTS.encode(ACCOUNT)


def test_an_event_type_this_version_does_not_know_is_refused_when_read() -> None:
    with pytest.raises(UnknownEventError):
        EVENTS.decode(b'{"type": "SomethingNew", "data": {}}')
