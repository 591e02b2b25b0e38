"""The SQL of campaigns and their outbox, one statement a function. Counters move only through
``add_counts``, in the transaction of the recipients' moves (``domain.campaigns``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.campaigns import CampaignStatus, Outcome, PauseCause, RecipientStatus
from domain.vocabulary import MessageStatus
from storage.models import OptOut, SmsCampaignRecipientRow, SmsCampaignRow, SmsMessageRow

_C = SmsCampaignRow.__table__.c  # type: ignore[attr-defined]
_R = SmsCampaignRecipientRow.__table__.c  # type: ignore[attr-defined]
_O = OptOut.__table__.c  # type: ignore[attr-defined]
_M = SmsMessageRow.__table__.c  # type: ignore[attr-defined]
COUNTERS = (
    "total",
    "pending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "skipped",
    "unconfirmed",
)


def _campaign(row: Any) -> SmsCampaignRow | None:
    return None if row is None else SmsCampaignRow(**row._mapping)


async def insert_campaign(session: AsyncSession, row: SmsCampaignRow) -> bool:
    """False when the workspace already has a campaign with this idempotency key."""
    try:
        async with session.begin_nested():
            session.add(row)
        return True
    except IntegrityError:
        return False


async def campaign_by_key(
    session: AsyncSession, workspace_id: str, key: str
) -> SmsCampaignRow | None:
    found = await session.execute(
        select(SmsCampaignRow).where(_C.workspace_id == workspace_id, _C.idempotency_key == key)
    )
    return found.scalars().first()


async def campaign(
    session: AsyncSession, workspace_id: str | None, campaign_id: str
) -> SmsCampaignRow | None:
    """The campaign, in ``workspace_id`` only (None: any workspace, for the engine)."""
    statement = select(SmsCampaignRow).where(_C.id == campaign_id)
    if workspace_id is not None:
        statement = statement.where(_C.workspace_id == workspace_id)
    return (await session.execute(statement)).scalars().first()


async def page(
    session: AsyncSession, workspace_id: str, after: tuple[datetime, str] | None, limit: int
) -> Sequence[SmsCampaignRow]:
    """Newest first, from just after the cursor ``(created_at, id)``."""
    statement = select(SmsCampaignRow).where(_C.workspace_id == workspace_id)
    if after is not None:
        created_at, campaign_id = after
        statement = statement.where(
            or_(_C.created_at < created_at, and_(_C.created_at == created_at, _C.id < campaign_id))
        )
    statement = statement.order_by(_C.created_at.desc(), _C.id.desc()).limit(limit)
    return (await session.execute(statement)).scalars().all()


async def reserve_places(
    session: AsyncSession,
    workspace_id: str,
    campaign_id: str,
    count: int,
    most: int,
    now: datetime,
) -> int | None:
    """Count ``count`` more recipients submitted to a DRAFT campaign that stays within ``most``
    (and lock it until the transaction ends); the new total, or None when it is not so."""
    result = await session.execute(
        update(SmsCampaignRow)
        .where(
            _C.id == campaign_id,
            _C.workspace_id == workspace_id,
            _C.status == CampaignStatus.DRAFT,
            _C.total + count <= most,
        )
        .values(total=_C.total + count, updated_at=now)
        .returning(_C.total)
        .execution_options(synchronize_session=False)
    )
    total = result.scalar()
    return None if total is None else int(total)


async def opted_out_among(
    session: AsyncSession, workspace_id: str, numbers: Collection[str]
) -> set[str]:
    found = await session.execute(
        select(_O.phone_number).where(_O.workspace_id == workspace_id, _O.phone_number.in_(numbers))
    )
    return set(found.scalars().all())


async def insert_recipients(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert the recipients whose number is not in the campaign yet; how many were."""
    if not rows:
        return 0
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        make(SmsCampaignRecipientRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["campaign_id", "to_number"])
        .returning(_R.id)
    )
    return len((await session.execute(statement)).all())


