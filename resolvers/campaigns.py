"""Campaigns, as use cases: create (idempotent per workspace), add recipients while DRAFT, start,
pause, resume, cancel, read and follow. Sending itself is the engine's
(``resolvers.campaign_engine``); these only move the campaign and wake its scheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.campaigns import (
    OPEN,
    Campaign,
    CampaignPage,
    CampaignStatus,
    PauseCause,
    RecipientStatus,
)
from domain.vocabulary import Caller, ErrorCode
from resolvers.campaign_events import (
    CampaignNotFoundError,
    announce_campaign,
    campaign_changes,
    read_campaign,
    to_campaign,
)
from resolvers.campaign_pauses import stop_cause
from resolvers.errors import INTEGRATION_DISABLED, FieldError
from resolvers.messages import (
    MAX_PAGE,
    NO_SUCH_ACCOUNT,
    NOT_VERIFIED,
    InvalidPageSizeError,
    body_errors,
    decode_cursor,
    encode_cursor,
)
from resolvers.services import Services
from resolvers.text import could_be_id, text_errors
from resolvers.unit import UnitOfWork, unit_of_work
from resolvers.validation import phone_number
from storage import campaign_queries, queries
from storage.models import SmsCampaignRow, new_id

MAX_NAME = 100
MAX_KEY = 100
LISTING = "sms_campaigns"  # the cursors of smsCampaigns are this list's only
# How long pause and cancel wait for hand-overs already under way to be answered, so that
# nothing is handed over after they answer (within a second, whatever the provider does).
SETTLE_WAIT_SECONDS = 0.9

NO_SUCH_CAMPAIGN = FieldError("id", ErrorCode.NOT_FOUND, "No SMS campaign with this id.")
ACCOUNT_REMOVED = FieldError(
    "accountId",
    ErrorCode.NOT_FOUND,
    "The campaign's SMS account was removed: nothing more can be sent through it.",
)
CAUSE_ERRORS = {
    PauseCause.INTEGRATION_DISABLED: INTEGRATION_DISABLED,
    PauseCause.ACCOUNT_NOT_VERIFIED: NOT_VERIFIED,
    PauseCause.ACCOUNT_REMOVED: ACCOUNT_REMOVED,
}


@dataclass(slots=True)
class CampaignResult:
    campaign: Campaign | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecipientInput:
    to: str
    body: str | None = None


def not_editable(campaign: SmsCampaignRow, doing: str) -> CampaignResult:
    return CampaignResult(
        campaign=to_campaign(campaign),
        errors=[
            FieldError(
                "id",
                ErrorCode.CAMPAIGN_NOT_EDITABLE,
                f"This campaign is {campaign.status.value}: it cannot {doing}.",
            )
        ],
    )


async def create_campaign(
    services: Services, caller: Caller, account_id: str, name: str, body: str, key: str
) -> CampaignResult:
    """A DRAFT campaign; a create retried with the same key answers the same campaign."""
    given = {"accountId": account_id, "name": name, "body": body, "idempotencyKey": key}
    if unreadable := text_errors(given, multiline={"body"}):
        return CampaignResult(errors=unreadable)
    errors = _create_errors(name.strip(), body, key)
    if errors:
        return CampaignResult(errors=errors)
    async with services.reads() as session:
        existing = await campaign_queries.campaign_by_key(session, caller.workspace_id, key)
        if existing is not None:
            return CampaignResult(campaign=to_campaign(existing))
        if not await queries.integration_enabled(session, caller.workspace_id):
            return CampaignResult(errors=[INTEGRATION_DISABLED])
        account = None
        if could_be_id(account_id):
            account = await queries.live_account(session, caller.workspace_id, account_id)
    if account is None:
        return CampaignResult(errors=[NO_SUCH_ACCOUNT])
    now = services.clock()
    row = SmsCampaignRow(
        id=new_id(),
        workspace_id=caller.workspace_id,
        account_id=account_id,
        name=name.strip(),
        body=body,
        idempotency_key=key,
        status=CampaignStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    async with unit_of_work(services.writes) as unit:
        if not await campaign_queries.insert_campaign(unit.session, row):
            # The same key, created concurrently: answer that one.
            found = await campaign_queries.campaign_by_key(unit.session, caller.workspace_id, key)
            assert found is not None
            return CampaignResult(campaign=to_campaign(found))
        return CampaignResult(campaign=announce_campaign(unit, services, row, status_changed=True))


def _create_errors(name: str, body: str, key: str) -> list[FieldError]:
    errors = []
    if name == "":
        errors.append(FieldError("name", ErrorCode.REQUIRED, "Name the campaign."))
    elif len(name) > MAX_NAME:
        errors.append(
            FieldError("name", ErrorCode.INVALID, f"A name has at most {MAX_NAME} characters.")
        )
    if key.strip() == "" or len(key) > MAX_KEY:
        errors.append(
            FieldError(
                "idempotencyKey",
                ErrorCode.INVALID,
                f"The idempotency key is 1 to {MAX_KEY} characters, the same on every retry.",
            )
        )
    return errors + body_errors(body)


def _usable(recipient: RecipientInput) -> str | None:
    """The recipient's number as it is sent, or None when the recipient is skipped (not a phone
    number, or a body of its own that could not be sent)."""
    number = phone_number(recipient.to) if not text_errors({"to": recipient.to}) else None
    body = recipient.body
    if body is not None and (text_errors({"body": body}, multiline={"body"}) or body_errors(body)):
        return None
    return number


async def add_recipients(
    services: Services, caller: Caller, campaign_id: str, recipients: Sequence[RecipientInput]
) -> CampaignResult:
    """Add up to ``recipients_per_call`` recipients to a DRAFT campaign. A number already in
    the campaign, not a phone number, or opted out is counted in ``skipped``; too many refuses
    the whole call (TOO_MANY), nothing added."""
    limits = services.campaign_settings
    if len(recipients) > limits.recipients_per_call:
        return CampaignResult(errors=[_too_many(f"{limits.recipients_per_call} a call")])
    if not could_be_id(campaign_id) or text_errors({"id": campaign_id}):
        return CampaignResult(errors=[NO_SUCH_CAMPAIGN])
    numbers = {
        recipient: number for recipient in recipients if (number := _usable(recipient)) is not None
    }
    async with services.reads() as session:
        opted_out = await campaign_queries.opted_out_among(
            session, caller.workspace_id, set(numbers.values())
        )
    async with unit_of_work(services.writes) as unit:
        now = services.clock()
        total = await campaign_queries.reserve_places(
            unit.session,
            caller.workspace_id,
            campaign_id,
            len(recipients),
            limits.recipients_per_campaign,
            now,
        )
        if total is None:
            return await _refused_addition(unit, caller, campaign_id)
        rows = _recipient_rows(campaign_id, total - len(recipients), numbers, opted_out)
        added = await campaign_queries.insert_recipients(unit.session, rows)
        row = await campaign_queries.add_counts(
            unit.session, campaign_id, now, pending=added, skipped=len(recipients) - added
        )
        assert row is not None
        return CampaignResult(campaign=announce_campaign(unit, services, row))


def _recipient_rows(
    campaign_id: str, first: int, numbers: dict[RecipientInput, str], opted_out: set[str]
) -> list[dict[str, Any]]:
    """The outbox rows of the usable recipients, in the order given (the first of a number
    wins; the database skips numbers already in the campaign)."""
    rows: dict[str, dict[str, Any]] = {}
    for position, (recipient, number) in enumerate(numbers.items(), start=first):
        if number in opted_out or number in rows:
            continue
        rows[number] = {
            "id": new_id(),
            "campaign_id": campaign_id,
            "position": position,
            "to_number": number,
            "body": recipient.body,
            "status": RecipientStatus.PENDING,
        }
    return list(rows.values())


def _too_many(limit: str) -> FieldError:
    return FieldError(
        "recipients",
        ErrorCode.TOO_MANY,
        f"Too many recipients: at most {limit}. Nothing was added; send them in smaller calls.",
    )


async def _refused_addition(unit: UnitOfWork, caller: Caller, campaign_id: str) -> CampaignResult:
    """Why recipients could not be counted in: no such campaign, not DRAFT, or full."""
    unit.abandon()
    row = await campaign_queries.campaign(unit.session, caller.workspace_id, campaign_id)
    if row is None:
        return CampaignResult(errors=[NO_SUCH_CAMPAIGN])
    if row.status is not CampaignStatus.DRAFT:
        return not_editable(row, "take recipients (only a DRAFT campaign can)")
    return CampaignResult(
        campaign=to_campaign(row), errors=[_too_many(f"{row.total:,} in this campaign so far")]
    )


async def _campaign_row(
    services: Services, caller: Caller, campaign_id: str
) -> SmsCampaignRow | CampaignResult:
    if not could_be_id(campaign_id) or text_errors({"id": campaign_id}):
        return CampaignResult(errors=[NO_SUCH_CAMPAIGN])
    async with services.reads() as session:
        row = await campaign_queries.campaign(session, caller.workspace_id, campaign_id)
    return CampaignResult(errors=[NO_SUCH_CAMPAIGN]) if row is None else row


async def _cause_now(services: Services, row: SmsCampaignRow) -> FieldError | None:
    """What keeps the campaign's account from sending now, as the error resume or start
    answers; None when it can send."""
    async with services.reads() as session:
        account = await queries.account_by_id(session, row.account_id)
        enabled = await queries.integration_enabled(session, row.workspace_id)
    cause = stop_cause(account, enabled)
    return None if cause is None else CAUSE_ERRORS[cause]


async def start_campaign(services: Services, caller: Caller, campaign_id: str) -> CampaignResult:
    """DRAFT → SENDING, once its account can send and it has recipients."""
    row = await _campaign_row(services, caller, campaign_id)
    if isinstance(row, CampaignResult):
        return row
    if row.status is not CampaignStatus.DRAFT:
        return not_editable(row, "be started (only a DRAFT campaign can)")
    if row.total == 0:
        problem = FieldError("id", ErrorCode.INVALID, "Add recipients before starting.")
        return CampaignResult(campaign=to_campaign(row), errors=[problem])
    cause = await _cause_now(services, row)
    if cause is not None:
        return CampaignResult(campaign=to_campaign(row), errors=[cause])
    now = services.clock()
    values = {"status": CampaignStatus.SENDING, "started_at": now, "updated_at": now}
    return await _move(services, row, {CampaignStatus.DRAFT}, values, "be started", wake=True)


async def _move(
    services: Services,
    row: SmsCampaignRow,
    allowed_from: set[CampaignStatus],
    values: dict[str, Any],
    doing: str,
    *,
    wake: bool = False,
) -> CampaignResult:
    """One conditional move of the campaign, announced; woken for the engine when asked."""
    async with unit_of_work(services.writes) as unit:
        moved = await campaign_queries.move_campaign(
            unit.session, row.id, allowed_from, values, workspace_id=row.workspace_id
        )
        if moved is None:  # moved by someone else meanwhile
            current = await campaign_queries.campaign(unit.session, row.workspace_id, row.id)
            assert current is not None
            return not_editable(current, doing)
        if moved.status is CampaignStatus.CANCELED:
            left = await campaign_queries.skip_pending(unit.session, row.id)
            moved = await campaign_queries.add_counts(
                unit.session, row.id, services.clock(), pending=-left, skipped=left
            )
            assert moved is not None
        if wake:
            unit.after_commit(lambda: services.campaigns.wake(row.id))
        return CampaignResult(
            campaign=announce_campaign(unit, services, moved, status_changed=True)
        )


async def pause_campaign(services: Services, caller: Caller, campaign_id: str) -> CampaignResult:
    """SENDING → PAUSED. Answers once hand-overs already under way were answered (within a
    second): nothing is handed over after it."""
    row = await _campaign_row(services, caller, campaign_id)
    if isinstance(row, CampaignResult):
        return row
    if row.status is CampaignStatus.PAUSED:
        return CampaignResult(campaign=to_campaign(row))
    values = {
        "status": CampaignStatus.PAUSED,
        "pause_cause": None,
        "status_message": None,
        "updated_at": services.clock(),
    }
    result = await _move(services, row, {CampaignStatus.SENDING}, values, "be paused")
    return await _after_hand_overs(services, caller, result)


async def resume_campaign(services: Services, caller: Caller, campaign_id: str) -> CampaignResult:
    """PAUSED → SENDING, unless what paused it still holds (its code is answered and the
    campaign stays PAUSED)."""
    row = await _campaign_row(services, caller, campaign_id)
    if isinstance(row, CampaignResult):
        return row
    if row.status is CampaignStatus.SENDING:
        return CampaignResult(campaign=to_campaign(row))
    if row.status is not CampaignStatus.PAUSED:
        return not_editable(row, "be resumed (only a PAUSED campaign can)")
    cause = await _cause_now(services, row)
    if cause is not None:
        return CampaignResult(campaign=to_campaign(row), errors=[cause])
    values = {
        "status": CampaignStatus.SENDING,
        "pause_cause": None,
        "status_message": None,
        "updated_at": services.clock(),
    }
    return await _move(services, row, {CampaignStatus.PAUSED}, values, "be resumed", wake=True)


async def cancel_campaign(services: Services, caller: Caller, campaign_id: str) -> CampaignResult:
    """DRAFT, SENDING or PAUSED → CANCELED: every recipient not handed over is SKIPPED."""
    row = await _campaign_row(services, caller, campaign_id)
    if isinstance(row, CampaignResult):
        return row
    now = services.clock()
    values = {
        "status": CampaignStatus.CANCELED,
        "pause_cause": None,
        "status_message": None,
        "completed_at": now,
        "updated_at": now,
    }
    result = await _move(services, row, set(OPEN), values, "be canceled")
    return await _after_hand_overs(services, caller, result)


async def _after_hand_overs(
    services: Services, caller: Caller, result: CampaignResult
) -> CampaignResult:
    """Wait (a bounded while) for the hand-overs under way to be answered; the campaign as it
    then is."""
    if result.errors or result.campaign is None:
        return result
    campaign_id = result.campaign.id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_WAIT_SECONDS
    while loop.time() < deadline:
        async with services.reads() as session:
            if not await campaign_queries.in_flight(session, campaign_id):
                break
        await asyncio.sleep(0.02)
    now = await read_campaign(services, caller.workspace_id, campaign_id)
    return CampaignResult(campaign=now or result.campaign)


async def get_campaign(services: Services, caller: Caller, campaign_id: str) -> Campaign | None:
    if not could_be_id(campaign_id) or text_errors({"id": campaign_id}):
        return None
    return await read_campaign(services, caller.workspace_id, campaign_id)


async def list_campaigns(
    services: Services, caller: Caller, *, first: int, after: str | None
) -> CampaignPage:
    """Newest first; ``first`` from 0 to MAX_PAGE."""
    if not 0 <= first <= MAX_PAGE:
        raise InvalidPageSizeError(f"first must be from 0 to {MAX_PAGE}; got {first}.")
    workspace = caller.workspace_id
    position = None
    if after:
        position = decode_cursor(services, workspace, after, listing=LISTING)
    async with services.reads() as session:
        rows = await campaign_queries.page(session, workspace, position, first + 1)
    nodes = [
        (encode_cursor(services, workspace, row.created_at, row.id, listing=LISTING), row)
        for row in rows[:first]
    ]
    return CampaignPage(
        nodes=[(cursor, to_campaign(row)) for cursor, row in nodes],
        has_next_page=len(rows) > first,
        end_cursor=nodes[-1][0] if nodes else None,
    )


async def campaign_updates(
    services: Services, caller: Caller, campaign_id: str
) -> AsyncIterator[Campaign]:
    """The campaign each time its status or progress changes (at most once per
    ``event_interval_seconds``, the last of a burst included). Raises CampaignNotFoundError for
    a campaign the caller's workspace does not have."""
    if not could_be_id(campaign_id) or text_errors({"id": campaign_id}):
        raise CampaignNotFoundError("No SMS campaign with this id.")
    async for campaign in campaign_changes(services, caller.workspace_id, campaign_id):
        yield campaign
