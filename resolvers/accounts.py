"""Use cases of the SMS Accounts page: list, read, add, edit and remove accounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.account_states import to_draft
from domain.accounts import Account, AccountList, Stats
from domain.vocabulary import AccountStatus, Caller, ErrorCode, SmsProvider, SmsRoute
from domain.webhook_wiring import asked, waiting
from providers.host_policy import HostPolicyError
from resolvers.account_rows import (
    new_report_token,
    previous_secret_binding,
    secret_binding,
    stored_token,
    to_account,
)
from resolvers.errors import INTEGRATION_DISABLED, NOT_FOUND, FieldError
from resolvers.events import announce_account
from resolvers.services import PutBack, Services
from resolvers.text import could_be_id, text_errors
from resolvers.unit import UnitOfWork, unit_of_work
from resolvers.validation import (
    DEFAULT_SEND_RATES,
    CleanFields,
    auth_token_hint,
    clean_account_fields,
    default_display_name,
    send_rate_error,
    sender_kind_of,
)
from resolvers.webhook_wiring import holding, let_go_of
from storage import queries
from storage.models import SmsAccountRow, new_id

ADDED = "SMS Account added successfully"
UPDATED = "SMS Account updated successfully"
REMOVED = "SMS Account removed"


@dataclass(slots=True)
class AccountResult:
    """What an account mutation answers: the account, a toast message, or the problems."""

    account: Account | None = None
    message: str | None = None
    errors: list[FieldError] = field(default_factory=list)


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


# A provider whose senders have no inbound webhook (MSG91: replies need a virtual number).
WIRING_NOT_TAKEN = FieldError(
    "wireWebhooks",
    ErrorCode.INVALID,
    "This provider's senders have no inbound webhook to wire: replies are not supported for it.",
)
ROTATION_NOT_TAKEN = FieldError(
    "rotateStatusWebhookToken",
    ErrorCode.INVALID,
    "This account has no statusWebhookUrl: its provider names a callback with each message.",
)


def _reports_per_account(services: Services, provider: SmsProvider) -> bool:
    """Whether the provider posts delivery reports to one URL per account (statusWebhookUrl)."""
    port = services.sms.get(provider)
    return port is not None and port.reports_per_account


async def _check_base_url_resolves(
    services: Services, provider: SmsProvider, clean: CleanFields
) -> None:
    base_url = clean.values.get("base_url")
    if base_url is None or clean.errors:
        return
    try:
        await services.host_policies[provider].check_url_resolving(base_url, services.resolver)
    except HostPolicyError as refusal:
        clean.fail("base_url", ErrorCode.INVALID, str(refusal))


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


def _check_rate(clean: CleanFields, send_rate: float | None) -> None:
    error = None if send_rate is None else send_rate_error(send_rate)
    if error is not None:
        clean.errors.append(error)


async def add_account(
    services: Services,
    caller: Caller,
    provider: SmsProvider,
    raw: Mapping[str, str | None],
    *,
    wire_webhooks: bool = False,
    send_rate: float | None = None,
) -> AccountResult:
    """Save a Draft account, or report every field problem and store nothing. ``raw`` holds
    the form's fields by name (``sender_id``…); ``wire_webhooks`` asks for the sender's inbound
    webhook to be pointed at this server once verified; ``send_rate`` is segments a second
    (None: the sender kind's default)."""
    async with services.reads() as session:
        enabled = await queries.integration_enabled(session, caller.workspace_id)
    if not enabled:
        return AccountResult(errors=[INTEGRATION_DISABLED])
    policy = services.host_policies[provider]
    clean = clean_account_fields(raw, policy=policy, creating=True, provider=provider)
    _check_rate(clean, send_rate)
    await _check_base_url_resolves(services, provider, clean)
    if wire_webhooks and not services.sms[provider].wires_inbound_webhook:
        clean.errors.append(WIRING_NOT_TAKEN)
    if clean.errors:
        return AccountResult(errors=clean.errors)

    stored: dict[str, Any] = dict(clean.values)
    sender = stored["sender_id"]
    token = stored.pop("auth_token")
    route = stored.pop("route", None)
    display_name = stored.pop("display_name", None) or default_display_name(sender, provider)
    assert sender is not None
    assert token is not None
    account_id = new_id()
    now = services.clock()
    row = SmsAccountRow(
        **stored,  # the fields stored as given: sender, client id, base URL, DLT entity id
        id=account_id,
        workspace_id=caller.workspace_id,
        provider=provider,
        display_name=display_name,
        route=None if route is None else SmsRoute(route),
        sender_kind=sender_kind_of(sender, provider),
        status_webhook_token=(
            new_report_token() if _reports_per_account(services, provider) else None
        ),
        send_rate_per_second=send_rate or DEFAULT_SEND_RATES[sender_kind_of(sender, provider)],
        auth_token_ciphertext=services.secrets.encrypt(token, bound_to=secret_binding(account_id)),
        auth_token_hint=auth_token_hint(token),
        status=AccountStatus.DRAFT,
        created_at=now,
        updated_at=now,
        wire_webhooks=wire_webhooks,
        webhook_status=waiting(wire_webhooks),
        webhook_changed_at=now if wire_webhooks else None,
    )
    async with unit_of_work(services.writes) as unit:
        duplicate = await _duplicate_sender(unit.session, row)
        if duplicate is not None:
            return AccountResult(errors=[duplicate])
        unit.session.add(row)
        account = announce_account(unit, services, row, before=None)
    return AccountResult(account=account, message=ADDED)


async def update_account(
    services: Services,
    caller: Caller,
    account_id: str,
    raw: Mapping[str, str | None],
    *,
    wire_webhooks: bool | None = None,
    rotate_status_webhook_token: bool = False,
    send_rate: float | None = None,
) -> AccountResult:
    """Change only the given fields (by name, as ``add_account`` takes them); a credential
    change returns the account to Draft, a new send rate does not. ``wire_webhooks`` (None:
    unchanged) asks for the webhook wiring, or lets go of a wired sender;
    ``rotate_status_webhook_token`` issues a new statusWebhookUrl (the old one is refused from
    the commit on)."""
    if refused := refuse_id(account_id):
        return refused
    async with services.reads() as session:
        current = await queries.live_account(session, caller.workspace_id, account_id)
    if current is None:
        return AccountResult(errors=[NOT_FOUND])
    provider = current.provider  # the fields are checked by the rules of the account's provider
    policy = services.host_policies[provider]
    clean = clean_account_fields(
        raw, policy=policy, creating=False, provider=provider, current_sender=current.sender_id
    )
    _check_rate(clean, send_rate)
    await _check_base_url_resolves(services, provider, clean)
    if rotate_status_webhook_token and not _reports_per_account(services, provider):
        clean.errors.append(ROTATION_NOT_TAKEN)
    if wire_webhooks and not services.sms[provider].wires_inbound_webhook:
        clean.errors.append(WIRING_NOT_TAKEN)
    async with unit_of_work(services.writes) as unit:
        row = await queries.live_account(
            unit.session, caller.workspace_id, account_id, for_update=True
        )
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        if clean.errors:
            return AccountResult(errors=clean.errors)
        before = to_account(row, services.public_url)
        held = holding(services, row)  # before the change: it may let go of the sender
        rotated = rotate_status_webhook_token
        if rotated:
            row.status_webhook_token = new_report_token()
        changed = _apply(services, row, clean.values) | _apply_rate(row, send_rate, before)
        changed = changed or rotated
        moved = (row.client_id, row.sender_id) != (before.client_id, before.sender_id)
        if not _rewire(unit, services, row, held, moved, wire_webhooks) and not changed:
            unit.abandon()
            return AccountResult(account=before, message=UPDATED)
        duplicate = await _duplicate_sender(unit.session, row) if moved else None
        if duplicate is not None:
            unit.abandon()  # forget the changes _apply made to the row
            return AccountResult(errors=[duplicate])
        row.updated_at = services.clock()
        account = announce_account(unit, services, row, before=before)
    return AccountResult(account=account, message=UPDATED)


def _rewire(
    unit: UnitOfWork,
    services: Services,
    row: SmsAccountRow,
    held: PutBack | None,
    moved: bool,
    wire_webhooks: bool | None,
) -> bool:
    """The wiring after an edit: a wired sender the account lets go of (another sender or
    Account SID, or wiring no longer asked for) is put back; wiring asked for on a verified
    account starts at once. True when the wiring changed."""
    wanted = row.wire_webhooks if wire_webhooks is None else wire_webhooks
    if held is not None and (moved or not wanted):
        let_go_of(unit, services, row, held, wanted=wanted)
        return True
    if not moved and wanted == row.wire_webhooks:
        return False
    if held is None:  # nothing wired: whatever was under way for the old sender is void
        queries.apply_wiring(row, asked(wanted, services.clock()))
    row.wire_webhooks = wanted
    if wanted and not moved and row.status is AccountStatus.VERIFIED:
        account_id = row.id

        async def wire_now() -> None:
            services.wiring.wire(account_id)

        unit.after_commit(wire_now)
    return True


def _apply(services: Services, row: SmsAccountRow, values: Mapping[str, str | None]) -> bool:
    """Write the changed values onto ``row``; True when anything changed."""
    credentials_changed = False
    changed = False
    old_default_name = default_display_name(row.sender_id, row.provider)
    for name, value in values.items():
        if name == "display_name":
            continue
        if name == "auth_token":
            assert value is not None
            credentials_changed |= _replace_token(services, row, value)
        elif name == "route":
            # Which traffic the sender carries: no new check of the credentials is needed.
            route = None if value is None else SmsRoute(value)
            changed |= row.route != route
            row.route = route
        elif getattr(row, name) != value:
            setattr(row, name, value)
            credentials_changed = True
    row.sender_kind = sender_kind_of(row.sender_id, row.provider) if row.sender_id else None

    changed |= credentials_changed
    if "display_name" in values or row.display_name == old_default_name:
        wanted = values.get("display_name") or default_display_name(row.sender_id, row.provider)
        if row.display_name != wanted:
            row.display_name = wanted
            changed = True
    if credentials_changed:
        queries.apply_move(row, to_draft(services.clock()))
    return changed


def _apply_rate(row: SmsAccountRow, send_rate: float | None, before: Account) -> bool:
    """Set the given rate; else a rate left at the old sender kind's default follows the new
    kind's (a phone number replaced by a Messaging Service goes from 1 to 10). True when it
    changed."""
    wanted = send_rate
    if wanted is None and row.sender_kind is not None and row.sender_kind != before.sender_kind:
        old_default = DEFAULT_SEND_RATES.get(before.sender_kind) if before.sender_kind else None
        if row.send_rate_per_second == old_default:
            wanted = DEFAULT_SEND_RATES[row.sender_kind]
    if wanted is None or wanted == row.send_rate_per_second:
        return False
    row.send_rate_per_second = wanted
    return True


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
        row.previous_auth_token_until = services.clock() + timedelta(
            seconds=services.webhook_token_grace_seconds
        )
    row.auth_token_ciphertext = services.secrets.encrypt(token, bound_to=secret_binding(row.id))
    row.auth_token_hint = auth_token_hint(token)
    return True


async def remove_account(services: Services, caller: Caller, account_id: str) -> AccountResult:
    """Take the account out of lists, stats and senders; its secret is destroyed."""
    if refused := refuse_id(account_id):
        return refused
    async with unit_of_work(services.writes) as unit:
        row = await queries.live_account(
            unit.session, caller.workspace_id, account_id, for_update=True
        )
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        before = to_account(row, services.public_url)
        held = holding(services, row, removed=True)  # before its token is destroyed
        if held is not None:
            let_go_of(unit, services, row, held, wanted=False)
        else:  # a wiring under way is void: what it sets is put back at once
            queries.apply_wiring(row, asked(False, services.clock()))
        queries.remove_account(row, services.clock())
        account = announce_account(unit, services, row, before=before, removed=True)
    return AccountResult(account=account, message=REMOVED)
