"""What Twilio tells us: delivery outcomes of sent messages and inbound replies.

The caller (``api/webhooks.py``) has already checked the signature with ``signing_tokens``.
Both handlers are idempotent (Twilio retries) and never move a message backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resolvers.accounts import previous_secret_binding, secret_binding
from resolvers.domain import MessageDirection, MessageStatus
from resolvers.message_status import from_twilio
from resolvers.messages import publish_message, to_message
from resolvers.services import Services
from resolvers.status_batches import StatusBatcher, StatusReport
from resolvers.text import could_be_id, is_text
from storage import message_queries, queries
from storage.crypto import SecretError
from storage.models import SmsMessageRow, new_id
from storage.types import INTEGER_MAX, utcnow

log = logging.getLogger(__name__)

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})


@dataclass(frozen=True, slots=True)
class SigningAccount:
    workspace_id: str
    tokens: list[str]  # the current Auth Token, and the previous one during its grace period


async def signing_tokens(services: Services, account_id: str) -> SigningAccount | None:
    """The tokens a webhook for this account may be signed with; None for an unknown account,
    or one whose tokens no configured key opens."""
    async with services.reads() as session:
        row = await queries.signing_secrets(session, account_id)
    if row is None:
        return None
    workspace_id, current, previous, until = row
    stored = [(current, secret_binding(account_id))]
    if previous and until is not None and until > utcnow():
        stored.append((previous, previous_secret_binding(account_id)))
    tokens = []
    for ciphertext, binding in stored:
        try:
            tokens.append(services.secrets.decrypt(ciphertext, bound_to=binding))
        except SecretError as reason:
            # Nothing can be signed with a token no one can read: its webhooks are refused.
            log.warning("a webhook for account %s: a token cannot be read: %s", account_id, reason)
    return SigningAccount(workspace_id, tokens) if tokens else None


class MalformedCallbackError(ValueError):
    """A signed callback carries a value Twilio never sends: it is refused (400) before anything
    is written, so it cannot fail anyone else's report in the batch it would have joined."""


_MAX_DIGITS = len(str(INTEGER_MAX))
_M = SmsMessageRow.__table__.c  # type: ignore[attr-defined]


def _count(params: Mapping[str, str], name: str) -> int | None:
    """The whole number ``params[name]``; None when absent or empty (Twilio leaves some fields
    blank). Only ASCII digits count: ``str.isdigit`` also takes other scripts' digits and
    superscripts, which ``int`` reads or refuses. The value must fit the integer columns: a
    larger one would fail its write."""
    value = params.get(name)
    if not value:
        return None
    if len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        number = int(value)
        if number <= INTEGER_MAX:
            return number
    raise MalformedCallbackError(f"{name} must be a whole number from 0 to {INTEGER_MAX}")


def _text(params: Mapping[str, str], name: str, column: Any, *, multiline: bool = False) -> str:
    """``params[name]`` ("" when absent) as it will be stored in ``column``: plain text (PostgreSQL
    refuses NUL outright) no longer than the column holds."""
    value = params.get(name) or ""
    limit = column.type.length
    if is_text(value, multiline=multiline) and (limit is None or len(value) <= limit):
        return value
    at_most = "" if limit is None else f" of at most {limit} characters"
    raise MalformedCallbackError(f"{name} must be plain text{at_most}")


def _sid(params: Mapping[str, str]) -> str:
    sid = _text(params, "MessageSid", _M.provider_message_id)
    return sid or _text(params, "SmsSid", _M.provider_message_id)


def status_report(
    workspace_id: str, account_id: str, params: Mapping[str, str], our_message_id: str | None
) -> StatusReport | None:
    """The report a status callback makes; None when it names no status or no message.
    Raises MalformedCallbackError for a value Twilio never sends."""
    status = from_twilio(params.get("MessageStatus") or params.get("SmsStatus"))
    sid = _sid(params)
    if our_message_id and not could_be_id(our_message_id):
        raise MalformedCallbackError("mid must be the id of a message this server sent")
    if status is None or not sid:
        return None
    return StatusReport(
        workspace_id=workspace_id,
        account_id=account_id,
        provider_message_id=sid,
        message_id=our_message_id or None,
        status=status,
        error_code=_count(params, "ErrorCode"),
    )


async def record_status(
    batcher: StatusBatcher,
    workspace_id: str,
    account_id: str,
    params: Mapping[str, str],
    our_message_id: str | None,
) -> bool:
    """Apply a status callback once its batch committed; True when the message changed.
    Unknown messages, replays and steps backwards change nothing."""
    report = status_report(workspace_id, account_id, params, our_message_id)
    return report is not None and await batcher.record(report)


async def record_inbound(
    services: Services, workspace_id: str, account_id: str, params: Mapping[str, str]
) -> bool:
    """Store an inbound SMS once per MessageSid and apply STOP / START. True when new.
    Raises MalformedCallbackError for a value Twilio never sends."""
    sid = _sid(params)
    sender = _text(params, "From", _M.from_number).strip()
    to = _text(params, "To", _M.to_number).strip()
    body = _text(params, "Body", _M.body, multiline=True)
    if not sid or not sender:
        return False
    now = utcnow()
    row = SmsMessageRow(
        id=new_id(),
        workspace_id=workspace_id,
        account_id=account_id,
        direction=MessageDirection.INBOUND.value,
        from_number=sender,
        to_number=to,
        body=body,
        status=MessageStatus.RECEIVED.value,
        provider_message_id=sid,
        segments=_count(params, "NumSegments"),
        created_at=now,
        updated_at=now,
    )
    keyword = body.strip().upper()
    opt_out_type = (params.get("OptOutType") or "").strip().upper()
    async with services.writes() as session:
        inserted = await message_queries.insert_once(session, row)
        if inserted:
            if keyword in OPT_OUT_WORDS or opt_out_type == "STOP":
                await message_queries.opt_out(session, workspace_id, sender, now)
            elif keyword in OPT_IN_WORDS or opt_out_type == "START":
                await message_queries.opt_in(session, workspace_id, sender)
        await session.commit()
    if inserted:
        await publish_message(services, workspace_id, to_message(row))
    return inserted
