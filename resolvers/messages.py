"""Sending SMS through verified accounts, reading messages, and their live updates.

Every send is billed to the customer's own Twilio account, so a send is attempted at most once:
only a 429 (not processed by Twilio) is retried. A send whose answer never came back is stored
as UNCONFIRMED and settled by Twilio's status callback, which carries our message id.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from providers.error_codes import AUTHENTICATION_FAILED, RECIPIENT_UNSUBSCRIBED, SENDER_GONE
from providers.error_codes import describe as twilio_error
from providers.errors import BaseUrlRefused, OutcomeUnknown, TwilioError, TwilioRejected
from providers.twilio import Credentials
from resolvers import events
from resolvers.accounts import stored_token, to_account
from resolvers.domain import (
    CANNOT_DECRYPT,
    CANNOT_DECRYPT_MESSAGE,
    AccountStatus,
    Caller,
    Message,
    MessageDirection,
    MessagePage,
    MessageStatus,
    VerificationFailure,
)
from resolvers.errors import INTEGRATION_DISABLED, ErrorCode, FieldError
from resolvers.message_status import from_twilio
from resolvers.services import Services
from resolvers.text import could_be_id, is_text, text_errors
from resolvers.validation import phone_number
from storage import message_queries, queries
from storage.crypto import SecretError
from storage.models import SmsMessageRow, new_id
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_BODY = 1600
MAX_PAGE = 100  # messages in one page of smsMessages: a larger ``first`` is refused
NO_SUCH_ACCOUNT = FieldError("accountId", ErrorCode.NOT_FOUND, "No such SMS account.")
UNREACHABLE = "Nothing was sent: Twilio could not be reached. Try again later."
# Saved under a looser policy than the server's current one: the account must be fixed.
BASE_URL_REFUSED = (
    "Nothing was sent: this account's Base URL is not allowed by the server's policy. Set a "
    "Twilio Base URL (https://api.twilio.com/ unless Twilio Support gave you a regional one) "
    "and verify again."
)
BASE_URL_FAILURE = VerificationFailure.BASE_URL.value


@dataclass(slots=True)
class SendResult:
    message: Message | None = None
    errors: list[FieldError] = field(default_factory=list)


def messages_channel(workspace_id: str) -> str:
    return f"sms-messages:{workspace_id}"


def to_message(row: SmsMessageRow) -> Message:
    return Message(
        id=row.id,
        account_id=row.account_id,
        direction=MessageDirection(row.direction),
        from_number=row.from_number,
        to_number=row.to_number,
        body=row.body,
        status=MessageStatus(row.status),
        provider_message_id=row.provider_message_id,
        error_code=row.error_code,
        error_message=shown_error(row.error_code, row.error_message),
        segments=row.segments,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def shown_error(code: int | None, stored: str | None) -> str | None:
    """errorMessage in our words only: rows stored before this kept Twilio's own text."""
    if code is not None:
        return twilio_error(code)
    return stored if stored in (UNREACHABLE, BASE_URL_REFUSED) else None


async def publish_message(services: Services, workspace_id: str, message: Message) -> None:
    try:
        await services.bus.publish(messages_channel(workspace_id), message)
    except Exception:
        log.exception("could not publish a message update for workspace %s", workspace_id)


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
    if body.strip() == "":
        errors.append(FieldError("body", ErrorCode.REQUIRED, "Write the message to send."))
    elif len(body) > MAX_BODY:
        errors.append(
            FieldError(
                "body",
                ErrorCode.INVALID,
                f"The message is {len(body)} characters; Twilio sends at most {MAX_BODY}.",
            )
        )
    return errors