async def add_counts(
    session: AsyncSession, campaign_id: str, now: datetime, **deltas: int
) -> SmsCampaignRow | None:
    """Move the campaign's counters by ``deltas`` (e.g. ``pending=-1, sent=1``); the campaign as
    it now is."""
    values: dict[str, Any] = {name: _C[name] + delta for name, delta in deltas.items() if delta}
    values["updated_at"] = now
    result = await session.execute(
        update(SmsCampaignRow)
        .where(_C.id == campaign_id)
        .values(**values)
        .returning(*_C)
        .execution_options(synchronize_session=False)
    )
    return _campaign(result.first())


async def move_campaign(
    session: AsyncSession,
    campaign_id: str,
    allowed_from: Collection[CampaignStatus],
    values: dict[str, Any],
    *,
    workspace_id: str | None = None,
    only_if_nothing_pending: bool = False,
) -> SmsCampaignRow | None:
    """Set ``values`` on the campaign only from one of ``allowed_from`` (and, when asked, only
    once nothing is pending); the campaign as it now is, or None when it did not move."""
    conditions = [_C.id == campaign_id, _C.status.in_(list(allowed_from))]
    if workspace_id is not None:
        conditions.append(_C.workspace_id == workspace_id)
    if only_if_nothing_pending:
        conditions.append(_C.pending == 0)
    result = await session.execute(
        update(SmsCampaignRow)
        .where(*conditions)
        .values(**values)
        .returning(*_C)
        .execution_options(synchronize_session=False)
    )
    return _campaign(result.first())


async def pause_sending(
    session: AsyncSession,
    cause: PauseCause,
    message: str,
    now: datetime,
    *,
    account_id: str | None = None,
    workspace_id: str | None = None,
) -> list[SmsCampaignRow]:
    """Server-pause every SENDING campaign of an account (or of a workspace)."""
    where = (
        _C.account_id == account_id if account_id is not None else _C.workspace_id == workspace_id
    )
    result = await session.execute(
        update(SmsCampaignRow)
        .where(where, _C.status == CampaignStatus.SENDING)
        .values(
            status=CampaignStatus.PAUSED, pause_cause=cause, status_message=message, updated_at=now
        )
        .returning(*_C)
        .execution_options(synchronize_session=False)
    )
    return [SmsCampaignRow(**row._mapping) for row in result.all()]


async def sending_campaign_ids(session: AsyncSession) -> list[str]:
    found = await session.execute(select(_C.id).where(_C.status == CampaignStatus.SENDING))
    return list(found.scalars().all())


async def next_pending(
    session: AsyncSession, campaign_id: str, limit: int
) -> Sequence[SmsCampaignRecipientRow]:
    """The next PENDING recipients, in the order they were added."""
    found = await session.execute(
        select(SmsCampaignRecipientRow)
        .where(_R.campaign_id == campaign_id, _R.status == RecipientStatus.PENDING)
        .order_by(_R.position)
        .limit(limit)
    )
    return found.scalars().all()


