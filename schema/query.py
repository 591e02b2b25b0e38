"""Root queries: thin calls into the use cases."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.vocabulary import MessageDirection
from resolvers import accounts, campaigns, integration, messages, senders
from resolvers.catalog import PROVIDERS
from schema.context import Info
from schema.permissions import allowed
from schema.types import (
    SmsAccount,
    SmsAccountList,
    SmsAccountStats,
    SmsCampaign,
    SmsCampaignConnection,
    SmsIntegration,
    SmsMessageConnection,
    SmsProviderInfo,
    SmsSender,
    shown,
)

_PROVIDERS = [SmsProviderInfo.of(info) for info in PROVIDERS]


@strawberry.type
class Query:
    @strawberry.field(permission_classes=allowed("smsIntegration"))
    async def sms_integration(self, info: Info) -> SmsIntegration:
        context = info.context
        return SmsIntegration(
            enabled=await integration.integration_enabled(context.services, context.caller)
        )

    @strawberry.field(
        permission_classes=allowed("smsProviders"),
        description="What the Add SMS Account dialog shows for each provider, in form order.",
    )
    def sms_providers(self) -> list[SmsProviderInfo]:
        return _PROVIDERS

    @strawberry.field(
        permission_classes=allowed("smsAccounts"),
        description="Every account of the workspace and the stat row, in one round trip.",
    )
    async def sms_accounts(self, info: Info) -> SmsAccountList:
        page = await accounts.list_accounts(info.context.services, info.context.caller)
        return SmsAccountList(
            stats=shown(SmsAccountStats, page.stats),
            nodes=[shown(SmsAccount, account) for account in page.nodes],
        )

    @strawberry.field(permission_classes=allowed("smsAccount"))
    async def sms_account(self, info: Info, id: strawberry.ID) -> SmsAccount | None:
        account = await accounts.get_account(info.context.services, info.context.caller, str(id))
        return None if account is None else shown(SmsAccount, account)

    @strawberry.field(
        permission_classes=allowed("smsSenders"),
        description="The sender picker: verified accounts with a sender, by display name.",
    )
    async def sms_senders(self, info: Info) -> list[SmsSender]:
        found = await senders.list_senders(info.context.services, info.context.caller)
        return [shown(SmsSender, sender) for sender in found]

    @strawberry.field(
        permission_classes=allowed("smsMessages"),
        description="Messages of the workspace, newest first; first from 0 to 100.",
    )
    async def sms_messages(
        self,
        info: Info,
        account_id: strawberry.ID | None = None,
        direction: MessageDirection | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> SmsMessageConnection:
        try:
            page = await messages.list_messages(
                info.context.services,
                info.context.caller,
                account_id=None if account_id is None else str(account_id),
                direction=direction,
                first=50 if first is None else first,
                after=after,
            )
        except (messages.InvalidCursorError, messages.InvalidPageSizeError) as invalid:
            raise GraphQLError(str(invalid), extensions={"code": "BAD_USER_INPUT"}) from None
        return SmsMessageConnection.of(page)

    @strawberry.field(
        permission_classes=allowed("smsCampaigns"),
        description="The workspace's campaigns, newest first; first from 0 to 100.",
    )
    async def sms_campaigns(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="How many campaigns (0 to 100).")
        ] = 20,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="The endCursor of the page before (null: from the newest)."
            ),
        ] = None,
    ) -> SmsCampaignConnection:
        try:
            page = await campaigns.list_campaigns(
                info.context.services,
                info.context.caller,
                first=20 if first is None else first,
                after=after,
            )
        except (messages.InvalidCursorError, messages.InvalidPageSizeError) as invalid:
            raise GraphQLError(str(invalid), extensions={"code": "BAD_USER_INPUT"}) from None
        return SmsCampaignConnection.of(page)

    @strawberry.field(
        permission_classes=allowed("smsCampaign"),
        description="One campaign of the workspace; null when it has none with this id.",
    )
    async def sms_campaign(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign's id.")],
    ) -> SmsCampaign | None:
        found = await campaigns.get_campaign(info.context.services, info.context.caller, str(id))
        return None if found is None else SmsCampaign.of(found)
