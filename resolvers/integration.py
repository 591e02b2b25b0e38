"""The SMS integration toggle, per workspace."""

from __future__ import annotations

import functools

from domain.campaigns import PauseCause
from domain.vocabulary import Caller
from resolvers import events
from resolvers.account_rows import to_account
from resolvers.campaign_pauses import pause_sending
from resolvers.services import Services
from resolvers.unit import UnitOfWork, unit_of_work
from resolvers.webhook_wiring import holding, let_go_of
from storage import queries


async def integration_enabled(services: Services, caller: Caller) -> bool:
    async with services.reads() as session:
        return await queries.integration_enabled(session, caller.workspace_id)


async def set_integration_enabled(services: Services, caller: Caller, enabled: bool) -> bool:
    """Turn SMS on or off for the workspace. Account statuses are untouched either way; off,
    every wired sender is put back (each account wired again after its next Verify)."""
    async with unit_of_work(services.writes) as unit:
        if await queries.set_integration_enabled(unit.session, caller.workspace_id, enabled):
            events.announce_senders(unit, services, caller.workspace_id)
            if not enabled:
                await _let_go_of_wired_senders(unit, services, caller.workspace_id)
                # Its campaigns cannot go on: the server pauses them.
                cause = PauseCause.INTEGRATION_DISABLED
                pause = functools.partial(
                    pause_sending, services, cause, workspace_id=caller.workspace_id
                )
                unit.after_commit(pause)
    return enabled


async def _let_go_of_wired_senders(unit: UnitOfWork, services: Services, workspace_id: str) -> None:
    for row in await queries.wired_accounts(unit.session, workspace_id):
        held = holding(services, row)
        if held is None:
            continue
        before = to_account(row, services.public_url)
        let_go_of(unit, services, row, held, wanted=row.wire_webhooks)
        events.announce_account(unit, services, row, before=before)
