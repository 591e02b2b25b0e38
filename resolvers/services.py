"""What the use cases run on, built once by the bootstrap (``api.bootstrap.build_services``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.vocabulary import SmsProvider
from domain.webhook_wiring import Remembered
from providers.bus import EventBus
from providers.host_policy import HostPolicy, Resolver
from providers.sms.port import Credentials, SmsPort
from resolvers.pacing import Pacer
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


@dataclass(frozen=True, slots=True)
class PutBack:
    """A wired sender the account lets go of, and everything its put-back needs, taken before
    the change that lets it go (the account may have lost that sender, or its token, since)."""

    account_id: str
    provider: SmsProvider
    credentials: Credentials | None  # None: no configured key opens the stored token
    sender: str
    ours: str | None  # the inbound URL this server set: only that one is replaced
    remembered: Remembered
    version: int  # the wiring's version once it let go: the put-back writes on it alone
    removed: bool  # the account is gone: nobody is told of the put-back but the log


class Wiring(Protocol):
    """Points senders' inbound webhooks at this server and puts them back, in the background
    (resolvers.webhook_wiring.WebhookWirer)."""

    def wire(self, account_id: str, *, retry: bool = False) -> None: ...

    def put_back(self, job: PutBack) -> None: ...


class _NoWiring:
    """What the wirer's own ``Services`` hold in its place."""

    def wire(self, account_id: str, *, retry: bool = False) -> None:
        raise RuntimeError("these services wire no webhooks")

    def put_back(self, job: PutBack) -> None:
        raise RuntimeError("these services wire no webhooks")


NO_WIRING: Wiring = _NoWiring()


class CampaignScheduler(Protocol):
    """Runs ``resolvers.campaign_engine.send_campaign_batch`` for SENDING campaigns: in-process
    on the embedded default (``campaign_engine.InProcessScheduler``), as jobs on a queue at
    scale. ``wake`` is called after a commit that gives a campaign something to do (start,
    resume); it must be cheap and idempotent (at most one batch of a campaign runs at a time)."""

    async def wake(self, campaign_id: str) -> None: ...


class _NoScheduler:
    """What services that send no campaigns hold (the CLI, the scheduler's own services): a
    campaign started through them is found by the scheduler's sweep instead."""

    async def wake(self, campaign_id: str) -> None:
        return None


NO_SCHEDULER: CampaignScheduler = _NoScheduler()


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    """The campaign limits and the engine's bounds (``SMS_CAMPAIGN_*`` settings)."""

    recipients_per_call: int = 1_000
    recipients_per_campaign: int = 1_000_000
    # A SENDING recipient whose hand-over has not finished by then has no live owner.
    handover_lease_seconds: float = 20.0
    # Recipients one batch hands over at most, all at once: every one claimed leaves at once,
    # so a pause committed after a claim waits for nothing but calls already under way.
    batch_size: int = 20
    retry_seconds: float = 5.0  # the wait after the provider asked to wait without saying
    event_interval_seconds: float = 0.5  # smsCampaignChanged: at most one event per interval


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
    host_policies: Mapping[SmsProvider, HostPolicy]  # each provider's Base URL policy
    resolver: Resolver
    public_url: str | None
    bus: EventBus
    sms: Mapping[SmsProvider, SmsPort]  # each provider's port; use cases pick the account's
    verifier: Checks
    wiring: Wiring
    verify_lease_seconds: float
    webhook_token_grace_seconds: float
    pacer: Pacer  # each sender's shared pace (one-off sends and campaign claims)
    signers: SignerCache  # who signs webhooks, remembered by account version
    clock: Callable[[], datetime] = utcnow  # what "now" is: tests move it by hand
    campaigns: CampaignScheduler = NO_SCHEDULER
    campaign_settings: CampaignSettings = CampaignSettings()
