"""What the use cases run on, built once by the app factory (or a CLI command)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from providers.bus import EventBus
from providers.host_policy import HostPolicy, Resolver
from providers.twilio import TwilioClient
from storage.crypto import SecretBox

if TYPE_CHECKING:
    from resolvers.verification import Verifier


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
    verifier: Verifier
    verify_lease_seconds: float
    webhook_token_grace_seconds: float
