"""A campaign as clients see it, and its live updates (``smsCampaignChanged``).

What goes on the bus is a notice that a campaign changed (its id, and its status when the change
moved it), never its counters: a subscriber reads the campaign as committed, so the event after
a burst always carries the final counters, whoever wrote them (any replica or worker, a delivery
report). A subscriber gets at most one event per ``event_interval_seconds``, the last one of a
burst on the trailing edge, and one at once for every change of status.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from domain.campaigns import Campaign, CampaignStatus, Progress
from providers.bus import SubscriberOverflow
from resolvers.services import Publisher, Services
from resolvers.unit import UnitOfWork
from storage import campaign_queries
from storage.models import SmsCampaignRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CampaignChanged:
    """A campaign of the workspace changed; ``status`` is set when its status did."""

    campaign_id: str
    status: CampaignStatus | None


def campaigns_channel(workspace_id: str) -> str:
    return f"sms-campaigns:{workspace_id}"


def to_campaign(row: SmsCampaignRow) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        account_id=row.account_id,
        body=row.body,
        status=row.status,
        status_message=row.status_message,
        progress=Progress(**{name: getattr(row, name) for name in campaign_queries.COUNTERS}),
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


async def publish_change(
    services: Publisher, workspace_id: str, campaign_id: str, status: CampaignStatus | None
) -> None:
    """Tell the workspace's subscribers a campaign changed. Never raises."""
    try:
        await services.bus.publish(
            campaigns_channel(workspace_id), CampaignChanged(campaign_id, status)
        )
    except Exception:
        log.exception("could not publish a campaign change for workspace %s", workspace_id)


def announce_campaign(
    unit: UnitOfWork, services: Services, row: SmsCampaignRow, *, status_changed: bool = False
) -> Campaign:
    """The campaign as ``row`` now has it, announced once ``unit`` committed."""
    status = row.status if status_changed else None
    unit.after_commit(functools.partial(publish_change, services, row.workspace_id, row.id, status))
    return to_campaign(row)


async def read_campaign(services: Services, workspace_id: str, campaign_id: str) -> Campaign | None:
    async with services.reads() as session:
        row = await campaign_queries.campaign(session, workspace_id, campaign_id)
    return None if row is None else to_campaign(row)


class CampaignNotFoundError(LookupError):
    """A campaign the caller's workspace does not have."""


async def campaign_changes(
    services: Services, workspace_id: str, campaign_id: str
) -> AsyncIterator[Campaign]:
    """The campaign each time it changes, from now on, throttled (see the module). Listens
    before it first reads the campaign, so no change falls between the two."""
    interval = services.campaign_settings.event_interval_seconds
    loop = asyncio.get_running_loop()
    async with services.bus.subscribe(campaigns_channel(workspace_id)) as subscription:
        first = await read_campaign(services, workspace_id, campaign_id)
        if first is None:
            raise CampaignNotFoundError("No SMS campaign with this id.")
        shown_status, shown_at, dirty = first.status, -interval, False
        notices = aiter(subscription)
        while True:
            timeout = None if not dirty else max(0.0, shown_at + interval - loop.time())
            try:
                notice = await asyncio.wait_for(anext(notices), timeout)
            except TimeoutError:
                notice = None  # the window closed on a change not shown yet: the trailing edge
            except SubscriberOverflow:
                notice = CampaignChanged(campaign_id, None)  # missed some: the read catches up
            except StopAsyncIteration:
                return
            if isinstance(notice, CampaignChanged):
                if notice.campaign_id != campaign_id:
                    continue
                dirty = True
                moved = notice.status is not None and notice.status is not shown_status
                if not moved and loop.time() - shown_at < interval:
                    continue
            elif notice is not None:
                continue
            campaign = await read_campaign(services, workspace_id, campaign_id)
            if campaign is None:
                return
            shown_status, shown_at, dirty = campaign.status, loop.time(), False
            yield campaign
