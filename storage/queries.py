"""The SQL the use cases need, one function a statement. Every account query is workspace-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey, SmsAccountRow, Workspace

_A = SmsAccountRow.__table__.c  # type: ignore[attr-defined]
_W = Workspace.__table__.c  # type: ignore[attr-defined]
_K = ApiKey.__table__.c  # type: ignore[attr-defined]


async def key_owner(
    session: AsyncSession, key_hash: str
) -> tuple[str, str, str, datetime | None] | None:
    """(key id, workspace id, role, last used) of a live key with this hash."""
    row = (
        await session.execute(
            select(_K.id, _K.workspace_id, _K.role, _K.last_used_at).where(
                _K.key_hash == key_hash, _K.revoked_at.is_(None)
            )
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def touch_key(session: AsyncSession, key_id: str, now: datetime, stale: datetime) -> bool:
    """Record a use unless one after ``stale`` is recorded (another request or process was
    first): at most one write per key per interval, whatever the request rate."""
    result = await session.execute(
        update(ApiKey)
        .where(_K.id == key_id, or_(_K.last_used_at.is_(None), _K.last_used_at < stale))
        .values(last_used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def workspace_names(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(_W.name).order_by(_W.name))).scalars().all())


async def key_listing(session: AsyncSession, workspace_name: str | None) -> Sequence[Any]:
    """(prefix, workspace, role, created, last used, revoked) of every key, oldest first."""
    statement = (
        select(_K.prefix, _W.name, _K.role, _K.created_at, _K.last_used_at, _K.revoked_at)
        .join(Workspace, _W.id == _K.workspace_id)
        .order_by(_W.name, _K.created_at, _K.prefix)
    )
    if workspace_name is not None:
        statement = statement.where(_W.name == workspace_name)
    return (await session.execute(statement)).all()


async def workspace_by_name(session: AsyncSession, name: str) -> Workspace | None:
    return (await session.execute(select(Workspace).where(_W.name == name))).scalars().first()


async def count_workspaces(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Workspace))).scalar_one())


async def keys_with_prefix(session: AsyncSession, prefix: str) -> Sequence[ApiKey]:
    return (await session.execute(select(ApiKey).where(_K.prefix == prefix))).scalars().all()


async def integration_enabled(session: AsyncSession, workspace_id: str) -> bool:
    value = (await session.execute(select(_W.sms_enabled).where(_W.id == workspace_id))).scalar()
    return bool(value)


async def set_integration_enabled(session: AsyncSession, workspace_id: str, enabled: bool) -> bool:
    """Set the toggle; True when it changed."""
    result = await session.execute(
        update(Workspace)
        .where(_W.id == workspace_id, _W.sms_enabled.is_not(enabled))
        .values(sms_enabled=enabled)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def live_accounts(session: AsyncSession, workspace_id: str) -> Sequence[SmsAccountRow]:
    return (
        (
            await session.execute(
                select(SmsAccountRow)
                .where(_A.workspace_id == workspace_id, _A.removed_at.is_(None))
                .order_by(_A.created_at, _A.id)
            )
        )
        .scalars()
        .all()
    )


async def live_account(
    session: AsyncSession, workspace_id: str, account_id: str, *, for_update: bool = False
) -> SmsAccountRow | None:
    statement = select(SmsAccountRow).where(
        _A.id == account_id, _A.workspace_id == workspace_id, _A.removed_at.is_(None)
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalars().first()


async def lock_workspace(session: AsyncSession, workspace_id: str) -> None:
    """Serialise this transaction with others that lock the workspace (PostgreSQL; SQLite's
    writers already take turns)."""
    await session.execute(select(_W.id).where(_W.id == workspace_id).with_for_update())


async def sender_owner(
    session: AsyncSession, workspace_id: str, client_id: str, sender_id: str, *, other_than: str
) -> str | None:
    """The display name of another live account with this Account SID and sender, if any."""
    return (
        await session.execute(
            select(_A.display_name)
            .where(
                _A.workspace_id == workspace_id,
                _A.client_id == client_id,
                _A.sender_id == sender_id,
                _A.removed_at.is_(None),
                _A.id != other_than,
            )
            .limit(1)
        )
    ).scalar()


async def status_counts(session: AsyncSession, workspace_id: str) -> dict[str, int]:
    """Live accounts by status: the stat row."""
    rows = await session.execute(
        select(_A.status, func.count())
        .where(_A.workspace_id == workspace_id, _A.removed_at.is_(None))
        .group_by(_A.status)
    )
    return {status: int(count) for status, count in rows.all()}


async def account_by_id(session: AsyncSession, account_id: str) -> SmsAccountRow | None:
    """A live account by id, whatever its workspace: for background work, never for callers."""
    statement = select(SmsAccountRow).where(_A.id == account_id, _A.removed_at.is_(None))
    return (await session.execute(statement)).scalars().first()


_SIGNING_SECRETS = select(
    _A.workspace_id,
    _A.auth_token_ciphertext,
    _A.previous_auth_token_ciphertext,
    _A.previous_auth_token_until,
).where(_A.id == bindparam("account_id"), _A.removed_at.is_(None), _A.auth_token_ciphertext != "")


async def signing_secrets(
    session: AsyncSession, account_id: str
) -> tuple[str, str, str | None, datetime | None] | None:
    """(workspace id, token ciphertext, previous token ciphertext, previous valid until)."""
    connection = await session.connection()
    row = (await connection.execute(_SIGNING_SECRETS, {"account_id": account_id})).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def record_verdict(
    session: AsyncSession,
    account_id: str,
    version: int,
    *,
    status: str,
    failure: str | None,
    trial: bool | None,
    verified_at: datetime | None,
    now: datetime,
) -> bool:
    """Write a check's verdict only if the credentials it checked are still the current ones."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(
            _A.id == account_id,
            _A.credentials_version == version,
            _A.status == "VERIFYING",
            _A.removed_at.is_(None),
        )
        .values(
            status=status,
            failure=failure,
            trial=_A.trial if trial is None else trial,
            verified_at=verified_at,
            verify_lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def renew_lease(
    session: AsyncSession, account_id: str, version: int, lease_until: datetime
) -> bool:
    """Extend a running check's lease; False when the account is no longer that check's."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(
            _A.id == account_id,
            _A.status == "VERIFYING",
            _A.credentials_version == version,
            _A.removed_at.is_(None),
        )
        .values(verify_lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def claim_expired_checks(
    session: AsyncSession, now: datetime, lease_until: datetime
) -> list[tuple[str, int]]:
    """(id, credentials version) of VERIFYING accounts whose lease expired, now leased to us."""
    candidates = (
        await session.execute(
            select(_A.id, _A.credentials_version, _A.verify_lease_until).where(
                _A.status == "VERIFYING",
                _A.removed_at.is_(None),
                (_A.verify_lease_until.is_(None)) | (_A.verify_lease_until < now),
            )
        )
    ).all()
    claimed = []
    for account_id, version, old_lease in candidates:
        same_lease = (
            _A.verify_lease_until.is_(None)
            if old_lease is None
            else _A.verify_lease_until == old_lease
        )
        result = await session.execute(
            update(SmsAccountRow)
            .where(_A.id == account_id, _A.status == "VERIFYING", same_lease)
            .values(verify_lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append((account_id, int(version)))
    return claimed


async def senders(session: AsyncSession, workspace_id: str) -> Sequence[Any]:
    """Rows of the sender picker: verified accounts with a sender, while the integration is on."""
    return (
        await session.execute(
            select(_A.id, _A.display_name, _A.provider, _A.sender_id, _A.sender_kind)
            .join(Workspace, _W.id == _A.workspace_id)
            .where(
                _A.workspace_id == workspace_id,
                _A.removed_at.is_(None),
                _A.status == "VERIFIED",
                _A.sender_id.is_not(None),
                _W.sms_enabled.is_(True),
            )
            .order_by(func.lower(_A.display_name), _A.display_name, _A.id)
        )
    ).all()


SECRET_COLUMNS = ("auth_token_ciphertext", "previous_auth_token_ciphertext")


async def all_secrets(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(account id, column, ciphertext) of every stored secret, for key rotation."""
    rows = (
        await session.execute(
            select(_A.id, _A.auth_token_ciphertext, _A.previous_auth_token_ciphertext)
        )
    ).all()
    found = []
    for account_id, current, previous in rows:
        for column, value in zip(SECRET_COLUMNS, (current, previous), strict=True):
            if value:
                found.append((account_id, column, value))
    return found


async def replace_secret(
    session: AsyncSession, account_id: str, column: str, old: str, new: str
) -> bool:
    """Swap one ciphertext for another, unless it changed meanwhile."""
    target = SmsAccountRow.__table__.c[column]  # type: ignore[attr-defined]
    result = await session.execute(
        update(SmsAccountRow)
        .where(_A.id == account_id, target == old)
        .values({column: new})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