async def send_sms(
    services: Services, caller: Caller, account_id: str, to: str, body: str
) -> SendResult:
    """Check everything, then post to Twilio once, storing the message before it leaves."""
    unreadable = text_errors({"accountId": account_id, "to": to, "body": body}, multiline={"body"})
    if unreadable:
        return SendResult(errors=unreadable)
    if not could_be_id(account_id):
        return SendResult(errors=[NO_SUCH_ACCOUNT])
    # Trimmed once: this spelling (checked by validation.phone_number) is the one checked against
    # opt-outs and the one sent; look-alike digits are refused, never translated.
    to = to.strip()
    now = utcnow()
    async with services.reads() as session:
        if not await queries.integration_enabled(session, caller.workspace_id):
            return SendResult(errors=[INTEGRATION_DISABLED])
        account = await queries.live_account(session, caller.workspace_id, account_id)
        if account is None:
            return SendResult(errors=[NO_SUCH_ACCOUNT])
        if account.status != AccountStatus.VERIFIED.value or account.sender_id is None:
            return SendResult(
                errors=[
                    FieldError(
                        "accountId",
                        ErrorCode.ACCOUNT_NOT_VERIFIED,
                        "This SMS account is not verified (or has no sender): verify it first.",
                    )
                ]
            )
        field_errors = _check_fields(to, body)
        if field_errors:
            return SendResult(errors=field_errors)
        if await message_queries.is_opted_out(session, caller.workspace_id, to):
            return SendResult(
                errors=[
                    FieldError(
                        "to",
                        ErrorCode.RECIPIENT_OPTED_OUT,
                        "This recipient replied STOP; nothing is sent to them until they reply "
                        "START.",
                    )
                ]
            )
    token = stored_token(services.secrets, account)
    if token is None:
        await _fail_account(
            services, caller, account.id, account.credentials_version, CANNOT_DECRYPT
        )
        return SendResult(
            errors=[FieldError("accountId", ErrorCode.ACCOUNT_NOT_VERIFIED, CANNOT_DECRYPT_MESSAGE)]
        )
    credentials = Credentials(account.client_id, token, account.base_url)
    row = SmsMessageRow(
        id=new_id(),
        workspace_id=caller.workspace_id,
        account_id=account.id,
        direction=MessageDirection.OUTBOUND.value,
        from_number=account.sender_id,
        to_number=to,
        body=body,
        status=MessageStatus.UNCONFIRMED.value,  # until Twilio answers
        created_at=now,
        updated_at=now,
    )
    async with services.writes() as session:
        session.add(row)
        await session.commit()

    callback = (
        f"{services.public_url}/webhooks/twilio/{account.id}/status?mid={row.id}"
        if services.public_url
        else None
    )
    errors: list[FieldError] = []
    try:
        sent = await services.twilio.send_message(
            credentials, to=to, body=body, sender=account.sender_id, status_callback=callback
        )
    except OutcomeUnknown:
        errors.append(
            FieldError(
                None,
                ErrorCode.PROVIDER_UNAVAILABLE,
                "Twilio did not confirm this message. It was not sent again (that could send it "
                "twice); its delivery report will settle its status.",
            )
        )
    except BaseUrlRefused:
        row.status = MessageStatus.FAILED.value
        row.error_message = BASE_URL_REFUSED
        errors.append(FieldError("accountId", ErrorCode.ACCOUNT_NOT_VERIFIED, BASE_URL_REFUSED))
        await _fail_account(
            services, caller, account.id, account.credentials_version, BASE_URL_FAILURE
        )
    except TwilioRejected as rejected:
        row.status = MessageStatus.FAILED.value
        row.error_code = rejected.code
        row.error_message = twilio_error(rejected.code)
        errors.append(
            FieldError(
                None,
                ErrorCode.PROVIDER_REJECTED,
                f"Twilio rejected the message: {row.error_message}",
            )
        )
        await _react_to_rejection(
            services, caller, account.id, account.credentials_version, to, rejected
        )
    except TwilioError:
        row.status = MessageStatus.FAILED.value
        row.error_message = UNREACHABLE
        errors.append(FieldError(None, ErrorCode.PROVIDER_UNAVAILABLE, row.error_message))
    else:
        row.status = (from_twilio(sent.status) or MessageStatus.QUEUED).value
        row.provider_message_id = sent.sid or None
        row.segments = sent.segments
        row.error_code = sent.error_code
        row.error_message = None if sent.error_code is None else twilio_error(sent.error_code)

    row.updated_at = utcnow()
    await _save_outcome_in(services, row)
    message = to_message(row)
    await publish_message(services, caller.workspace_id, message)
    return SendResult(message=message, errors=errors)


async def _save_outcome_in(services: Services, row: SmsMessageRow) -> None:
    """Write what Twilio answered. The message was sent: this write must not fail the call."""
    async with services.writes() as session:
        saved = await message_queries.save(session, row)
        await session.commit()
    if not saved:
        # Twilio's SIDs are unique, so one seen twice is not this message's: keep the message
        # without it rather than lose it.
        log.warning("message %s: Twilio answered with a SID already stored", row.id)
        row.provider_message_id = None
        async with services.writes() as session:
            await message_queries.save(session, row)
            await session.commit()


async def _react_to_rejection(
    services: Services,
    caller: Caller,
    account_id: str,
    version: int,
    to: str,
    rejected: TwilioRejected,
) -> None:
    """A gone sender or bad credentials fail the account; a STOP reply records the opt-out."""
    now = utcnow()
    if rejected.code == RECIPIENT_UNSUBSCRIBED:
        async with services.writes() as session:
            await message_queries.opt_out(session, caller.workspace_id, to, now)
            await session.commit()
        return
    if rejected.code in SENDER_GONE:
        failure = VerificationFailure.INVALID_FROM_NUMBER
    elif rejected.code == AUTHENTICATION_FAILED:
        failure = VerificationFailure.INVALID_CREDENTIALS
    else:
        return  # the message failed; the account is fine
    await _fail_account(services, caller, account_id, version, failure.value)


async def _fail_account(
    services: Services, caller: Caller, account_id: str, version: int, failure: str
) -> None:
    """A VERIFIED account that can no longer send turns FAILED (unless its credentials changed)."""
    now = utcnow()
    async with services.writes() as session:
        before_row = await queries.account_by_id(session, account_id)
        before = to_account(before_row, services.public_url) if before_row else None
        flipped = await message_queries.fail_sender(session, account_id, version, failure, now)
        await session.commit()
        if flipped and before_row is not None:
            await session.refresh(before_row)
    if flipped and before_row is not None:
        await events.account_changed(
            services,
            caller.workspace_id,
            to_account(before_row, services.public_url),
            before=before,
        )


def _cursor_binding(workspace_id: str) -> str:
    return f"sms_messages:{workspace_id}:cursor"


def encode_cursor(services: Services, workspace_id: str, created_at: datetime, id: str) -> str:
    """Sealed, so a client can neither read a position into it nor forge one."""
    sealed = services.secrets.encrypt(
        f"{created_at.isoformat()}|{id}", bound_to=_cursor_binding(workspace_id)
    )
    return base64.urlsafe_b64encode(sealed.encode()).decode().rstrip("=")


def decode_cursor(services: Services, workspace_id: str, cursor: str) -> tuple[datetime, str]:
    if not is_text(cursor):
        raise InvalidCursorError("after is not a cursor from this list")
    try:
        sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        raw = services.secrets.decrypt(sealed, bound_to=_cursor_binding(workspace_id))
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
            direction=direction.value if direction else None,
            after=position,
            limit=limit + 1,
        )
    shown = [to_message(row) for row in rows[:limit]]
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
