"""Sending SMS through verified accounts, reading messages, and their live updates.

Every send is billed to the customer's own provider account, so a send is handed over at most
once (the port never resends what may have left). A send whose answer never came back is stored
as UNCONFIRMED and settled by the provider's delivery report, which carries our message id.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.account_states import to_failed
from domain.accounts import failure_sentence
from domain.messages import Message, MessagePage
from domain.text import is_text, segments
from domain.vocabulary import (
    AccountStatus,
    Caller,
    ErrorCode,
    FailureReason,
    MessageDirection,
    MessageStatus,
    StoredFailure,
    VerificationFailure,
)
from providers.sms.errors import (
    BaseUrlRefused,
    OutcomeUnknown,
    ProviderRateLimited,
    ProviderRefused,
    Reason,
    SenderQueueFull,
    SmsProviderError,
)
from providers.sms.port import Credentials, OutgoingSms, SmsPort
from resolvers import events
from resolvers.account_rows import stored_token, to_account
from resolvers.errors import INTEGRATION_DISABLED, FieldError
from resolvers.events import announce_account
from resolvers.pacing import SenderBusy
from resolvers.services import Services
from resolvers.text import could_be_id, text_errors
from resolvers.unit import UnitOfWork, unit_of_work
from resolvers.validation import DLT_TEMPLATE_ID, phone_number
from storage import message_queries, queries
from storage.crypto import SecretError
from storage.models import SmsAccountRow, SmsMessageRow, new_id

log = logging.getLogger(__name__)

MAX_BODY = 1600
MAX_PAGE = 100  # messages in one page of smsMessages: a larger ``first`` is refused
NO_SUCH_ACCOUNT = FieldError("accountId", ErrorCode.NOT_FOUND, "No such SMS account.")
NOT_VERIFIED = FieldError(
    "accountId",
    ErrorCode.ACCOUNT_NOT_VERIFIED,
    "This SMS account is not verified (or has no sender): verify it first.",
)
OPTED_OUT = FieldError(
    "to",
    ErrorCode.RECIPIENT_OPTED_OUT,
    "This recipient replied STOP; nothing is sent to them until they reply START.",
)


def unreachable(label: str) -> str:
    """What a send that never reached the provider (named ``label``) tells the caller."""
    return f"Nothing was sent: {label} could not be reached. Try again later."


UNREACHABLE = unreachable("Twilio")


def rate_limited(label: str) -> str:
    """What a send the provider refused for its request rate (named ``label``) tells the
    caller."""
    return f"Nothing was sent: {label} refused the message for its request rate. Try again shortly."


DLT_TEMPLATE_REQUIRED = (
    "Enter the DLT template id this message matches: {label} sends India's DLT traffic only "
    "with the registered template (the Content Template ID from the DLT portal)."
)
DLT_TEMPLATE_NOT_TAKEN = (
    "Leave the DLT template id empty for {label}: it matches the message to its DLT template "
    "itself."
)
DLT_TEMPLATE_INVALID = (
    "The DLT template id must be the Content Template ID from the DLT portal: 1 to 30 digits."
)
# Saved under a looser policy than the server's current one: the account must be fixed.
BASE_URL_REFUSED = (
    "Nothing was sent: this account's Base URL is not allowed by the server's policy. Set a "
    "Twilio Base URL (https://api.twilio.com/ unless Twilio Support gave you a regional one) "
    "and verify again."
)


@dataclass(slots=True)
class SendResult:
    message: Message | None = None
    errors: list[FieldError] = field(default_factory=list)


def messages_channel(workspace_id: str) -> str:
    return f"sms-messages:{workspace_id}"


# A message's fields stored as shown (the row's columns of the same names): all but the error's
# sentence, which is the provider's, in our words.
_STORED_AS_SHOWN = tuple(field.name for field in fields(Message) if field.name != "error_message")


def to_message(row: SmsMessageRow, port: SmsPort) -> Message:
    """The message as clients see it; ``port`` is its account's provider (its error codes)."""
    return Message(
        **{name: getattr(row, name) for name in _STORED_AS_SHOWN},
        error_message=shown_error(row.error_code, row.error_message, port),
    )


