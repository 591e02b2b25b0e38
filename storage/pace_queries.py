"""The SQL of a sender's pace (``sms_send_pace``): one statement per function.

Times are seconds since the epoch as floats, so SQLite and PostgreSQL do the same arithmetic.
A take is one conditional upsert: concurrent takes on one sender serialize on its row (SQLite's
write lock; PostgreSQL's row lock, ON CONFLICT DO UPDATE re-reading the newest version), so
no two replicas or workers can ever be handed the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SendPaceRow

_P = SendPaceRow.__table__.c  # type: ignore[attr-defined]

# The gap a segment takes now (doubled while the sender is slowed down), the earliest moment
# a message of :segments may leave (its own segments but the last are paid before it, so any
# one-second window holds at most the rate plus one segment), and the pace after it left.
_GAP = "(CASE WHEN sms_send_pace.slowed_until > :now THEN :slow_interval ELSE :interval END)"
_START = f"(sms_send_pace.next_free_at + (:segments - 1) * {_GAP})"
_TAKE = text(
    f"""
    INSERT INTO sms_send_pace (account_id, next_free_at, slowed_until)
    VALUES (:account_id, :now + :segments * :interval, NULL)
    ON CONFLICT (account_id) DO UPDATE
    SET next_free_at = (CASE WHEN {_START} > :now THEN {_START} ELSE :now END)
        + :segments * {_GAP}
    WHERE {_START} <= :now + :horizon
    RETURNING next_free_at, slowed_until
    """  # noqa: S608 (constant fragments; every value is a bound parameter)
).bindparams(
    # Typed, so that PostgreSQL knows every parameter's type in this arithmetic.
    bindparam("account_id", type_=String),
    bindparam("segments", type_=Integer),
    *(bindparam(name, type_=Float) for name in ("now", "interval", "slow_interval", "horizon")),
)
_SLOW = text(
    """
    INSERT INTO sms_send_pace (account_id, next_free_at, slowed_until)
    VALUES (:account_id, :now, :until)
    ON CONFLICT (account_id) DO UPDATE SET slowed_until = :until
    """
).bindparams(
    bindparam("account_id", type_=String),
    bindparam("now", type_=Float),
    bindparam("until", type_=Float),
)


@dataclass(frozen=True, slots=True)
class Pace:
    next_free_at: float
    slowed_until: float | None


@dataclass(frozen=True, slots=True)
class Gaps:
    """Seconds a segment takes: normally, and while the sender is slowed down."""

    interval: float
    slow_interval: float


async def take(
    session: AsyncSession,
    account_id: str,
    *,
    segments: int,
    gaps: Gaps,
    now: float,
    horizon: float,
) -> Pace | None:
    """Take the sender's next slot for ``segments`` if it starts within ``horizon`` seconds of
    ``now`` (0: only a slot free now); the pace after it, or None when it is further away."""
    result = await session.execute(
        _TAKE,
        {
            "account_id": account_id,
            "segments": segments,
            "interval": gaps.interval,
            "slow_interval": gaps.slow_interval,
            "now": now,
            "horizon": horizon,
        },
    )
    row = result.one_or_none()
    return None if row is None else Pace(row.next_free_at, row.slowed_until)


async def pace_of(session: AsyncSession, account_id: str) -> Pace | None:
    row = (
        await session.execute(
            select(_P.next_free_at, _P.slowed_until).where(_P.account_id == account_id)
        )
    ).one_or_none()
    return None if row is None else Pace(row.next_free_at, row.slowed_until)


async def slow_down(session: AsyncSession, account_id: str, *, now: float, until: float) -> None:
    """Slow the sender down until ``until`` (its gaps are the slow ones until then)."""
    await session.execute(_SLOW, {"account_id": account_id, "now": now, "until": until})
