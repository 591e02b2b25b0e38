"""Use cases of the SMS Accounts page: list, read, add, edit and remove accounts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.account_states import to_draft
from domain.accounts import Account, AccountList, Stats, failure_shown
from domain.vocabulary import AccountStatus, Caller, ErrorCode, SmsProvider
from providers.host_policy import HostPolicyError
from resolvers import events
from resolvers.errors import INTEGRATION_DISABLED, NOT_FOUND, FieldError
from resolvers.services import Services
from resolvers.text import could_be_id, text_errors
from resolvers.validation import (
    CleanFields,
    auth_token_hint,
    clean_account_fields,
    default_display_name,
    sender_kind_of,
)
from storage import queries
from storage.crypto import SecretBox, SecretError
from storage.models import SmsAccountRow, new_id
from storage.types import utcnow

log = logging.getLogger(__name__)

ADDED = "SMS Account added successfully"
UPDATED = "SMS Account updated successfully"
REMOVED = "SMS Account removed"

# Fields whose change invalidates a verification: the account returns to Draft.
CREDENTIAL_FIELDS = ("senderId", "dltEntityId", "clientId", "authToken", "baseUrl")
_COLUMNS = {
    "displayName": "display_name",
    "senderId": "sender_id",
    "dltEntityId": "dlt_entity_id",
    "clientId": "client_id",
    "baseUrl": "base_url",
}


@dataclass(slots=True)
class AccountResult:
    """What an account mutation answers: the account, a toast message, or the problems."""

    account: Account | None = None
    message: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def secret_binding(account_id: str) -> str:
    """Associated data that ties an encrypted Auth Token to its row."""
    return f"sms_accounts:{account_id}:auth_token"


def previous_secret_binding(account_id: str) -> str:
    """Associated data of the token an account had before its last change."""
    return f"sms_accounts:{account_id}:previous_auth_token"


def stored_token(secrets: SecretBox, row: SmsAccountRow) -> str | None:
    """The account's Auth Token; None when no configured key opens it (lost key, tampered row)."""
    try:
        return secrets.decrypt(row.auth_token_ciphertext, bound_to=secret_binding(row.id))
    except SecretError as reason:
        log.warning("the Auth Token of account %s cannot be read: %s", row.id, reason)
        return None


