"""The one bootstrap: from settings to everything the app, the CLI and the benches run on.

``build_services`` makes the object graph once (database, secrets, the event bus and the cache
versions, each provider's port, the use cases' ``Services``, the ``Verifier`` and the delivery
report batcher) and answers it as a ``Runtime``, which also starts and stops what runs in the
background. Nothing here reads the environment; tests inject fakes here: the providers' ports
(``sms``), a clock, a DNS resolver, or an HTTP transport under the real adapters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.response_cache import BumpingBus, CachedAnswers, ResponseStore
from api.settings import Settings
from domain.vocabulary import SmsProvider
from providers.bus import EventBus, MemoryBus
from providers.cache_versions import MemoryVersions, RedisVersions, Versions
from providers.host_policy import Resolver, system_resolver
from providers.redis_bus import RedisBus
from providers.sms.adapters import build_ports, host_policies
from providers.sms.port import SmsPort
from providers.transport import create_http_client
from resolvers.campaign_engine import InProcessScheduler
from resolvers.campaign_events import publish_change
from resolvers.campaign_jobs import JobScheduler, WorkerPlan, job_queue
from resolvers.key_rotation import missing_key_ids, secrets_per_key
from resolvers.messages import publish_message, to_message
from resolvers.pacing import Pacer, PaceRules
from resolvers.services import NO_CHECKS, NO_WIRING, CampaignSettings, Services
from resolvers.signers import SignerCache
from resolvers.status_batches import StatusBatcher
from resolvers.verification import CheckSchedule, Verifier
from resolvers.webhook_wiring import WebhookWirer
from resolvers.wire import EVENTS
from storage.crypto import SecretBox, load_or_create_key_file
from storage.db import PoolBounds, create_engine, create_sessionmakers, sqlite_path
from storage.types import utcnow

log = logging.getLogger("sms_accounts")


class ConfigurationError(Exception):
    """The app cannot start with these settings; the message says what to set."""


def key_file_for(settings: Settings) -> Path | None:
    """Where the embedded default keeps its generated key: beside the SQLite database."""
    path = sqlite_path(settings.database_url)
    return None if path is None else path.with_name(path.stem + ".key")


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(server_keys(settings))


def server_keys(settings: Settings) -> list[bytes]:
    """SMS_ENCRYPTION_KEYS, or the embedded default's generated key file."""
    keys = settings.encryption_key_list
    if keys:
        return keys
    key_file = key_file_for(settings)
    if key_file is None:
        raise ConfigurationError(
            "SMS_ENCRYPTION_KEYS is required with this database: set it to a base64 32-byte key "
            '(python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())")'
        )
    try:
        key, created = load_or_create_key_file(key_file)
    except (OSError, ValueError) as exc:  # unreadable, not base64, not 32 bytes
        raise ConfigurationError(
            f"the key file {key_file} cannot be used ({exc}): put back the copy backed up with "
            "the database, or set SMS_ENCRYPTION_KEYS"
        ) from exc
    if created:
        log.warning(
            "Generated an encryption key for Auth Tokens at %s (mode 0600). Back it up with the "
            "database, or set SMS_ENCRYPTION_KEYS.",
            key_file,
        )
    return [key]


def redis_secrets(settings: Settings) -> list[bytes]:
    """What the keys of everything written to Redis are derived from (README "Security")."""
    return settings.bus_secret_list or server_keys(settings)


def uses_redis(settings: Settings) -> bool:
    return settings.broadcast_url.startswith(("redis://", "rediss://"))


