"""The server pauses what cannot go on: a campaign whose workspace turned the integration off, or
whose account is no longer VERIFIED with a sender (a failed check, edited credentials, a blanked
sender) or was removed, goes PAUSED with a ``statusMessage`` saying why. Nothing is spent as
failed; ``resumeSmsCampaign`` answers the cause's code while it holds.

Pauses happen right after the commit that changed the account or the integration, and again in
the engine before each hand-over (whose claim only takes recipients of a SENDING campaign), so a
change made elsewhere (the CLI) pauses the campaign too.
"""

from __future__ import annotations

from domain.campaigns import PAUSE_MESSAGES, PauseCause
from domain.vocabulary import AccountStatus
from resolvers.campaign_events import announce_campaign
from resolvers.services import Services
from resolvers.unit import unit_of_work
from storage import campaign_queries
from storage.models import SmsAccountRow


def stop_cause(account: SmsAccountRow | None, integration_enabled: bool) -> PauseCause | None:
    """Why a campaign through ``account`` cannot send now; None when it can."""
    if not integration_enabled:
        return PauseCause.INTEGRATION_DISABLED
    if account is None or account.removed_at is not None:
        return PauseCause.ACCOUNT_REMOVED
    if account.status is not AccountStatus.VERIFIED or account.sender_id is None:
        return PauseCause.ACCOUNT_NOT_VERIFIED
    return None


async def pause_sending(
    services: Services,
    cause: PauseCause,
    *,
    account_id: str | None = None,
    workspace_id: str | None = None,
) -> None:
    """Server-pause every SENDING campaign of the account (or the workspace)."""
    async with unit_of_work(services.writes) as unit:
        paused = await campaign_queries.pause_sending(
            unit.session,
            cause,
            PAUSE_MESSAGES[cause],
            services.clock(),
            account_id=account_id,
            workspace_id=workspace_id,
        )
        for row in paused:
            announce_campaign(unit, services, row, status_changed=True)