def shown_error(code: int | None, stored: str | None, port: SmsPort) -> str | None:
    """errorMessage in our words only: rows stored before this kept the provider's own text."""
    if code is not None:
        return port.describe_error(code)
    return (
        stored
        if stored in (unreachable(port.label), BASE_URL_REFUSED, rate_limited(port.label))
        else None
    )


async def publish_message(services: Services, workspace_id: str, message: Message) -> None:
    """Push a new or changed message to the workspace's subscribers. Never raises."""
    try:
        await services.bus.publish(messages_channel(workspace_id), message)
    except Exception:
        log.exception("could not publish a message update for workspace %s", workspace_id)


def announce_message(
    unit: UnitOfWork, services: Services, row: SmsMessageRow, port: SmsPort
) -> Message:
    """The message as ``row`` now has it, published once ``unit`` committed."""
    message = to_message(row, port)
    unit.after_commit(functools.partial(publish_message, services, row.workspace_id, message))
    return message


def _check_fields(to: str, body: str) -> list[FieldError]:
    errors = []
    if to == "":
        errors.append(FieldError("to", ErrorCode.REQUIRED, "Enter the recipient's number."))
    elif phone_number(to) is None:
        errors.append(
            FieldError(
                "to",
                ErrorCode.INVALID,
                "The recipient must be a phone number in E.164 format (+, country code and "
                "number, e.g. +14155550123).",
            )
        )
    return errors + body_errors(body)


def body_errors(body: str, field: str = "body") -> list[FieldError]:
    """What is wrong with an SMS body (a send's, a campaign's or one recipient's), if anything."""
    if body.strip() == "":
        return [FieldError(field, ErrorCode.REQUIRED, "Write the message to send.")]
    if len(body) > MAX_BODY:
        return [
            FieldError(
                field,
                ErrorCode.INVALID,
                f"The message is {len(body)} characters; at most {MAX_BODY} are sent.",
            )
        ]
    return []


def check_dlt_template_id(
    port: SmsPort, dlt_template_id: str | None, field_name: str = "dltTemplateId"
) -> tuple[str | None, FieldError | None]:
    """The DLT template id a send through ``port`` carries (trimmed), or the problem with it:
    REQUIRED where the provider sends DLT traffic by template id, INVALID where it matches
    templates itself. Campaigns check theirs with it too."""
    value = (dlt_template_id or "").strip()
    if not port.takes_dlt_template_id:
        if value:
            message = DLT_TEMPLATE_NOT_TAKEN.format(label=port.label)
            return None, FieldError(field_name, ErrorCode.INVALID, message)
        return None, None
    if not value:
        message = DLT_TEMPLATE_REQUIRED.format(label=port.label)
        return None, FieldError(field_name, ErrorCode.REQUIRED, message)
    if not DLT_TEMPLATE_ID.fullmatch(value):
        return None, FieldError(field_name, ErrorCode.INVALID, DLT_TEMPLATE_INVALID)
    return value, None


