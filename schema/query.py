"""Root queries: thin calls into the use cases."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.vocabulary import MessageDirection
from resolvers import accounts, campaigns, integration, messages, senders
from resolvers.catalog import PROVIDERS
from schema.context import Info
from schema.permissions import allowed, who_may
from schema.types import (
    AccountId,
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


@strawberry.type(description="Reads, scoped to the API key's workspace.")
class Query:
    @strawberry.field(
        permission_classes=allowed("smsIntegration"),
        description="Whether the SMS integration is on for the workspace. "
        + who_may("smsIntegration"),
    )
    async def sms_integration(self, info: Info) -> SmsIntegration:
        context = info.context
        return SmsIntegration(
            enabled=await integration.integration_enabled(context.services, context.caller)
        )

    @strawberry.field(
        permission_classes=allowed("smsProviders"),
        description="What the Add SMS Account dialog shows for each provider, in form order. "
        + who_may("smsProviders"),
    )
    def sms_providers(self) -> list[SmsProviderInfo]:
        return _PROVIDERS

    @strawberry.field(
        permission_classes=allowed("smsAccounts"),
        description="Every account of the workspace and the stat row, in one round trip. "
        + who_may("smsAccounts"),
    )
    async def sms_accounts(self, info: Info) -> SmsAccountList:
        page = await accounts.list_accounts(info.context.services, info.context.caller)
        return SmsAccountList(
            stats=shown(SmsAccountStats, page.stats),
            nodes=[shown(SmsAccount, account) for account in page.nodes],
        )

    @strawberry.field(
        permission_classes=allowed("smsAccount"),
        description="One account; null when the workspace has none with this id (or it was "
        "removed). " + who_may("smsAccount"),
    )
    async def sms_account(self, info: Info, id: AccountId) -> SmsAccount | None:
        account = await accounts.get_account(info.context.services, info.context.caller, str(id))
        return None if account is None else shown(SmsAccount, account)

    @strawberry.field(
        permission_classes=allowed("smsSenders"),
        description="The sender picker: verified accounts with a sender, by display name. "
        + who_may("smsSenders"),
    )
    async def sms_senders(self, info: Info) -> list[SmsSender]:
        found = await senders.list_senders(info.context.services, info.context.caller)
        return [shown(SmsSender, sender) for sender in found]

    @strawberry.field(
        permission_classes=allowed("smsMessages"),
        description="Messages of the workspace, newest first; first from 0 to 100. "
        + who_may("smsMessages"),
    )
    async def sms_messages(
        self,
        info: Info,
        account_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this account's messages; null: every account's."),
        ] = None,
        direction: Annotated[
            MessageDirection | None,
            strawberry.argument(description="Only OUTBOUND or only INBOUND messages; null: both."),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(
                description="How many messages, 0 to 100 (null: 50); others are BAD_USER_INPUT."
            ),
        ] = 50,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="A previous page's endCursor, to read the messages after it; null: "
                "from the newest. An unknown cursor is BAD_USER_INPUT."
            ),
        ] = None,
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
        description="The workspace's campaigns, newest first; first from 0 to 100."
        + who_may("smsCampaigns"),
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
        description="One campaign of the workspace; null when it has none with this id."
        + who_may("smsCampaign"),
    )
    async def sms_campaign(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign's id.")],
    ) -> SmsCampaign | None:
        found = await campaigns.get_campaign(info.context.services, info.context.caller, str(id))
        return None if found is None else SmsCampaign.of(found)
