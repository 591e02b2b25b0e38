"""What the use cases run on, built once by the app factory (or a CLI command)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from providers.bus import EventBus
from providers.host_policy import HostPolicy, Resolver
from providers.twilio import TwilioClient
from storage.crypto import SecretBox


class Checks(Protocol):
    """Starts a check whose lease was taken (resolvers.verification.Verifier)."""

    def start(self, account_id: str, version: int) -> None: ...


class Publisher(Protocol):
    """What announcing a change needs: the committed state to read, and the bus. ``Services``
    is one; a CLI command that changes accounts builds no more than this."""

    @property
    def reads(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def bus(self) -> EventBus: ...


@dataclass(frozen=True, slots=True)
class Services:
    reads: async_sessionmaker[AsyncSession]
    writes: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    host_policy: HostPolicy
    resolver: Resolver
    public_url: str | None
    bus: EventBus
    twilio: TwilioClient
    verifier: Checks
    verify_lease_seconds: float
    webhook_token_grace_seconds: float
