"""What a provider's webhooks tell us: delivery outcomes of sent messages and inbound replies.

The caller (``api/webhooks.py``) has already checked the signature with the account's port and
the secrets from ``signing_account``. Both handlers are idempotent (providers retry) and never
move a message backwards.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TypeVar

from domain.vocabulary import MessageDirection, MessageStatus, SmsProvider
from providers.sms.errors import MalformedWebhook
from providers.sms.port import OptSignal
from resolvers.messages import announce_message
from resolvers.services import Services
from resolvers.signers import SigningAccount as SigningAccount  # where webhooks import it from
from resolvers.signers import read_signer, remembered
from resolvers.status_batches import StatusBatcher, StatusReport
from resolvers.text import could_be_id
from resolvers.unit import unit_of_work
from storage import message_queries, queries
from storage.models import SmsMessageRow, new_id

log = logging.getLogger(__name__)
T = TypeVar("T")

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})


async def signing_account(services: Services, account_id: str) -> SigningAccount | None:
    """Who a webhook for this account comes from and the secrets it may be signed with, read
    now (and remembered for the next webhooks); None for an unknown account, or one whose
    secrets no configured key opens."""
    async with services.reads() as session:
        row = await queries.signing_secrets(session, account_id)
    if row is None:
        services.signers.forget(account_id)
        return None
    signer = read_signer(services.secrets, account_id, row)
    services.signers.put(account_id, signer)
    return signer.at(services.clock(), services.sms[signer.provider])


def remembered_signing_account(services: Services, account_id: str) -> SigningAccount | None:
    """``signing_account`` as last read, without reading: only for a webhook whose write
    checks the version it carries (delivery reports, see ``resolvers.signers``)."""
    return remembered(services.signers, account_id, services.sms.__getitem__, services.clock())


async def reporting_account(
    services: Services, account_id: str, token: str
) -> SigningAccount | None:
    """Who posts to an account's delivery-report URL (``statusWebhookUrl``) when ``token`` is
    its current one; None otherwise (an unknown or removed account, a rotated token)."""
    if not could_be_id(account_id):
        return None
    async with services.reads() as session:
        row = await queries.report_token(session, account_id)
    if row is None:
        return None
    workspace_id, provider, current, version = row
    if current is None or not hmac.compare_digest(current.encode(), token.encode()):
        return None
    return SigningAccount(workspace_id, services.sms[SmsProvider(provider)], [], version)


class MalformedCallbackError(ValueError):
    """A signed webhook carries a value the provider never sends: it is refused (400) before
    anything is written, so it cannot fail anyone else's report in the batch it would have
    joined."""


def _read(read: Callable[[Mapping[str, str]], T], form: Mapping[str, str]) -> T:
    """What the port reads from ``form``; its refusal of a malformed one, as ours."""
    try:
        return read(form)
    except MalformedWebhook as refusal:
        raise MalformedCallbackError(str(refusal)) from None


async def record_status(
    batcher: StatusBatcher,
    sender: SigningAccount,
    account_id: str,
    form: Mapping[str, str],
    our_message_id: str | None,
) -> bool:
    """Apply a delivery report once its batch committed; True when the message changed.
    Unknown messages, replays, steps backwards and forms that name no report change nothing.
    Raises MalformedCallbackError for a value the provider never sends."""
    report = _read(sender.port.delivery_report, form)
    if our_message_id and not could_be_id(our_message_id):
        raise MalformedCallbackError("mid must be the id of a message this server sent")
    if report is None:
        return False
    return await batcher.record(
        StatusReport(
            workspace_id=sender.workspace_id,
            account_id=account_id,
            provider=sender.port.provider,
            provider_message_id=report.provider_message_id,
            message_id=our_message_id or None,
            status=report.status,
            error_code=report.error_code,
            signer_version=sender.version,
        )
    )


async def record_account_reports(
    batcher: StatusBatcher, sender: SigningAccount, account_id: str, body: bytes, media_type: str
) -> int:
    """Apply every delivery report of one post to an account's report URL, matched by the
    provider's message id within that account only, each as idempotent and monotonic as a
    callback's; how many messages changed. Raises MalformedCallbackError for a post the
    provider never makes (nothing of it is written)."""
    try:
        reports = sender.port.account_reports(body, media_type)
    except MalformedWebhook as refusal:
        raise MalformedCallbackError(str(refusal)) from None
    changed = await asyncio.gather(
        *(
            batcher.record(
                StatusReport(
                    workspace_id=sender.workspace_id,
                    account_id=account_id,
                    provider=sender.port.provider,
                    provider_message_id=report.provider_message_id,
                    message_id=None,
                    status=report.status,
                    error_code=report.error_code,
                    signer_version=sender.version,
                )
            )
            for report in reports
        )
    )
    return sum(changed)


async def record_inbound(
    services: Services, sender: SigningAccount, account_id: str, form: Mapping[str, str]
) -> bool:
    """Store an inbound SMS once per provider message id and apply STOP / START. True when
    new. Raises MalformedCallbackError for a value the provider never sends."""
    inbound = _read(sender.port.inbound_message, form)
    if inbound is None:
        return False
    workspace_id = sender.workspace_id
    now = services.clock()
    stored = {name: value for name, value in asdict(inbound).items() if name != "opt"}
    row = SmsMessageRow(
        **stored,  # the reply's fields are named as the row's columns
        id=new_id(),
        workspace_id=workspace_id,
        account_id=account_id,
        direction=MessageDirection.INBOUND,
        status=MessageStatus.RECEIVED,
        created_at=now,
        updated_at=now,
    )
    keyword = inbound.body.strip().upper()
    async with unit_of_work(services.writes) as unit:
        if not await message_queries.insert_once(unit.session, row):
            return False  # a retried webhook: stored already
        if keyword in OPT_OUT_WORDS or inbound.opt is OptSignal.OPT_OUT:
            await message_queries.opt_out(unit.session, workspace_id, inbound.from_number, now)
        elif keyword in OPT_IN_WORDS or inbound.opt is OptSignal.OPT_IN:
            await message_queries.opt_in(unit.session, workspace_id, inbound.from_number)
        announce_message(unit, services, row, sender.port)
    return True
