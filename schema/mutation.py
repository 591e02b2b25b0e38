"""Root mutations: every one answers ``{ <thing>, errors { field code message } }``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import strawberry

from resolvers import accounts, campaigns, integration, messages, verification
from resolvers.accounts import AccountResult
from resolvers.campaigns import CampaignResult, RecipientInput
from schema.context import Info
from schema.permissions import allowed
from schema.types import (
    AddSmsAccountInput,
    CreateSmsCampaignInput,
    SendSmsInput,
    SendSmsPayload,
    SmsAccount,
    SmsAccountPayload,
    SmsCampaign,
    SmsCampaignPayload,
    SmsCampaignRecipientInput,
    SmsError,
    SmsIntegration,
    SmsIntegrationPayload,
    SmsMessage,
    UpdateSmsAccountInput,
    shown,
)

_NOT_TEXT = frozenset({"provider", "send_rate_per_second"})  # passed on their own


def _given(data: AddSmsAccountInput | UpdateSmsAccountInput) -> dict[str, str | None]:
    """The form's fields that were given a value, by name (null = not given)."""
    given: dict[str, str | None] = {}
    for field in dataclasses.fields(data):
        value = getattr(data, field.name)
        if field.name in _NOT_TEXT or value is strawberry.UNSET or value is None:
            continue
        given[field.name] = value
    return given


def _rate(data: AddSmsAccountInput | UpdateSmsAccountInput) -> float | None:
    rate = data.send_rate_per_second
    return None if rate is strawberry.UNSET else rate


def _payload(result: AccountResult) -> SmsAccountPayload:
    return SmsAccountPayload(
        account=None if result.account is None else shown(SmsAccount, result.account),
        message=result.message,
        errors=[shown(SmsError, error) for error in result.errors],
    )


def _campaign_payload(result: CampaignResult) -> SmsCampaignPayload:
    return SmsCampaignPayload(
        campaign=None if result.campaign is None else SmsCampaign.of(result.campaign),
        errors=[shown(SmsError, error) for error in result.errors],
    )


CampaignId = Annotated[strawberry.ID, strawberry.argument(description="The campaign's id.")]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=allowed("setSmsIntegrationEnabled"))
    async def set_sms_integration_enabled(self, info: Info, enabled: bool) -> SmsIntegrationPayload:
        context = info.context
        now = await integration.set_integration_enabled(context.services, context.caller, enabled)
        return SmsIntegrationPayload(integration=SmsIntegration(enabled=now), errors=[])

    @strawberry.mutation(
        permission_classes=allowed("addSmsAccount"),
        description="Save a new account as Draft; every field problem is reported at once.",
    )
    async def add_sms_account(self, info: Info, input: AddSmsAccountInput) -> SmsAccountPayload:
        context = info.context
        result = await accounts.add_account(
            context.services, context.caller, input.provider, _given(input), send_rate=_rate(input)
        )
        return _payload(result)

    @strawberry.mutation(
        permission_classes=allowed("updateSmsAccount"),
        description=(
            "Change the given fields. A change of sender, DLT Entity ID, Account SID, Auth Token "
            'or Base URL returns the account to Draft. senderId: "" disconnects the sender.'
        ),
    )
    async def update_sms_account(
        self, info: Info, id: strawberry.ID, input: UpdateSmsAccountInput
    ) -> SmsAccountPayload:
        context = info.context
        result = await accounts.update_account(
            context.services, context.caller, str(id), _given(input), send_rate=_rate(input)
        )
        return _payload(result)

    @strawberry.mutation(permission_classes=allowed("removeSmsAccount"))
    async def remove_sms_account(self, info: Info, id: strawberry.ID) -> SmsAccountPayload:
        context = info.context
        return _payload(await accounts.remove_account(context.services, context.caller, str(id)))

    @strawberry.mutation(
        permission_classes=allowed("verifySmsAccount"),
        description=(
            "Check the account and its sender against Twilio. Answers at once with VERIFYING; "
            "the verdict (VERIFIED, or FAILED with a reason) arrives on smsAccountChanged."
        ),
    )
    async def verify_sms_account(self, info: Info, id: strawberry.ID) -> SmsAccountPayload:
        context = info.context
        result = await verification.verify_account(context.services, context.caller, str(id))
        return _payload(result)

    @strawberry.mutation(
        permission_classes=allowed("sendSms"),
        description=(
            "Send one SMS through a verified account. Sent at most once: an unconfirmed send is "
            "stored as UNCONFIRMED and settled by Twilio's delivery report."
        ),
    )
    async def send_sms(self, info: Info, input: SendSmsInput) -> SendSmsPayload:
        context = info.context
        result = await messages.send_sms(
            context.services, context.caller, str(input.account_id), input.to, input.body
        )
        return SendSmsPayload(
            message=None if result.message is None else shown(SmsMessage, result.message),
            errors=[shown(SmsError, error) for error in result.errors],
        )

    @strawberry.mutation(
        permission_classes=allowed("createSmsCampaign"),
        description="Create a DRAFT campaign; a retry with the same idempotencyKey returns it.",
    )
    async def create_sms_campaign(
        self,
        info: Info,
        input: Annotated[
            CreateSmsCampaignInput, strawberry.argument(description="The new campaign.")
        ],
    ) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.create_campaign(
            context.services,
            context.caller,
            str(input.account_id),
            input.name,
            input.body,
            input.idempotency_key,
        )
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("addSmsCampaignRecipients"),
        description=(
            "At most 1,000 a call, only while DRAFT; a number already in the campaign, invalid "
            "or opted out is counted in skipped. More than 1,000 is refused whole (TOO_MANY)."
        ),
    )
    async def add_sms_campaign_recipients(
        self,
        info: Info,
        id: CampaignId,
        recipients: Annotated[
            list[SmsCampaignRecipientInput],
            strawberry.argument(description="The recipients to add, in sending order."),
        ],
    ) -> SmsCampaignPayload:
        context = info.context
        given = [RecipientInput(recipient.to, recipient.body) for recipient in recipients]
        result = await campaigns.add_recipients(context.services, context.caller, str(id), given)
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("startSmsCampaign"),
        description="Start sending a DRAFT campaign (its account verified, the integration on).",
    )
    async def start_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.start_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("pauseSmsCampaign"),
        description="Pause a SENDING campaign: answers within a second, and nothing is handed "
        "over after the answer.",
    )
    async def pause_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.pause_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("resumeSmsCampaign"),
        description="Resume a PAUSED campaign; while what paused it holds (integration off, "
        "account not verified), its error code is answered and the campaign stays PAUSED.",
    )
    async def resume_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.resume_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("cancelSmsCampaign"),
        description="Cancel a campaign for good: every recipient not handed over is skipped.",
    )
    async def cancel_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.cancel_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)