async def skip_opted_out(
    session: AsyncSession, workspace_id: str, campaign_id: str, ids: Collection[str]
) -> int:
    """PENDING recipients among ``ids`` who opted out since they were added become SKIPPED."""
    opted_out = exists().where(_O.workspace_id == workspace_id, _O.phone_number == _R.to_number)
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(
            _R.campaign_id == campaign_id,
            _R.id.in_(list(ids)),
            _R.status == RecipientStatus.PENDING,
            opted_out,
        )
        .values(status=RecipientStatus.SKIPPED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def hold_sending(session: AsyncSession, campaign_id: str) -> bool:
    """Whether the campaign is SENDING, holding it so until the transaction ends (FOR SHARE on
    PostgreSQL: a pause waits for this claim to commit, then sees what it claimed; SQLite's
    writers take turns anyway)."""
    found = await session.execute(
        select(_C.id)
        .where(_C.id == campaign_id, _C.status == CampaignStatus.SENDING)
        .with_for_update(read=True)
    )
    return found.first() is not None


async def claim(
    session: AsyncSession,
    campaign_id: str,
    ids: Collection[str],
    attempt_id: str,
    until: datetime,
) -> list[SmsCampaignRecipientRow]:
    """PENDING recipients among ``ids`` become SENDING under ``attempt_id`` until ``until``,
    only while the campaign is SENDING (a pause committed first claims nothing)."""
    sending = exists().where(_C.id == campaign_id, _C.status == CampaignStatus.SENDING)
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(
            _R.campaign_id == campaign_id,
            _R.id.in_(list(ids)),
            _R.status == RecipientStatus.PENDING,
            sending,
        )
        .values(status=RecipientStatus.SENDING, attempt_id=attempt_id, attempt_until=until)
        .returning(*_R)
        .execution_options(synchronize_session=False)
    )
    return [SmsCampaignRecipientRow(**row._mapping) for row in result.all()]


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The messages of a hand-over, stored before they leave."""
    if rows:
        await session.execute(insert(SmsMessageRow), rows)


async def unowned_to_unconfirmed(session: AsyncSession, campaign_id: str, now: datetime) -> int:
    """SENDING recipients whose attempt's time ran out (its process is gone) become UNCONFIRMED:
    they may have left, so they are never sent again."""
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(
            _R.campaign_id == campaign_id,
            _R.status == RecipientStatus.SENDING,
            _R.attempt_until < now,
        )
        # The attempt's id stays: should its owner answer after all, it settles the row.
        .values(status=RecipientStatus.UNCONFIRMED, attempt_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def finish(
    session: AsyncSession,
    ids: Collection[str],
    attempt_id: str,
    was: RecipientStatus,
    now_is: RecipientStatus,
) -> list[str]:
    """Recipients of this attempt still ``was`` become ``now_is``; the ids that moved."""
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(_R.id.in_(list(ids)), _R.attempt_id == attempt_id, _R.status == was)
        .values(status=now_is, attempt_until=None)
        .returning(_R.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())


async def skip_pending(session: AsyncSession, campaign_id: str) -> int:
    """What is left of a canceled campaign: every PENDING recipient becomes SKIPPED."""
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(_R.campaign_id == campaign_id, _R.status == RecipientStatus.PENDING)
        .values(status=RecipientStatus.SKIPPED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def in_flight(session: AsyncSession, campaign_id: str) -> bool:
    """Whether a hand-over of this campaign is under way (a SENDING recipient)."""
    found = await session.execute(
        select(_R.id)
        .where(_R.campaign_id == campaign_id, _R.status == RecipientStatus.SENDING)
        .limit(1)
    )
    return found.first() is not None


async def confirm(session: AsyncSession, recipient_id: str) -> str | None:
    """An UNCONFIRMED recipient whose delivery report came is SENT; its campaign, or None."""
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(_R.id == recipient_id, _R.status == RecipientStatus.UNCONFIRMED)
        .values(status=RecipientStatus.SENT)
        .returning(_R.campaign_id)
        .execution_options(synchronize_session=False)
    )
    campaign_id: str | None = result.scalar()
    return campaign_id


async def set_outcome(session: AsyncSession, recipient_id: str, outcome: Outcome) -> str | None:
    """Record the first final delivery outcome of a recipient; its campaign, or None when one
    was recorded before (a replay, or READ after DELIVERED)."""
    result = await session.execute(
        update(SmsCampaignRecipientRow)
        .where(_R.id == recipient_id, _R.outcome.is_(None))
        .values(outcome=outcome)
        .returning(_R.campaign_id)
        .execution_options(synchronize_session=False)
    )
    campaign_id: str | None = result.scalar()
    return campaign_id


async def forget_messages(session: AsyncSession, ids: Collection[str]) -> None:
    """The messages of recipients put back to PENDING: nothing left, they will be stored again
    when they do."""
    await session.execute(
        delete(SmsMessageRow)
        .where(_M.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )


async def record_message(
    session: AsyncSession, message_id: str, status: MessageStatus, values: dict[str, Any]
) -> None:
    """What the provider answered for one message of a hand-over. Its status only replaces
    UNCONFIRMED: a delivery report that came before the answer is further along."""
    new_status = case(
        (_M.status == MessageStatus.UNCONFIRMED, literal(status, _M.status.type)),
        else_=_M.status,
    )
    await session.execute(
        update(SmsMessageRow)
        .where(_M.id == message_id)
        .values(status=new_status, **values)
        .execution_options(synchronize_session=False)
    )
