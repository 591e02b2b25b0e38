"""The sender picker of campaigns and workflow SMS actions."""

from __future__ import annotations

from domain.accounts import Sender
from domain.vocabulary import Caller
from resolvers.services import Publisher, Services
from storage import queries


async def list_senders(services: Services, caller: Caller) -> list[Sender]:
    """Verified accounts with a sender, by display name; empty while the integration is off."""
    return await senders_of(services, caller.workspace_id)


async def senders_of(services: Publisher, workspace_id: str) -> list[Sender]:
    async with services.reads() as session:
        rows = await queries.senders(session, workspace_id)
    return [
        Sender(
            account_id=row.id,
            display_name=row.display_name,
            provider=row.provider,
            sender_id=row.sender_id,
            sender_kind=row.sender_kind,
        )
        for row in rows
    ]