def to_account(row: SmsAccountRow, public_url: str | None) -> Account:
    failure, failure_message = failure_shown(row.failure)
    return Account(
        id=row.id,
        provider=row.provider,
        display_name=row.display_name,
        sender_id=row.sender_id,
        sender_kind=row.sender_kind,
        dlt_entity_id=row.dlt_entity_id,
        client_id=row.client_id,
        auth_token_hint="••••" + row.auth_token_hint,
        base_url=row.base_url,
        status=row.status,
        failure=failure,
        failure_message=failure_message,
        trial=row.trial,
        inbound_webhook_url=(
            f"{public_url}/webhooks/twilio/{row.id}/inbound" if public_url else None
        ),
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def refuse_id(account_id: str) -> AccountResult | None:
    """An id that is not text is INVALID; one that no row can have reads as not found."""
    if unreadable := text_errors({"id": account_id}):
        return AccountResult(errors=unreadable)
    return None if could_be_id(account_id) else AccountResult(errors=[NOT_FOUND])


async def list_accounts(services: Services, caller: Caller) -> AccountList:
    """The page: every card and the stat row, from one query."""
    async with services.reads() as session:
        rows = await queries.live_accounts(session, caller.workspace_id)
    nodes = [to_account(row, services.public_url) for row in rows]
    return AccountList(stats=Stats.of(nodes), nodes=nodes)


async def get_account(services: Services, caller: Caller, account_id: str) -> Account | None:
    if not could_be_id(account_id):
        return None  # a malformed id (even one that is not text) reads as not found
    async with services.reads() as session:
        row = await queries.live_account(session, caller.workspace_id, account_id)
    return None if row is None else to_account(row, services.public_url)


async def _check_base_url_resolves(services: Services, clean: CleanFields) -> None:
    base_url = clean.values.get("baseUrl")
    if base_url is None or clean.errors:
        return
    try:
        await services.host_policy.check_url_resolving(base_url, services.resolver)
    except HostPolicyError as refusal:
        clean.fail("baseUrl", ErrorCode.INVALID, str(refusal))


async def _duplicate_sender(session: AsyncSession, row: SmsAccountRow) -> FieldError | None:
    """One Twilio sender is connected once per workspace: a second card would only split its
    messages and stats. Checked in the write transaction that saves ``row``."""
    if row.sender_id is None:
        return None
    with session.no_autoflush:  # the row's pending edits are not to be written yet
        # Two adds of one sender at once: the second waits here, then sees the first.
        await queries.lock_workspace(session, row.workspace_id)
        owner = await queries.sender_owner(
            session, row.workspace_id, row.client_id, row.sender_id, other_than=row.id
        )
    if owner is None:
        return None
    return FieldError(
        "senderId", ErrorCode.INVALID, f"This sender is already connected as '{owner}'."
    )


async def add_account(
    services: Services, caller: Caller, provider: SmsProvider, raw: Mapping[str, str | None]
) -> AccountResult:
    """Save a Draft account, or report every field problem and store nothing."""
    async with services.reads() as session:
        enabled = await queries.integration_enabled(session, caller.workspace_id)
    if not enabled:
        return AccountResult(errors=[INTEGRATION_DISABLED])
    clean = clean_account_fields(raw, policy=services.host_policy, creating=True)
    await _check_base_url_resolves(services, clean)
    if clean.errors:
        return AccountResult(errors=clean.errors)

    values = clean.values
    sender = values["senderId"]
    token = values["authToken"]
    assert sender is not None
    assert token is not None
    assert values["clientId"] is not None
    account_id = new_id()
    now = utcnow()
    row = SmsAccountRow(
        id=account_id,
        workspace_id=caller.workspace_id,
        provider=provider,
        display_name=values.get("displayName") or default_display_name(sender),
        sender_id=sender,
        sender_kind=sender_kind_of(sender),
        dlt_entity_id=values.get("dltEntityId"),
        client_id=values["clientId"],
        auth_token_ciphertext=services.secrets.encrypt(token, bound_to=secret_binding(account_id)),
        auth_token_hint=auth_token_hint(token),
        base_url=values["baseUrl"] or "",
        status=AccountStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    async with services.writes() as session:
        duplicate = await _duplicate_sender(session, row)
        if duplicate is not None:
            return AccountResult(errors=[duplicate])
        session.add(row)
        await session.commit()
    account = to_account(row, services.public_url)
    await events.account_changed(services, caller.workspace_id, account, before=None)
    return AccountResult(account=account, message=ADDED)


async def update_account(
    services: Services, caller: Caller, account_id: str, raw: Mapping[str, str | None]
) -> AccountResult:
    """Change only the given fields; a credential change returns the account to Draft."""
    if refused := refuse_id(account_id):
        return refused
    clean = clean_account_fields(raw, policy=services.host_policy, creating=False)
    await _check_base_url_resolves(services, clean)
    async with services.writes() as session:
        row = await queries.live_account(session, caller.workspace_id, account_id, for_update=True)
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        if clean.errors:
            return AccountResult(errors=clean.errors)
        before = to_account(row, services.public_url)
        changed = _apply(services, row, clean.values)
        moved = (row.client_id, row.sender_id) != (before.client_id, before.sender_id)
        duplicate = await _duplicate_sender(session, row) if moved else None
        if duplicate is not None:
            await session.rollback()  # forget the changes _apply made to the row
            return AccountResult(errors=[duplicate])
        if changed:
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
    account = to_account(row, services.public_url)
    if changed:
        await events.account_changed(services, caller.workspace_id, account, before=before)
    return AccountResult(account=account, message=UPDATED)


def _apply(services: Services, row: SmsAccountRow, values: Mapping[str, str | None]) -> bool:
    """Write the changed values onto ``row``; True when anything changed."""
    credentials_changed = False
    old_default_name = default_display_name(row.sender_id)
    for name, value in values.items():
        if name == "displayName":
            continue
        if name == "authToken":
            assert value is not None
            credentials_changed |= _replace_token(services, row, value)
            continue
        column = _COLUMNS[name]
        if getattr(row, column) != value:
            setattr(row, column, value)
            credentials_changed = True
    row.sender_kind = sender_kind_of(row.sender_id) if row.sender_id else None

    changed = credentials_changed
    if "displayName" in values or row.display_name == old_default_name:
        wanted = values.get("displayName") or default_display_name(row.sender_id)
        if row.display_name != wanted:
            row.display_name = wanted
            changed = True
    if credentials_changed:
        queries.apply_move(row, to_draft(utcnow()))
    return changed


def _replace_token(services: Services, row: SmsAccountRow, token: str) -> bool:
    """Store ``token`` unless it is the one stored; True when it changed.

    An unreadable stored token is simply replaced: that is how an account whose key was lost
    (or whose row was tampered with) is repaired.
    """
    current = stored_token(services.secrets, row)
    if current == token:
        return False
    if current is None:
        row.previous_auth_token_ciphertext = None
        row.previous_auth_token_until = None
    else:
        # Webhooks signed with the old token keep arriving for a while after a rotation.
        row.previous_auth_token_ciphertext = services.secrets.encrypt(
            current, bound_to=previous_secret_binding(row.id)
        )
        row.previous_auth_token_until = utcnow() + timedelta(
            seconds=services.webhook_token_grace_seconds
        )
    row.auth_token_ciphertext = services.secrets.encrypt(token, bound_to=secret_binding(row.id))
    row.auth_token_hint = auth_token_hint(token)
    return True


async def remove_account(services: Services, caller: Caller, account_id: str) -> AccountResult:
    """Take the account out of lists, stats and senders; its secret is destroyed."""
    if refused := refuse_id(account_id):
        return refused
    async with services.writes() as session:
        row = await queries.live_account(session, caller.workspace_id, account_id, for_update=True)
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        before = to_account(row, services.public_url)
        now = utcnow()
        row.removed_at = now
        row.updated_at = now
        row.auth_token_ciphertext = ""
        row.previous_auth_token_ciphertext = None
        row.previous_auth_token_until = None
        row.credentials_version += 1
        session.add(row)
        await session.commit()
    account = to_account(row, services.public_url)
    await events.account_changed(
        services, caller.workspace_id, account, before=before, removed=True
    )
    return AccountResult(account=account, message=REMOVED)
