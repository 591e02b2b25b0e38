"""Root mutations: every one answers ``{ <thing>, errors { field code message } }``."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Annotated

import strawberry

from resolvers import accounts, campaigns, integration, messages, verification
from resolvers.accounts import AccountResult
from resolvers.campaigns import CampaignResult, RecipientInput
from schema.context import Info
from schema.permissions import allowed, who_may
from schema.types import (
    AccountId,
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

# Inputs that are not one of the account's fields: the provider chosen, actions, and the rate
# (passed on its own).
_NOT_FIELDS = frozenset(
    {"provider", "rotate_status_webhook_token", "wire_webhooks", "send_rate_per_second"}
)


def _given(data: AddSmsAccountInput | UpdateSmsAccountInput) -> dict[str, str | None]:
    """The form's fields that were given a value, by name (null = not given); an enum by its
    value."""
    given: dict[str, str | None] = {}
    for field in dataclasses.fields(data):
        value = getattr(data, field.name)
        if field.name not in _NOT_FIELDS and value is not strawberry.UNSET and value is not None:
            given[field.name] = value.value if isinstance(value, Enum) else value
    return given


def _wire_webhooks(data: AddSmsAccountInput | UpdateSmsAccountInput) -> bool | None:
    value = data.wire_webhooks
    return None if value is strawberry.UNSET else value


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


@strawberry.type(
    description="Writes. Expected problems come back in the payload's errors (a code, a field "
    "and a sentence) and change nothing; a key whose role may not call a field gets FORBIDDEN."
)
class Mutation:
    @strawberry.mutation(
        permission_classes=allowed("setSmsIntegrationEnabled"),
        description="Turn the workspace's SMS integration on or off (the SMS card's toggle): off "
        "stops adding, verifying and sending through every account at once. "
        + who_may("setSmsIntegrationEnabled"),
    )
    async def set_sms_integration_enabled(
        self,
        info: Info,
        enabled: Annotated[bool, strawberry.argument(description="true: on; false: off.")],
    ) -> SmsIntegrationPayload:
        context = info.context
        now = await integration.set_integration_enabled(context.services, context.caller, enabled)
        return SmsIntegrationPayload(integration=SmsIntegration(enabled=now), errors=[])

    @strawberry.mutation(
        permission_classes=allowed("addSmsAccount"),
        description="Save a new account as Draft; every field problem is reported at once. "
        "Errors: INTEGRATION_DISABLED, REQUIRED, INVALID. " + who_may("addSmsAccount"),
    )
    async def add_sms_account(
        self,
        info: Info,
        input: Annotated[
            AddSmsAccountInput, strawberry.argument(description="The dialog's fields.")
        ],
    ) -> SmsAccountPayload:
        context = info.context
        result = await accounts.add_account(
            context.services,
            context.caller,
            input.provider,
            _given(input),
            wire_webhooks=bool(_wire_webhooks(input)),
            send_rate=_rate(input),
        )
        return _payload(result)

    @strawberry.mutation(
        permission_classes=allowed("updateSmsAccount"),
        description=(
            "Change the given fields. A change of sender, DLT Entity ID, Account SID, Auth Token "
            'or Base URL returns the account to Draft. senderId: "" disconnects the sender.'
        )
        + " Errors: NOT_FOUND, REQUIRED, INVALID. "
        + who_may("updateSmsAccount"),
    )
    async def update_sms_account(
        self,
        info: Info,
        id: AccountId,
        input: Annotated[
            UpdateSmsAccountInput, strawberry.argument(description="The fields to change.")
        ],
    ) -> SmsAccountPayload:
        context = info.context
        result = await accounts.update_account(
            context.services,
            context.caller,
            str(id),
            _given(input),
            wire_webhooks=_wire_webhooks(input),
            rotate_status_webhook_token=bool(input.rotate_status_webhook_token),
            send_rate=_rate(input),
        )
        return _payload(result)

    @strawberry.mutation(
        permission_classes=allowed("removeSmsAccount"),
        description="Remove an account: it leaves the page, the stat row and the sender picker, "
        "and its Auth Token is destroyed. Errors: NOT_FOUND. " + who_may("removeSmsAccount"),
    )
    async def remove_sms_account(self, info: Info, id: AccountId) -> SmsAccountPayload:
        context = info.context
        return _payload(await accounts.remove_account(context.services, context.caller, str(id)))

    @strawberry.mutation(
        permission_classes=allowed("verifySmsAccount"),
        description=(
            "Check the account and its sender against Twilio. Answers at once with VERIFYING; "
            "the verdict (VERIFIED, or FAILED with a reason) arrives on smsAccountChanged."
        )
        + " Errors: INTEGRATION_DISABLED, NOT_FOUND, VERIFICATION_IN_PROGRESS. "
        + who_may("verifySmsAccount"),
    )
    async def verify_sms_account(self, info: Info, id: AccountId) -> SmsAccountPayload:
        context = info.context
        result = await verification.verify_account(context.services, context.caller, str(id))
        return _payload(result)

    @strawberry.mutation(
        permission_classes=allowed("sendSms"),
        description=(
            "Send one SMS through a verified account. Sent at most once: an unconfirmed send is "
            "stored as UNCONFIRMED and settled by Twilio's delivery report."
        )
        + " Errors: INTEGRATION_DISABLED, NOT_FOUND, ACCOUNT_NOT_VERIFIED, REQUIRED, INVALID, "
        "RECIPIENT_OPTED_OUT, PROVIDER_REJECTED, PROVIDER_UNAVAILABLE. " + who_may("sendSms"),
    )
    async def send_sms(
        self,
        info: Info,
        input: Annotated[
            SendSmsInput, strawberry.argument(description="The account, the recipient, the text.")
        ],
    ) -> SendSmsPayload:
        context = info.context
        template = input.dlt_template_id
        result = await messages.send_sms(
            context.services,
            context.caller,
            str(input.account_id),
            input.to,
            input.body,
            None if template is strawberry.UNSET else template,
        )
        return SendSmsPayload(
            message=None if result.message is None else shown(SmsMessage, result.message),
            errors=[shown(SmsError, error) for error in result.errors],
        )

    @strawberry.mutation(
        permission_classes=allowed("createSmsCampaign"),
        description="Create a DRAFT campaign; a retry with the same idempotencyKey returns it."
        + who_may("createSmsCampaign"),
    )
    async def create_sms_campaign(
        self,
        info: Info,
        input: Annotated[
            CreateSmsCampaignInput, strawberry.argument(description="The new campaign.")
        ],
    ) -> SmsCampaignPayload:
        context = info.context
        template = input.dlt_template_id
        result = await campaigns.create_campaign(
            context.services,
            context.caller,
            str(input.account_id),
            input.name,
            input.body,
            input.idempotency_key,
            None if template is strawberry.UNSET else template,
        )
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("addSmsCampaignRecipients"),
        description=(
            "At most 1,000 a call, only while DRAFT; a number already in the campaign, invalid "
            "or opted out is counted in skipped. More than 1,000 is refused whole (TOO_MANY)."
        )
        + who_may("addSmsCampaignRecipients"),
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
        description="Start sending a DRAFT campaign (its account verified, the integration on)."
        + who_may("startSmsCampaign"),
    )
    async def start_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.start_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("pauseSmsCampaign"),
        description="Pause a SENDING campaign: answers within a second, and nothing is handed "
        "over after the answer." + who_may("pauseSmsCampaign"),
    )
    async def pause_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.pause_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("resumeSmsCampaign"),
        description="Resume a PAUSED campaign; while what paused it holds (integration off, "
        "account not verified), its error code is answered and the campaign stays PAUSED."
        + who_may("resumeSmsCampaign"),
    )
    async def resume_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.resume_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)

    @strawberry.mutation(
        permission_classes=allowed("cancelSmsCampaign"),
        description="Cancel a campaign for good: every recipient not handed over is skipped."
        + who_may("cancelSmsCampaign"),
    )
    async def cancel_sms_campaign(self, info: Info, id: CampaignId) -> SmsCampaignPayload:
        context = info.context
        result = await campaigns.cancel_campaign(context.services, context.caller, str(id))
        return _campaign_payload(result)