async def send_sms(
    services: Services,
    caller: Caller,
    account_id: str,
    to: str,
    body: str,
    dlt_template_id: str | None = None,
) -> SendResult:
    """Check everything, then hand the message to the provider once, storing it before it
    leaves. ``dlt_template_id``: the DLT template the body matches, where the provider asks."""
    given = {"accountId": account_id, "to": to, "body": body}
    if dlt_template_id is not None:
        given["dltTemplateId"] = dlt_template_id
    unreadable = text_errors(given, multiline={"body"})
    if unreadable:
        return SendResult(errors=unreadable)
    if not could_be_id(account_id):
        return SendResult(errors=[NO_SUCH_ACCOUNT])
    # Trimmed once: this spelling (checked by validation.phone_number) is the one checked against
    # opt-outs and the one sent; look-alike digits are refused, never translated.
    to = to.strip()
    async with services.reads() as session:
        account = await _sender_for(session, caller, account_id, to, body)
    if isinstance(account, SendResult):
        return account
    template, problem = check_dlt_template_id(services.sms[account.provider], dlt_template_id)
    if problem is not None:
        return SendResult(errors=[problem])
    token = stored_token(services.secrets, account)
    if token is None:
        return await _token_lost(services, account)
    assert account.sender_id is not None
    busy = await _wait_for_slot(services, account, body)
    if busy is not None:
        return SendResult(errors=[busy])
    now = services.clock()
    row = SmsMessageRow(
        id=new_id(),
        workspace_id=caller.workspace_id,
        account_id=account.id,
        direction=MessageDirection.OUTBOUND,
        from_number=account.sender_id,
        to_number=to,
        body=body,
        status=MessageStatus.UNCONFIRMED,  # until the provider answers
        created_at=now,
        updated_at=now,
    )
    async with unit_of_work(services.writes) as unit:
        unit.session.add(row)  # stored before it leaves
    credentials = Credentials(account.client_id, token, account.base_url)
    return await hand_over(services, account, credentials, row, dlt_template_id=template)


async def _token_lost(services: Services, account: SmsAccountRow) -> SendResult:
    """No configured key opens the account's secret: it fails, and nothing is sent."""
    lost = FailureReason.TOKEN_UNREADABLE
    await _fail_account(services, account.id, account.credentials_version, lost)
    sentence = failure_sentence(lost, account.provider)
    return SendResult(errors=[FieldError("accountId", ErrorCode.ACCOUNT_NOT_VERIFIED, sentence)])


async def _wait_for_slot(
    services: Services, account: SmsAccountRow, body: str
) -> FieldError | None:
    """Wait for the sender's next slot (a one-off goes ahead of campaign sends), or say why
    nothing is sent: the slot is further away than a send may wait."""
    rate = account.send_rate_per_second
    try:
        await services.pacer.wait_for_slot(account.id, rate, segments(body))
    except SenderBusy as busy:
        return FieldError(
            None,
            ErrorCode.TOO_MANY,
            f"Nothing was sent: this sender sends at most {rate:g} message segments a second "
            f"and its next free slot is {busy.wait_seconds:.1f} s away, more than the "
            f"{services.pacer.rules.one_off_max_wait_seconds:g} s a send waits. Try again "
            "shortly, or raise the account's send rate if the provider allows this sender more.",
        )
    return None


async def _sender_for(
    session: AsyncSession, caller: Caller, account_id: str, to: str, body: str
) -> SmsAccountRow | SendResult:
    """The account to send through, or why nothing may be sent (before anything leaves)."""
    if not await queries.integration_enabled(session, caller.workspace_id):
        return SendResult(errors=[INTEGRATION_DISABLED])
    account = await queries.live_account(session, caller.workspace_id, account_id)
    if account is None:
        return SendResult(errors=[NO_SUCH_ACCOUNT])
    if account.status is not AccountStatus.VERIFIED or account.sender_id is None:
        return SendResult(errors=[NOT_VERIFIED])
    field_errors = _check_fields(to, body)
    if field_errors:
        return SendResult(errors=field_errors)
    if await message_queries.is_opted_out(session, caller.workspace_id, to):
        return SendResult(errors=[OPTED_OUT])
    return account


def status_callback(
    services: Services, port: SmsPort, account_id: str, message_id: str
) -> str | None:
    """Where the provider posts the delivery reports of one message: the URL names our message
    id, so a send whose answer was lost is still settled by its report. None without
    SMS_PUBLIC_URL (nothing could reach us), and for a provider that posts every report of an
    account to one URL (its statusWebhookUrl)."""
    if not services.public_url or port.reports_per_account:
        return None
    return f"{services.public_url}/webhooks/twilio/{account_id}/status?mid={message_id}"


