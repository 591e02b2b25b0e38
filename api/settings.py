"""Settings from the environment (prefix ``SMS_``); built once by ``create_app`` or the CLI."""

from __future__ import annotations

import base64
import binascii
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from api.cors import OriginPolicy, parse_origins
from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/sms.db"
MIN_BUS_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every knob of the service. Unknown ``SMS_*`` variables are refused at start."""

    model_config = SettingsConfigDict(env_prefix="SMS_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    encryption_keys: str = Field(default="", repr=False)
    # What authenticates and encrypts everything written to Redis (bus messages, cache versions):
    # derived from SMS_ENCRYPTION_KEYS unless this is set (comma-separated, first one writes).
    bus_secret: str = Field(default="", repr=False)
    allowed_provider_hosts: str = DEFAULT_ALLOWED_HOSTS
    public_url: str | None = None
    # development | production: production turns off GraphiQL, introspection and "Did you
    # mean" hints, and needs SMS_ENCRYPTION_KEYS (no generated key file beside the database).
    env: Literal["development", "production"] = "development"
    graphiql: bool | None = None  # unset: on in development, off in production
    # The SMS Accounts page at /accounts (api/accounts_page.py), the reference client: as above.
    accounts_page: bool | None = None
    log_format: Literal["text", "json"] = "text"
    log_sql: bool = False
    broadcast_url: str = Field(default="memory://", repr=False)  # may hold Redis's password
    # Other origins whose pages may use the API (CORS for HTTP, the websocket handshake's
    # Origin): exact origins, comma-separated, or * for any. Unset: development allows
    # http://localhost:*, http://127.0.0.1:* and http://[::1]:*; production none.
    allowed_origins: str = ""
    # How long a browser may reuse a preflight's answer (Chromium caps it at 7,200).
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)
    subscriber_queue_size: int = Field(default=256, ge=1, le=100_000)
    max_concurrent_checks: int = Field(default=32, ge=1, le=10_000)
    # A check renews its lease every third of it while it runs, so a lease outlives its process
    # by at most this long: a killed replica's check is resumed within lease + sweep seconds.
    verify_lease_seconds: float = Field(default=15.0, gt=0, le=3_600)
    verify_sweep_seconds: float = Field(default=5.0, gt=0, le=3_600)
    # Twilio's Retry-After past a check's 60 s budget reschedules the check rather than failing
    # it: it is resumed after Retry-After, but never later than this.
    verify_max_wait_seconds: float = Field(default=300.0, gt=0, le=3_600)
    # A VERIFIED account is checked again this long after its last check (±10 % per account).
    recheck_seconds: float = Field(default=86_400.0, ge=1, le=366 * 86_400)
    retry_base_seconds: float = Field(default=0.5, ge=0, le=30)
    # Twilio stops signing with the old token at once; 15 minutes covers retries in flight.
    webhook_token_grace_seconds: float = Field(default=900.0, ge=0)
    # An open websocket's key is looked up again this often (once per key, however many sockets
    # it holds): a revoked key's sockets close within it even without a bus to announce it.
    key_recheck_seconds: float = Field(default=4.0, gt=0, le=5)
    # Limits on what one request or websocket may ask of the server (README "Security").
    max_query_depth: int = Field(default=10, ge=1, le=100)
    # Introspection (only __schema/__type/__typename at the root) may nest deeper, through ofType
    # only: graphql-js's standard introspection document is 14 deep.
    max_introspection_depth: int = Field(default=15, ge=1, le=20)
    max_aliases: int = Field(default=30, ge=0, le=10_000)
    # Validation's cost grows faster than the document (schema/limits.py): tokens, field nodes
    # and the pairs of same-named fields the field-merge rule compares are capped before it runs.
    max_tokens: int = Field(default=1_000, ge=100, le=1_000_000)
    max_fields: int = Field(default=500, ge=1, le=100_000)
    max_field_overlaps: int = Field(default=1_000, ge=0, le=1_000_000)
    # Parsed documents kept for reuse (only ones that passed validation), by their text's length:
    # a full garbage collection walks them all, ~0.1 s per 200 KiB of text.
    document_cache_chars: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_json_depth: int = Field(default=32, ge=2, le=1_000)
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    ws_max_subscriptions: int = Field(default=20, ge=1, le=1_000)
    # A websocket must send connection_init this soon after it opens (else 4408); at most this
    # many may wait for theirs at once, and one API key may hold at most this many open (4429).
    ws_init_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    ws_max_awaiting_init: int = Field(default=1_000, ge=1, le=1_000_000)
    ws_max_sockets_per_key: int = Field(default=500, ge=1, le=1_000_000)
    # More failed key or signature checks than this in one second from one address: 429.
    auth_failures_per_second: int = Field(default=20, ge=1, le=100_000)
    # How many client addresses the failure counter tracks at most (its memory bound).
    auth_failure_addresses: int = Field(default=10_000, ge=100, le=1_000_000)
    # The hot-read response cache: its byte budget (0 turns it off), how long a live key's caller
    # is remembered (revocation reaches every replica within this), the version store's timeout.
    response_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, le=4 * 1024**3)
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=5)
    # The keys the caller cache holds at most (the oldest goes first).
    auth_cache_entries: int = Field(default=10_000, ge=1, le=1_000_000)
    cache_version_timeout_seconds: float = Field(default=0.25, gt=0, le=5)
    # The cache's last resort: an entry is served at most this long after it was stored, so a
    # change no version bump announced (a failed bump seen from another replica, the CLI without
    # Redis) shows within it. 5 s: the bound of a revoked key too; a read repeated 100 times a
    # second is still computed once per 500.
    response_cache_ttl_seconds: float = Field(default=5.0, gt=0, le=60)
    # A failed bump is retried after 0.05 s, the wait doubling up to this: once Redis takes
    # writes again, the other replicas drop their stale entries within it.
    cache_bump_retry_max_seconds: float = Field(default=1.0, gt=0, le=10)
    # Delivery reports are written in batches: at most this many per transaction, and a batch
    # waits at most this long for more before it is written (each callback waits for its commit).
    status_batch_size: int = Field(default=200, ge=1, le=5_000)
    status_batch_linger_seconds: float = Field(default=0.002, ge=0, le=0.05)
    # Accounts whose decrypted webhook secrets are kept in memory (least recently used forgotten
    # first; 0 reads and decrypts them for every webhook).
    webhook_signers_remembered: int = Field(default=10_000, ge=0, le=1_000_000)
    # Reconnecting to a lost Redis bus: the first wait, doubled after each failure up to the cap.
    bus_reconnect_min_seconds: float = Field(default=0.5, gt=0, le=60)
    bus_reconnect_max_seconds: float = Field(default=10.0, gt=0, le=300)
    # Events waiting to be sent to Redis; beyond it (Redis not keeping up) they stay local.
    bus_outbox_size: int = Field(default=10_000, ge=1, le=1_000_000)
    # A bus message older than this (by its sender's clock) is refused as a replay.
    bus_max_age_seconds: float = Field(default=30.0, ge=1, le=600)
    # Workspaces whose newest cache version a replica remembers, to refuse one set back.
    cache_workspaces_tracked: int = Field(default=10_000, ge=100, le=10_000_000)
    # Pacing per sender (resolvers/pacing.py): a sendSms whose sender's next free slot is further
    # away than this is refused (TOO_MANY) rather than held open; a sender whose provider queue
    # is full (Twilio 21611) sends this many times slower for this long.
    send_max_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    queue_full_slowdown_factor: float = Field(default=2.0, ge=1, le=100)
    queue_full_slowdown_seconds: float = Field(default=60.0, gt=0, le=3_600)
    # A campaign batch may take the sender's slots this far ahead (sending each at its slot),
    # so several sends are in flight at once; a pause waits for them (at most 0.5: it answers
    # within a second), and a one-off send may wait this much longer behind them.
    campaign_claim_ahead_seconds: float = Field(default=0.25, ge=0, le=0.5)
    # Campaign workers on PostgreSQL (resolvers/campaign_jobs.py): the campaigns each serve
    # process sends at once (0: it sends none; `sms-accounts worker` processes do), how often a
    # worker beats, after how long without a beat its jobs are retried elsewhere, and how long
    # one job sends a campaign before the next job takes over (campaigns take turns).
    serve_workers: int = Field(default=4, ge=0, le=1_000)
    worker_heartbeat_seconds: float = Field(default=2.0, gt=0, le=60)
    worker_stalled_seconds: float = Field(default=6.0, gt=0, le=600)
    campaign_job_slice_seconds: float = Field(default=10.0, gt=0, le=300)
    db_retry_after_seconds: int = Field(default=5, ge=1, le=300)
    # The first start's admin key is refused unless used within this time (it lies in a file).
    first_key_ttl_seconds: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
    # Campaigns: recipients one addSmsCampaignRecipients call may carry (more: TOO_MANY, nothing
    # added), and a campaign may hold in all (skipped ones included).
    campaign_recipients_per_call: int = Field(default=1_000, ge=1, le=10_000)
    campaign_max_recipients: int = Field(default=1_000_000, ge=1, le=100_000_000)
    # A hand-over not finished this long after it was claimed has no live owner (its process
    # died): its recipients turn UNCONFIRMED, never sent again. Longer than any one send takes.
    campaign_handover_lease_seconds: float = Field(default=20.0, ge=1, le=600)
    # Recipients one batch of a campaign hands over at most (all at once).
    campaign_batch_size: int = Field(default=20, ge=1, le=1_000)
    # The wait before handing over again after the provider was unavailable or asked to wait
    # without saying how long (a Retry-After is followed, up to 60 times this).
    campaign_retry_seconds: float = Field(default=5.0, gt=0, le=300)
    # smsCampaignChanged sends at most one event per interval (0.5: twice a second), the last
    # of a burst on the trailing edge, and one at once for every change of status.
    campaign_event_interval_seconds: float = Field(default=0.5, ge=0.5, le=60)
    # The in-process scheduler looks for SENDING campaigns this often (and at start).
    campaign_sweep_seconds: float = Field(default=30.0, gt=0, le=3_600)
    # Where the server keeps its own files (the first admin key); unset: the SQLite database's
    # folder, or ./data beside a server database.
    # The server's log lines below WARNING are written in batches at most this long after the
    # first (a write per access line cost a cached read as much as answering it); 0: at once.
    log_flush_seconds: float = Field(default=0.1, ge=0, le=5)
    # Connections to the database held at most: pooled, and more while busy (closed after use).
    db_pool_size: int = Field(default=20, ge=1, le=1_000)
    db_max_overflow: int = Field(default=10, ge=0, le=1_000)
    # SQLite's page cache per connection (KiB): with the pool, the bound of what SQLite holds.
    sqlite_cache_kib: int = Field(default=1024, ge=64, le=1024 * 1024)
    # SQLite's memory in all (KiB), process-wide: near it, each connection reuses its own least
    # recently used cache pages instead of adding more (PRAGMA soft_heap_limit), however many
    # pooled connections were used. It bounds the page caches only; 0: no limit.
    sqlite_heap_limit_kib: int = Field(default=16 * 1024, ge=0, le=1024 * 1024)
    # Prepared statements each SQLite connection keeps (Python's sqlite3 default is 128). They
    # were most of SQLite's memory in the hour's soak (~1 MB a pooled connection, filling as each
    # connection met more statements); the statements a request runs again stay prepared.
    sqlite_cached_statements: int = Field(default=32, ge=0, le=1_000)
    # glibc malloc arenas the server may keep (api/allocator.py); 0: the C library's default.
    malloc_arenas: int = Field(default=2, ge=0, le=64)
    # Diagnostic, off (0): every this many seconds, log what was allocated since the first report
    # (tracemalloc: slow, for a soak that hunts growth; api/memory_report.py).
    debug_memory_report_seconds: float = Field(default=0.0, ge=0, le=86_400)
    data_dir: str | None = None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the service talks to its database asynchronously)"
            )
        try:
            url = make_url(value)
            url.port  # noqa: B018 (parsed lazily: a port that is not a number fails here)
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a valid URL: write postgresql+asyncpg://user:password@host:5432/name "
                "(percent-encode special characters in the password) or "
                "sqlite+aiosqlite:///path/to/file.db"
            ) from None
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _keys_are_32_bytes(cls, value: str) -> str:
        for position, item in enumerate(_split(value), start=1):
            try:
                raw = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {position} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(f"key {position} decodes to {len(raw)} bytes; AES-256 needs 32")
        return value

    @field_validator("bus_secret")
    @classmethod
    def _bus_secrets_are_long(cls, value: str) -> str:
        for position, item in enumerate(_split(value), start=1):
            if len(item) < MIN_BUS_SECRET_LENGTH:
                raise ValueError(
                    f"secret {position} has {len(item)} characters; at least "
                    f"{MIN_BUS_SECRET_LENGTH} are needed (e.g. openssl rand -hex 32)"
                )
        return value

    @field_validator("allowed_provider_hosts")
    @classmethod
    def _policy_parses(cls, value: str) -> str:
        HostPolicy.parse(value)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        parse_origins(_split(value))
        return value

    @field_validator("broadcast_url")
    @classmethod
    def _known_broadcast(cls, value: str) -> str:
        if value == "memory://":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(
                "must be memory:// (one process) or redis://host:port/db (several replicas)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        parts = urlsplit(value.strip())
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError("must be an absolute http(s) URL without query or fragment")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _stalled_after_missed_beats(self) -> Settings:
        if self.worker_stalled_seconds < 2 * self.worker_heartbeat_seconds:
            raise ValueError(
                "SMS_WORKER_STALLED_SECONDS must be at least twice SMS_WORKER_HEARTBEAT_SECONDS: "
                "a worker is taken for dead only after missing a beat"
            )
        return self

    @model_validator(mode="after")
    def _production_has_keys(self) -> Settings:
        if self.production and not _split(self.encryption_keys):
            raise ValueError(
                "SMS_ENV=production needs SMS_ENCRYPTION_KEYS (a base64 32-byte key: "
                'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())")'
            )
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        """SMS_GRAPHIQL when set, else on in development only."""
        return (not self.production) if self.graphiql is None else self.graphiql

    @property
    def accounts_page_enabled(self) -> bool:
        """SMS_ACCOUNTS_PAGE when set, else on in development only."""
        return (not self.production) if self.accounts_page is None else self.accounts_page

    @property
    def encryption_key_list(self) -> list[bytes]:
        """Decoded keys, first one encrypts."""
        return [base64.b64decode(item) for item in _split(self.encryption_keys)]

    @property
    def bus_secret_list(self) -> list[bytes]:
        """SMS_BUS_SECRET's secrets, first one writes; empty when unset."""
        return [item.encode() for item in _split(self.bus_secret)]

    @property
    def origin_policy(self) -> OriginPolicy:
        """Which other origins' pages may use the API; same-origin pages always may."""
        return OriginPolicy.from_setting(
            _split(self.allowed_origins), development=not self.production
        )

    @property
    def host_policy(self) -> HostPolicy:
        return HostPolicy.parse(self.allowed_provider_hosts)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


TEST_PREFIX = "SMS_TEST_"  # read by the test suite only, never by the service


class SettingsError(Exception):
    """Settings that stop the start; the message names the variable and what is wrong."""


def load_settings() -> Settings:
    """Read the environment, turning pydantic's report into one clear message."""
    import os

    from pydantic import ValidationError

    unknown = sorted(
        name
        for name in os.environ
        if name.startswith("SMS_") and not name.startswith(TEST_PREFIX) and _field_for(name) is None
    )
    if unknown:
        known = ", ".join(f"SMS_{name.upper()}" for name in Settings.model_fields)
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known settings: {known}")
    try:
        return Settings()
    except ValidationError as exc:
        # One line, each setting with what is wrong: a start that stops says why in a sentence.
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"SMS_{field.upper()}: {message}" if field != "settings" else message)
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None


def _field_for(env_name: str) -> str | None:
    name = env_name.removeprefix("SMS_").lower()
    return name if name in Settings.model_fields else None
