"""Root subscriptions: every change pushed live, scoped to the key's workspace."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError

from resolvers import campaign_events, campaigns, events, messages
from schema.context import Info
from schema.permissions import allowed
from schema.types import SmsAccountEvent, SmsCampaign, SmsMessage, SmsSender, shown


def _refetch(slow: events.SubscriberTooSlowError) -> GraphQLError:
    """The subscription ends; the client refetches and subscribes again."""
    return GraphQLError(str(slow), extensions={"code": "RESYNC_REQUIRED"})


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=allowed("smsAccountChanged"),
        description="Adds, edits, status changes and removals, each with the new stat row.",
    )
    async def sms_account_changed(self, info: Info) -> AsyncGenerator[SmsAccountEvent, None]:
        try:
            async for event in events.account_events(info.context.services, info.context.caller):
                yield SmsAccountEvent.of(event)
        except events.SubscriberTooSlowError as slow:
            raise _refetch(slow) from None

    @strawberry.subscription(
        permission_classes=allowed("smsSendersChanged"),
        description="The whole new sender picker list, whenever it changes.",
    )
    async def sms_senders_changed(self, info: Info) -> AsyncGenerator[list[SmsSender], None]:
        async for senders in events.sender_lists(info.context.services, info.context.caller):
            yield [shown(SmsSender, sender) for sender in senders]

    @strawberry.subscription(
        permission_classes=allowed("smsMessageUpdated"),
        description="Every new inbound message and every status change, in this workspace.",
    )
    async def sms_message_updated(self, info: Info) -> AsyncGenerator[SmsMessage, None]:
        try:
            async for message in messages.message_updates(
                info.context.services, info.context.caller
            ):
                yield shown(SmsMessage, message)
        except events.SubscriberTooSlowError as slow:
            raise _refetch(slow) from None

    @strawberry.subscription(
        permission_classes=allowed("smsCampaignChanged"),
        description=(
            "The campaign whenever its status or progress changes: at most twice a second (the "
            "last change of a burst included), and once at every status change."
        ),
    )
    async def sms_campaign_changed(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign's id.")],
    ) -> AsyncGenerator[SmsCampaign, None]:
        try:
            async for campaign in campaigns.campaign_updates(
                info.context.services, info.context.caller, str(id)
            ):
                yield SmsCampaign.of(campaign)
        except campaign_events.CampaignNotFoundError as missing:
            raise GraphQLError(str(missing), extensions={"code": "NOT_FOUND"}) from None