async def refuse_a_lost_key_file(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A key file is generated on the first start; a database that already holds secrets has
    lost its key file instead, and a new key would leave every secret unreadable for good."""
    key_file = key_file_for(settings)
    if settings.encryption_key_list or key_file is None or key_file.exists():
        return
    usage = await secrets_per_key(sessions)
    if usage:
        raise ConfigurationError(
            f"the key file {key_file} is missing, but the database holds "
            f"{sum(usage.values())} Auth Token(s) encrypted with key id(s) "
            f"{', '.join(sorted(usage))}: put back the key file backed up with the database (or "
            "set SMS_ENCRYPTION_KEYS to that key) and start again"
        )


async def check_keys_cover_secrets(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, box: SecretBox
) -> None:
    """Refuse to start when stored secrets were written with keys that are not configured:
    every account using them would fail at its first call, long after the start."""
    missing = await missing_key_ids(sessions, box)
    if not missing:
        return
    source = (
        "SMS_ENCRYPTION_KEYS"
        if settings.encryption_key_list
        else f"the key file {key_file_for(settings)}"
    )
    raise ConfigurationError(
        f"stored Auth Tokens were encrypted with key id(s) {', '.join(missing)}, which "
        f"{source} does not hold (configured: {', '.join(sorted(box.key_ids))}). "
        "Put the missing key(s) back in SMS_ENCRYPTION_KEYS after the first key and start "
        "again; `sms-accounts rotate-keys` then re-encrypts everything with the first key and "
        "the old keys can go. If a key is lost for good, run `sms-accounts rotate-keys "
        "--forget-unreadable`: its accounts turn Failed until their Auth Token is entered again."
    )


def cache_versions(settings: Settings) -> Versions | None:
    """The response cache's versions, or None when the cache is off.

    Several replicas on PostgreSQL with the in-process bus could not see each other's changes, so
    the cache needs Redis there; SQLite is one process, whose own versions are enough.
    """
    if settings.response_cache_bytes == 0:
        return None
    if uses_redis(settings):
        return RedisVersions(
            settings.broadcast_url,
            redis_secrets(settings),
            timeout_seconds=settings.cache_version_timeout_seconds,
            tracked=settings.cache_workspaces_tracked,
        )
    if sqlite_path(settings.database_url) is None:
        log.info("response cache off: several replicas need SMS_BROADCAST_URL=redis://…")
        return None
    return MemoryVersions(tracked=settings.cache_workspaces_tracked)


def event_bus(settings: Settings) -> EventBus:
    """The bus named by ``SMS_BROADCAST_URL``: in-process, or Redis pub/sub across replicas."""
    if settings.broadcast_url == "memory://":
        return MemoryBus(settings.subscriber_queue_size)
    return RedisBus(
        settings.broadcast_url,
        EVENTS,
        redis_secrets(settings),
        queue_size=settings.subscriber_queue_size,
        outbox_size=settings.bus_outbox_size,
        reconnect_min_seconds=settings.bus_reconnect_min_seconds,
        reconnect_max_seconds=settings.bus_reconnect_max_seconds,
        max_age_seconds=settings.bus_max_age_seconds,
    )


def cached_answers(settings: Settings) -> CachedAnswers | None:
    """The response cache's store and versions, or None when the cache is off."""
    versions = cache_versions(settings)
    if versions is None:
        return None
    return CachedAnswers(
        ResponseStore(
            settings.response_cache_bytes, ttl_seconds=settings.response_cache_ttl_seconds
        ),
        versions,
        retry_max_seconds=settings.cache_bump_retry_max_seconds,
    )


@dataclass(frozen=True, slots=True)
class Database:
    """The engine and its two session makers (reads, and writes that take turns on SQLite)."""

    engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    writes: async_sessionmaker[AsyncSession]

    async def close(self) -> None:
        await self.engine.dispose()


def open_database(settings: Settings) -> Database:
    """Connects lazily: nothing is opened before the first session."""
    bounds = PoolBounds(
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.sqlite_cache_kib,
        settings.sqlite_heap_limit_kib,
        settings.sqlite_cached_statements,
    )
    engine = create_engine(settings.database_url, echo=settings.log_sql, bounds=bounds)
    reads, writes = create_sessionmakers(engine)
    return Database(engine, reads, writes)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything one process runs on, built by ``build_services``."""

    settings: Settings
    database: Database
    services: Services  # what the use cases receive
    verifier: Verifier
    wirer: WebhookWirer  # wires senders' webhooks and puts them back, in the background
    batcher: StatusBatcher
    # Sends the campaigns: in this process on SQLite; as jobs on PostgreSQL (and a worker here
    # unless SMS_SERVE_WORKERS=0).
    campaigns: InProcessScheduler | JobScheduler
    bus: EventBus  # the bus itself (``services.bus`` may wrap it to bump cache versions)
    answers: CachedAnswers | None  # the response cache and its versions; None: the cache is off
    http: httpx.AsyncClient | None  # the providers' guarded client (None with injected ports)

    async def start(self) -> None:
        """Check the keys against the stored secrets, then start the bus, the verification
        sweep and the delivery report batcher. Refused keys close everything and raise."""
        try:
            await check_keys_cover_secrets(
                self.services.reads, self.settings, self.services.secrets
            )
        except ConfigurationError:
            await self.close()
            raise
        await self.bus.start()
        if self.answers is not None:
            self.answers.start()  # retries the cache-version bumps that failed
        self.verifier.start_sweeping()
        self.batcher.start()
        self.campaigns.start()

    async def stop(self) -> None:
        """Stop what ``start`` started (checks give their leases back), then close."""
        await self.campaigns.stop()  # first: its last batches record their answers
        await self.verifier.stop()
        await self.wirer.stop()  # after the checks: a passed check may start a wiring
        await self.batcher.stop()
        await self.bus.stop()
        if self.answers is not None:
            await self.answers.stop()
        await self.close()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.answers is not None:
            await self.answers.versions.aclose()
        await self.database.close()


def build_services(
    settings: Settings,
    *,
    sms: Mapping[SmsProvider, SmsPort] | None = None,
    clock: Callable[[], datetime] | None = None,
    resolver: Resolver | None = None,
    provider_transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    workers: WorkerPlan | None = None,
) -> Runtime:
    """The object graph for ``settings``. ``sms`` replaces every provider's port (a fake);
    otherwise the real adapters share one guarded HTTP client, over ``provider_transport`` when
    given (respx). ``resolver`` answers DNS for the Base URL policy; ``clock`` is "now", and
    ``sleep`` how a send waits for its sender's slot (a fake clock's, in tests). ``workers``:
    this process's campaign worker on PostgreSQL (default: ``serve``'s, from the settings)."""
    resolver = resolver or system_resolver
    box = secret_box(settings)  # first: a refused key policy leaves nothing open
    database = open_database(settings)
    policy = settings.host_policy
    policies = host_policies(policy)
    http = None
    if sms is None:
        # The connection-time check is the same for every provider (no internal address unless
        # the operator listed it): the transport takes the operator's (or Twilio's) policy.
        http = create_http_client(policy, resolver, transport=provider_transport)
        sms = build_ports(http, policies, retry_base_seconds=settings.retry_base_seconds)
    carrier = event_bus(settings)
    answers = cached_answers(settings)
    clock = clock or utcnow
    pacer = Pacer(
        database.reads,
        database.writes,
        PaceRules(
            one_off_max_wait_seconds=settings.send_max_wait_seconds,
            slow_factor=settings.queue_full_slowdown_factor,
            slow_seconds=settings.queue_full_slowdown_seconds,
            campaign_ahead_seconds=settings.campaign_claim_ahead_seconds,
        ),
        clock,
        sleep or asyncio.sleep,
    )
    services = Services(
        reads=database.reads,
        writes=database.writes,
        secrets=box,
        host_policies=policies,
        resolver=resolver,
        public_url=settings.public_url,
        bus=carrier if answers is None else BumpingBus(carrier, answers.invalidate),
        sms=sms,
        verifier=NO_CHECKS,
        wiring=NO_WIRING,
        verify_lease_seconds=settings.verify_lease_seconds,
        webhook_token_grace_seconds=settings.webhook_token_grace_seconds,
        pacer=pacer,
        signers=SignerCache(settings.webhook_signers_remembered),
        clock=clock,
        campaign_settings=campaign_settings(settings),
    )
    schedule = CheckSchedule(
        lease_seconds=settings.verify_lease_seconds,
        recheck_seconds=settings.recheck_seconds,
        sweep_seconds=settings.verify_sweep_seconds,
        max_in_flight=settings.max_concurrent_checks,
        max_wait_seconds=settings.verify_max_wait_seconds,
    )
    # The wirer shares the checks' bound: both call the provider in the background.
    wirer = WebhookWirer(services, settings.max_concurrent_checks)
    services = replace(services, wiring=wirer)
    verifier = Verifier(services, schedule, None if answers is None else answers.invalidate)
    campaigns = campaign_scheduler(settings, services, workers)
    services = replace(services, verifier=verifier, campaigns=campaigns)
    ports = services.sms
    batcher = StatusBatcher(
        database.writes,
        functools.partial(publish_message, services),
        lambda row, provider: to_message(row, ports[provider]),
        max_batch=settings.status_batch_size,
        linger_seconds=settings.status_batch_linger_seconds,
        campaign_changed=functools.partial(publish_change, services),
    )
    return Runtime(
        settings, database, services, verifier, wirer, batcher, campaigns, carrier, answers, http
    )


def worker_plan(settings: Settings, concurrency: int | None = None) -> WorkerPlan:
    """A campaign worker of ``concurrency`` jobs at once (None: ``SMS_SERVE_WORKERS``)."""
    return WorkerPlan(
        concurrency=settings.serve_workers if concurrency is None else concurrency,
        heartbeat_seconds=settings.worker_heartbeat_seconds,
        stalled_seconds=settings.worker_stalled_seconds,
        slice_seconds=settings.campaign_job_slice_seconds,
    )


def campaign_scheduler(
    settings: Settings, services: Services, workers: WorkerPlan | None
) -> InProcessScheduler | JobScheduler:
    """procrastinate on PostgreSQL; on SQLite (procrastinate has no SQLite connector, and one
    process sends) the same task function in-process."""
    if not uses_postgres(settings):
        return InProcessScheduler(services, sweep_seconds=settings.campaign_sweep_seconds)
    plan = workers or worker_plan(settings)
    app = job_queue(settings.database_url, pool_size=plan.concurrency + 2)
    return JobScheduler(services, app, plan)


def uses_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


def campaign_settings(settings: Settings) -> CampaignSettings:
    return CampaignSettings(
        recipients_per_call=settings.campaign_recipients_per_call,
        recipients_per_campaign=settings.campaign_max_recipients,
        handover_lease_seconds=settings.campaign_handover_lease_seconds,
        batch_size=settings.campaign_batch_size,
        retry_seconds=settings.campaign_retry_seconds,
        event_interval_seconds=settings.campaign_event_interval_seconds,
    )