async def hand_over(
    services: Services,
    account: SmsAccountRow,
    credentials: Credentials,
    row: SmsMessageRow,
    *,
    dlt_template_id: str | None = None,
) -> SendResult:
    """Hand one stored outbound message to its account's provider, at most once, and record
    what the provider answered: the one send path of every message this service sends.
    ``dlt_template_id`` (checked by ``check_dlt_template_id``) goes with it where the provider
    takes one, with the account's DLT Entity ID and route."""
    port = services.sms[account.provider]
    callback = status_callback(services, port, account.id, row.id)
    outgoing = OutgoingSms(
        row.from_number,
        row.to_number,
        row.body,
        callback,
        dlt_entity_id=account.dlt_entity_id,
        dlt_template_id=dlt_template_id,
        route=account.route,
    )
    errors: list[FieldError] = []
    try:
        sent = await port.send(credentials, outgoing)
    except SmsProviderError as error:
        errors.append(await _not_sent(services, account, row, port, error))
    else:
        row.status = sent.status
        row.provider_message_id = sent.provider_message_id
        row.segments = sent.segments
        row.error_code = sent.error_code
        row.error_message = sent.error_message
    row.updated_at = services.clock()
    return SendResult(message=await _save_outcome(services, row, port), errors=errors)


async def _not_sent(
    services: Services,
    account: SmsAccountRow,
    row: SmsMessageRow,
    port: SmsPort,
    error: SmsProviderError,
) -> FieldError:
    """What a send the provider did not take means for the message, the account and the
    recipient; the problem the caller is told."""
    if isinstance(error, OutcomeUnknown):  # the message stays UNCONFIRMED
        return FieldError(
            None,
            ErrorCode.PROVIDER_UNAVAILABLE,
            f"{port.label} did not confirm this message. It was not sent again (that could "
            "send it twice); its delivery report will settle its status.",
        )
    row.status = MessageStatus.FAILED
    version = account.credentials_version
    if isinstance(error, ProviderRateLimited):
        return await _throttled(services, account, row, port, error)
    if isinstance(error, BaseUrlRefused):
        row.error_message = BASE_URL_REFUSED
        await _fail_account(services, account.id, version, VerificationFailure.BASE_URL)
        return FieldError("accountId", ErrorCode.ACCOUNT_NOT_VERIFIED, BASE_URL_REFUSED)
    if isinstance(error, ProviderRefused):
        row.error_code = error.code
        row.error_message = error.description
        await _react_to_refusal(services, account, row.to_number, error.reason)
        message = f"{port.label} rejected the message: {error.description}"
        return FieldError(None, ErrorCode.PROVIDER_REJECTED, message)
    row.error_message = unreachable(port.label)
    return FieldError(None, ErrorCode.PROVIDER_UNAVAILABLE, row.error_message)


async def _throttled(
    services: Services,
    account: SmsAccountRow,
    row: SmsMessageRow,
    port: SmsPort,
    error: ProviderRateLimited,
) -> FieldError:
    """The provider did not take the message for its rate (still so after the call's retries)
    or because the sender's queue is full, which also slows the sender down."""
    if isinstance(error, SenderQueueFull):
        await services.pacer.slow_down(account.id)
    row.error_code = error.code
    row.error_message = (
        rate_limited(port.label) if error.code is None else port.describe_error(error.code)
    )
    return FieldError(None, ErrorCode.TOO_MANY, row.error_message)


async def _save_outcome(services: Services, row: SmsMessageRow, port: SmsPort) -> Message:
    """Write what the provider answered. The message was sent: this write must not fail."""
    async with unit_of_work(services.writes) as unit:
        if not await message_queries.save(unit.session, row):
            # A provider's message ids are unique, so one seen twice is not this message's:
            # keep the message without it rather than lose it.
            log.warning("message %s: the provider answered with an id already stored", row.id)
            row.provider_message_id = None
            await message_queries.save(unit.session, row)
        return announce_message(unit, services, row, port)


