"""The SQL the use cases need, one function a statement. Every account query is workspace-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.account_states import ANY_STATUS, AccountMove
from domain.vocabulary import AccountStatus, WebhookWiringStatus
from domain.webhook_wiring import WiringMove
from storage.models import ApiKey, SmsAccountRow, Workspace

_A = SmsAccountRow.__table__.c  # type: ignore[attr-defined]
_W = Workspace.__table__.c  # type: ignore[attr-defined]
_K = ApiKey.__table__.c  # type: ignore[attr-defined]


async def key_owner(
    session: AsyncSession, key_hash: str, now: datetime
) -> tuple[str, str, str, datetime | None] | None:
    """(key id, workspace id, role, last used) of a live key with this hash: not revoked, and
    not a key whose first use was due before ``now`` and never came."""
    in_time = or_(_K.first_use_by.is_(None), _K.last_used_at.is_not(None), _K.first_use_by > now)
    row = (
        await session.execute(
            select(_K.id, _K.workspace_id, _K.role, _K.last_used_at).where(
                _K.key_hash == key_hash, _K.revoked_at.is_(None), in_time
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
    """(prefix, workspace, role, created, last used, revoked, first use by) of every key, oldest
    first."""
    statement = (
        select(
            _K.prefix,
            _W.name,
            _K.role,
            _K.created_at,
            _K.last_used_at,
            _K.revoked_at,
            _K.first_use_by,
        )
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


async def status_counts(session: AsyncSession, workspace_id: str) -> dict[AccountStatus, int]:
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
    _A.provider,
    _A.auth_token_ciphertext,
    _A.previous_auth_token_ciphertext,
    _A.previous_auth_token_until,
    _A.credentials_version,
).where(_A.id == bindparam("account_id"), _A.removed_at.is_(None), _A.auth_token_ciphertext != "")

SigningSecrets = tuple[str, str, str, str | None, datetime | None, int]


async def signing_secrets(session: AsyncSession, account_id: str) -> SigningSecrets | None:
    """(workspace id, provider, token ciphertext, previous token ciphertext, previous valid
    until, credentials version)."""
    connection = await session.connection()
    row = (await connection.execute(_SIGNING_SECRETS, {"account_id": account_id})).first()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], int(row[5]))


async def signing_versions(
    session: AsyncSession, account_ids: Sequence[str]
) -> dict[str, tuple[int, bool]]:
    """id -> (credentials version, has a previous token) of the accounts among ``account_ids``
    whose webhooks can still be signed: what a remembered signer is checked against."""
    connection = await session.connection()
    rows = await connection.execute(
        select(_A.id, _A.credentials_version, _A.previous_auth_token_ciphertext.is_not(None)).where(
            _A.id.in_(account_ids), _A.removed_at.is_(None), _A.auth_token_ciphertext != ""
        )
    )
    return {row[0]: (int(row[1]), bool(row[2])) for row in rows}


_REPORT_TOKEN = select(
    _A.workspace_id,
    _A.provider,
    _A.status_webhook_token,
    _A.credentials_version,
    _A.previous_auth_token_ciphertext.is_not(None),
).where(_A.id == bindparam("account_id"), _A.removed_at.is_(None))


async def report_token(
    session: AsyncSession, account_id: str
) -> tuple[str, str, str | None, tuple[int, bool]] | None:
    """(workspace id, provider, status webhook token, version as ``signing_versions`` gives
    it) of a live account."""
    connection = await session.connection()
    row = (await connection.execute(_REPORT_TOKEN, {"account_id": account_id})).first()
    return None if row is None else (row[0], row[1], row[2], (int(row[3]), bool(row[4])))


async def move_account(
    session: AsyncSession, account_id: str, move: AccountMove, *, version: int | None = None
) -> SmsAccountRow | None:
    """Apply one move of the state machine, only if the account is still live, in one of the
    statuses the move starts from and (given ``version``) on the credentials it was decided for:
    a concurrent edit, removal or new Verify wins. The account as it now is, or None when it
    did not move."""
    conditions = [_A.id == account_id, _A.removed_at.is_(None)]
    if move.allowed_from != ANY_STATUS:
        conditions.append(_A.status.in_(move.allowed_from))
    if version is not None:
        conditions.append(_A.credentials_version == version)
    result = await session.execute(
        update(SmsAccountRow)
        .where(*conditions)
        .values(**_move_values(move))
        .returning(*_A)
        .execution_options(synchronize_session=False)
    )
    moved = result.first()
    return None if moved is None else SmsAccountRow(**moved._mapping)


def _move_values(move: AccountMove) -> dict[str, Any]:
    values = move.columns()
    if move.new_credentials:
        values["credentials_version"] = _A.credentials_version + 1
    return values


def apply_move(row: SmsAccountRow, move: AccountMove) -> None:
    """Apply a move to a row this transaction holds locked (the session's flush writes it)."""
    assert row.status in move.allowed_from, f"{row.status} cannot make this move"
    for name, value in move.columns().items():
        setattr(row, name, value)
    if move.new_credentials:
        row.credentials_version += 1


async def move_wiring(
    session: AsyncSession, account_id: str, move: WiringMove, *, version: int
) -> SmsAccountRow | None:
    """Apply one move of the webhook wiring, only if no other move came since ``version`` (the
    one its provider call began on); removed accounts too (a put-back outlives its account).
    The account as it now is, or None when it moved on meanwhile."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(_A.id == account_id, _A.webhook_version == version)
        .values(**move.columns(), webhook_version=_A.webhook_version + 1)
        .returning(*_A)
        .execution_options(synchronize_session=False)
    )
    moved = result.first()
    return None if moved is None else SmsAccountRow(**moved._mapping)


def apply_wiring(row: SmsAccountRow, move: WiringMove) -> None:
    """Apply a wiring move to a row this transaction holds locked."""
    for name, value in move.columns().items():
        setattr(row, name, value)
    row.webhook_version += 1


async def wired_accounts(session: AsyncSession, workspace_id: str) -> Sequence[SmsAccountRow]:
    """The workspace's live accounts whose sender is wired to this server, locked."""
    return (
        (
            await session.execute(
                select(SmsAccountRow)
                .where(
                    _A.workspace_id == workspace_id,
                    _A.removed_at.is_(None),
                    _A.webhook_status == WebhookWiringStatus.WIRED,
                )
                .order_by(_A.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )


async def renew_lease(
    session: AsyncSession,
    account_id: str,
    version: int,
    status: AccountStatus,
    lease_until: datetime | None,
) -> bool:
    """Extend a running check's lease (None gives it back); False when the account is no longer
    that check's."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(
            _A.id == account_id,
            _A.status == status,
            _A.credentials_version == version,
            _A.verify_lease_until.is_not(None),
            _A.removed_at.is_(None),
        )
        .values(verify_lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def remove_account(row: SmsAccountRow, now: datetime) -> None:
    """Take a locked row out of every list; its secrets are destroyed, and checks of its
    credentials can no longer write a verdict."""
    row.removed_at = now
    row.updated_at = now
    row.auth_token_ciphertext = ""
    row.previous_auth_token_ciphertext = None
    row.previous_auth_token_until = None
    row.credentials_version += 1


def _unleased(now: datetime) -> ColumnElement[bool]:
    return or_(_A.verify_lease_until.is_(None), _A.verify_lease_until < now)


async def _claim(
    session: AsyncSession, due: ColumnElement[bool], lease_until: datetime, limit: int
) -> list[tuple[str, int]]:
    """Lease up to ``limit`` due accounts to this process, atomically. On PostgreSQL the pick
    skips rows another sweeper holds, and a row another sweeper claimed meanwhile is re-checked
    against ``due`` once locked (READ COMMITTED), so each is claimed by one replica. SQLite runs
    writers one at a time (BEGIN IMMEDIATE), which makes the same statement atomic there.

    The pick is a MATERIALIZED CTE: as a plain ``IN (subquery)`` PostgreSQL may rescan it for
    every row, and each rescan locks the next ``limit`` rows (measured: all 10,000 due accounts
    claimed by one sweep of 32). The UPDATE names only the picked ids, so that even with stale
    statistics it looks them up by key instead of scanning the table (bench/claims.py)."""
    picked = (
        select(_A.id)
        .where(due, _A.removed_at.is_(None))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        update(SmsAccountRow)
        .where(_A.id.in_(select(picked.c.id)))
        .values(verify_lease_until=lease_until)
        .returning(_A.id, _A.credentials_version)
        .execution_options(synchronize_session=False)
    )
    return [(account_id, int(version)) for account_id, version in result.all()]


async def claim_expired_checks(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[str, int]]:
    """(id, credentials version) of VERIFYING accounts whose lease expired, now leased to us."""
    verifying = and_(_A.status == AccountStatus.VERIFYING, _unleased(now))
    return await _claim(session, verifying, lease_until, limit)


async def claim_due_health_checks(
    session: AsyncSession, now: datetime, legacy_cutoff: datetime, lease_until: datetime, limit: int
) -> list[tuple[str, int]]:
    """(id, credentials version) of VERIFIED accounts due a health check, now leased to us.
    Accounts verified before health checks existed have no next_check_at: they are due once
    their last check is older than ``legacy_cutoff``."""
    due = or_(
        _A.next_check_at <= now,
        and_(_A.next_check_at.is_(None), _A.last_checked_at <= legacy_cutoff),
    )
    return await _claim(
        session, and_(_A.status == AccountStatus.VERIFIED, due, _unleased(now)), lease_until, limit
    )


async def senders(session: AsyncSession, workspace_id: str) -> Sequence[Any]:
    """Rows of the sender picker: verified accounts with a sender, while the integration is on."""
    return (
        await session.execute(
            select(_A.id, _A.display_name, _A.provider, _A.sender_id, _A.sender_kind)
            .join(Workspace, _W.id == _A.workspace_id)
            .where(
                _A.workspace_id == workspace_id,
                _A.removed_at.is_(None),
                _A.status == AccountStatus.VERIFIED,
                _A.sender_id.is_not(None),
                _W.sms_enabled.is_(True),
            )
            .order_by(func.lower(_A.display_name), _A.display_name, _A.id)
        )
    ).all()


SECRET_COLUMNS = ("auth_token_ciphertext", "previous_auth_token_ciphertext")


async def secrets_page(
    session: AsyncSession, after_id: str, limit: int
) -> list[tuple[str, str, str | None]]:
    """(account id, token ciphertext, previous token ciphertext) of the next ``limit`` accounts
    by id after ``after_id``: key rotation walks the table in batches."""
    rows = (
        await session.execute(
            select(_A.id, _A.auth_token_ciphertext, _A.previous_auth_token_ciphertext)
            .where(_A.id > after_id)
            .order_by(_A.id)
            .limit(limit)
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def secrets_by_prefix(session: AsyncSession, prefix_length: int) -> dict[str, int]:
    """How many stored secrets start with each prefix (``v1:<key id>:``): which keys are used."""
    prefixes = union_all(
        *(
            select(func.substr(column, 1, prefix_length).label("prefix")).where(
                column.is_not(None), column != ""
            )
            for column in (_A.auth_token_ciphertext, _A.previous_auth_token_ciphertext)
        )
    ).subquery()
    rows = await session.execute(
        select(prefixes.c.prefix, func.count()).group_by(prefixes.c.prefix)
    )
    return {prefix: int(count) for prefix, count in rows.all()}


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


async def forget_token(
    session: AsyncSession, account_id: str, old: str, move: AccountMove
) -> SmsAccountRow | None:
    """Drop an Auth Token no key opens (unless it changed meanwhile), making ``move`` (to
    FAILED): the account fails until its token is entered again. The account as it now is, or
    None when its token changed meanwhile."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(_A.id == account_id, _A.auth_token_ciphertext == old)
        .values(
            auth_token_ciphertext="",
            credentials_version=_A.credentials_version + 1,
            **move.columns(),
        )
        .returning(*_A)
        .execution_options(synchronize_session=False)
    )
    forgotten = result.first()
    return None if forgotten is None else SmsAccountRow(**forgotten._mapping)


async def forget_previous_token(session: AsyncSession, account_id: str, old: str) -> bool:
    """Drop a previous Auth Token no key opens: webhooks signed with it are refused at once."""
    result = await session.execute(
        update(SmsAccountRow)
        .where(_A.id == account_id, _A.previous_auth_token_ciphertext == old)
        .values(previous_auth_token_ciphertext=None, previous_auth_token_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
