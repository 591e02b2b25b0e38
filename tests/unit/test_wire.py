"""The JSON form of the bus's events: what one replica publishes, another reads back as equal."""

from __future__ import annotations

import pytest

from domain.accounts import Stats
from domain.campaigns import CampaignStatus
from domain.vocabulary import AccountStatus
from resolvers.api_keys import KeyRevoked
from resolvers.campaign_events import CampaignChanged
from resolvers.events import AccountEvent, AccountEventKind, SendersChanged
from resolvers.wire import EVENTS, UnknownEventError
from tests.sample_events import ACCOUNT, MESSAGE, SENDER


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
        CampaignChanged("c1", CampaignStatus.PAUSED),
        CampaignChanged("c1", None),
    ],
    ids=[
        "status-changed",
        "added",
        "senders",
        "no-senders",
        "message",
        "key-revoked",
        "campaign-status",
        "campaign-progress",
    ],
)
def test_every_event_reads_back_equal_to_what_was_published(event: object) -> None:
    assert EVENTS.decode(EVENTS.encode(event)) == event


def test_an_object_that_is_not_an_event_is_refused_before_it_reaches_redis() -> None:
    with pytest.raises(UnknownEventError):
        EVENTS.encode(ACCOUNT)


def test_an_event_type_this_version_does_not_know_is_refused_when_read() -> None:
    with pytest.raises(UnknownEventError):
        EVENTS.decode(b'{"type": "SomethingNew", "data": {}}')
