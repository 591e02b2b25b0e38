"""What the use cases run on, built once by the bootstrap (``api.bootstrap.build_services``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.vocabulary import SmsProvider
from providers.bus import EventBus
from providers.host_policy import HostPolicy, Resolver
from providers.sms.port import SmsPort
from resolvers.signers import SignerCache
from storage.crypto import SecretBox
from storage.types import utcnow


class Checks(Protocol):
    """Starts a check whose lease was taken (resolvers.verification.Verifier)."""

    def start(self, account_id: str, version: int) -> None: ...


class _NoChecks:
    """What the Verifier's own ``Services`` hold in its place: the verifier starts no check
    through its services."""

    def start(self, account_id: str, version: int) -> None:
        raise RuntimeError("these services start no checks")


NO_CHECKS: Checks = _NoChecks()


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
    sms: Mapping[SmsProvider, SmsPort]  # each provider's port; use cases pick the account's
    verifier: Checks
    verify_lease_seconds: float
    webhook_token_grace_seconds: float
    signers: SignerCache  # who signs webhooks, remembered by account version
    clock: Callable[[], datetime] = utcnow  # what "now" is: tests move it by hand