async def _react_to_refusal(
    services: Services, account: SmsAccountRow, to: str, reason: Reason
) -> None:
    """A gone sender or bad credentials fail the account; a STOP reply records the opt-out."""
    if reason is ErrorCode.RECIPIENT_OPTED_OUT:
        async with unit_of_work(services.writes) as unit:
            await message_queries.opt_out(unit.session, account.workspace_id, to, services.clock())
    elif isinstance(reason, VerificationFailure):
        await _fail_account(services, account.id, account.credentials_version, reason)
    # Anything else failed the message alone; the account is fine.


async def _fail_account(
    services: Services, account_id: str, version: int, failure: StoredFailure
) -> None:
    """A VERIFIED account that can no longer send turns FAILED (unless its credentials changed)."""
    move = to_failed(failure, services.clock(), allowed_from=frozenset({AccountStatus.VERIFIED}))
    async with unit_of_work(services.writes) as unit:
        row = await queries.account_by_id(unit.session, account_id)
        if row is None:
            return
        before = to_account(row, services.public_url)
        moved = await queries.move_account(unit.session, account_id, move, version=version)
        if moved is not None:
            announce_account(unit, services, moved, before=before)


def _cursor_binding(workspace_id: str, listing: str) -> str:
    return f"{listing}:{workspace_id}:cursor"


def encode_cursor(
    services: Services,
    workspace_id: str,
    created_at: datetime,
    id: str,
    *,
    listing: str = "sms_messages",
) -> str:
    """Sealed, so a client can neither read a position into it nor forge one; bound to the
    workspace and the list (``listing``) it came from."""
    sealed = services.secrets.encrypt(
        f"{created_at.isoformat()}|{id}", bound_to=_cursor_binding(workspace_id, listing)
    )
    return base64.urlsafe_b64encode(sealed.encode()).decode().rstrip("=")


def decode_cursor(
    services: Services, workspace_id: str, cursor: str, *, listing: str = "sms_messages"
) -> tuple[datetime, str]:
    if not is_text(cursor):
        raise InvalidCursorError("after is not a cursor from this list")
    try:
        sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        raw = services.secrets.decrypt(sealed, bound_to=_cursor_binding(workspace_id, listing))
        stamp, message_id = raw.split("|", 1)
        position = datetime.fromisoformat(stamp), message_id
    except (ValueError, binascii.Error, UnicodeDecodeError, SecretError):
        raise InvalidCursorError("after is not a cursor from this list") from None
    return position


class InvalidCursorError(ValueError):
    """An ``after`` cursor this server did not hand out."""


class InvalidPageSizeError(ValueError):
    """A ``first`` below 0 or above MAX_PAGE: refused, not silently clipped."""


async def list_messages(
    services: Services,
    caller: Caller,
    *,
    account_id: str | None,
    direction: MessageDirection | None,
    first: int,
    after: str | None,
) -> MessagePage:
    """Newest first; ``first`` from 0 to MAX_PAGE."""
    if not 0 <= first <= MAX_PAGE:
        raise InvalidPageSizeError(f"first must be from 0 to {MAX_PAGE}; got {first}.")
    limit = first
    position = None if not after else decode_cursor(services, caller.workspace_id, after)
    if account_id is not None and not could_be_id(account_id):
        return MessagePage(nodes=[], has_next_page=False, end_cursor=None)
    async with services.reads() as session:
        rows = await message_queries.page(
            session,
            caller.workspace_id,
            account_id=account_id,
            direction=direction,
            after=position,
            limit=limit + 1,
        )
    shown = [to_message(row, services.sms[provider]) for row, provider in rows[:limit]]
    nodes = [(encode_cursor(services, caller.workspace_id, m.created_at, m.id), m) for m in shown]
    return MessagePage(
        nodes=nodes,
        has_next_page=len(rows) > limit,
        end_cursor=nodes[-1][0] if nodes else None,
    )


async def message_updates(services: Services, caller: Caller) -> AsyncIterator[Message]:
    """Every new inbound message and every status change of the caller's workspace."""
    async for message in events.strictly(
        services, messages_channel(caller.workspace_id), Message, "smsMessages"
    ):
        yield message
