"""The SMS integration toggle, per workspace."""

from __future__ import annotations

import functools

from domain.campaigns import PauseCause
from domain.vocabulary import Caller
from resolvers import events
from resolvers.campaign_pauses import pause_sending
from resolvers.services import Services
from resolvers.unit import unit_of_work
from storage import queries


async def integration_enabled(services: Services, caller: Caller) -> bool:
    async with services.reads() as session:
        return await queries.integration_enabled(session, caller.workspace_id)


async def set_integration_enabled(services: Services, caller: Caller, enabled: bool) -> bool:
    """Turn SMS on or off for the workspace. Account statuses are untouched either way."""
    async with unit_of_work(services.writes) as unit:
        if await queries.set_integration_enabled(unit.session, caller.workspace_id, enabled):
            events.announce_senders(unit, services, caller.workspace_id)
            if not enabled:  # its campaigns cannot go on: the server pauses them
                cause = PauseCause.INTEGRATION_DISABLED
                pause = functools.partial(
                    pause_sending, services, cause, workspace_id=caller.workspace_id
                )
                unit.after_commit(pause)
    return enabled
