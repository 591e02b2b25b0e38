"""The SQL of messages and opt-outs. Every read is workspace-scoped."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Integer, Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import MessageDirection, MessageStatus, SmsProvider
from storage.models import OptOut, SmsAccountRow, SmsMessageRow

_M = SmsMessageRow.__table__.c  # type: ignore[attr-defined]
_O = OptOut.__table__.c  # type: ignore[attr-defined]
_A = SmsAccountRow.__table__.c  # type: ignore[attr-defined]


async def page(
    session: AsyncSession,
    workspace_id: str,
    *,
    account_id: str | None,
    direction: MessageDirection | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[SmsMessageRow, SmsProvider]]:
    """(message, its account's provider), newest first, from just after the cursor
    ``(created_at, id)``."""
    statement = (
        select(SmsMessageRow, _A.provider)
        .join(SmsAccountRow, _A.id == _M.account_id)
        .where(_M.workspace_id == workspace_id)
    )
    if account_id is not None:
        statement = statement.where(_M.account_id == account_id)
    if direction is not None:
        statement = statement.where(_M.direction == direction)
    if after is not None:
        created_at, message_id = after
        statement = statement.where(
            or_(_M.created_at < created_at, and_(_M.created_at == created_at, _M.id < message_id))
        )
    statement = statement.order_by(_M.created_at.desc(), _M.id.desc()).limit(limit)
    return [(row, provider) for row, provider in (await session.execute(statement)).all()]


async def is_opted_out(session: AsyncSession, workspace_id: str, phone_number: str) -> bool:
    found = await session.execute(
        select(_O.phone_number).where(
            _O.workspace_id == workspace_id, _O.phone_number == phone_number
        )
    )
    return found.first() is not None


async def opt_out(
    session: AsyncSession, workspace_id: str, phone_number: str, now: datetime
) -> None:
    if await is_opted_out(session, workspace_id, phone_number):
        return
    try:
        async with session.begin_nested():
            session.add(
                OptOut(workspace_id=workspace_id, phone_number=phone_number, created_at=now)
            )
    except IntegrityError:
        pass  # opted out concurrently: same outcome


async def opt_in(session: AsyncSession, workspace_id: str, phone_number: str) -> None:
    await session.execute(
        delete(OptOut).where(_O.workspace_id == workspace_id, _O.phone_number == phone_number)
    )


@functools.lru_cache(maxsize=32)
def _advance_statement(allowed_from: frozenset[MessageStatus]) -> Update:
    """The UPDATE of ``advance`` for one set of statuses it may replace, built once per set: a
    delivery report is the hottest write there is (three per message sent), and an expanding
    ``IN`` parameter would be rendered into the SQL anew at every execution. The few sets there
    are (one per reported status) are written into the statement instead."""
    return (
        update(SmsMessageRow)
        .where(
            _M.account_id == bindparam("p_account_id"),
            _M.direction == MessageDirection.OUTBOUND,
            or_(*(_M.status == status for status in sorted(allowed_from, key=str))),
            or_(
                _M.provider_message_id == bindparam("p_sid"),
                and_(_M.id == bindparam("p_message_id"), _M.provider_message_id.is_(None)),
            ),
        )
        .values(
            status=bindparam("p_status"),
            updated_at=bindparam("p_now"),
            provider_message_id=bindparam("p_sid"),
            error_code=func.coalesce(bindparam("p_error_code", type_=Integer), _M.error_code),
        )
        .returning(*SmsMessageRow.__table__.c)  # type: ignore[attr-defined]
    )


async def advance(
    session: AsyncSession,
    account_id: str,
    *,
    provider_message_id: str,
    message_id: str | None,
    status: MessageStatus,
    allowed_from: Collection[MessageStatus],
    error_code: int | None,
    now: datetime,
) -> SmsMessageRow | None:
    """Move an outbound message to ``status`` only from one of ``allowed_from``, in one
    statement; the message as it now is, or None when nothing moved.

    Found by Twilio's SID, or by our own id (``message_id``) for a send Twilio never confirmed.
    """
    connection = await session.connection()
    result = await connection.execute(
        _advance_statement(frozenset(allowed_from)),
        {
            "p_account_id": account_id,
            "p_sid": provider_message_id,
            "p_message_id": message_id,
            "p_status": status,
            "p_now": now,
            "p_error_code": error_code,
        },
    )
    row = result.first()
    return None if row is None else SmsMessageRow(**row._mapping)


async def insert_once(session: AsyncSession, row: SmsMessageRow) -> bool:
    """Insert unless a message with the same provider id exists; True when inserted."""
    try:
        async with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


async def save(session: AsyncSession, row: SmsMessageRow) -> bool:
    """Write ``row`` (new or changed); False when its provider id is already another's."""
    try:
        async with session.begin_nested():
            await session.merge(row)
        return True
    except IntegrityError:
        return False
