"""Root mutations: every one answers ``{ <thing>, errors { field code message } }``."""

from __future__ import annotations

import dataclasses

import strawberry

from resolvers import accounts, integration, messages, verification
from resolvers.accounts import AccountResult
from schema.context import Info
from schema.permissions import allowed
from schema.types import (
    AddSmsAccountInput,
    SendSmsInput,
    SendSmsPayload,
    SmsAccount,
    SmsAccountPayload,
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
