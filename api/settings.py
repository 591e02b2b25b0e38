"""Settings from the environment (prefix ``SMS_``); built once by ``create_app`` or the CLI."""

from __future__ import annotations

import base64
import binascii
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/sms.db"


class Settings(BaseSettings):
    """Every knob of the service. Unknown ``SMS_*`` variables are refused at start."""

    model_config = SettingsConfigDict(env_prefix="SMS_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    encryption_keys: str = Field(default="", repr=False)
    allowed_provider_hosts: str = DEFAULT_ALLOWED_HOSTS
    public_url: str | None = None
    # development | production: production turns off GraphiQL, introspection and "Did you
    # mean" hints, and needs SMS_ENCRYPTION_KEYS (no generated key file beside the database).
    env: Literal["development", "production"] = "development"
    graphiql: bool | None = None  # unset: on in development, off in production
    log_format: Literal["text", "json"] = "text"
    log_sql: bool = False
    broadcast_url: str = "memory://"
    allowed_origins: str = ""
    subscriber_queue_size: int = Field(default=256, ge=1, le=100_000)
    max_concurrent_checks: int = Field(default=32, ge=1, le=10_000)
    verify_lease_seconds: float = Field(default=120.0, gt=0)
    verify_sweep_seconds: float = Field(default=30.0, gt=0)
    retry_base_seconds: float = Field(default=0.5, ge=0, le=30)
    webhook_token_grace_seconds: float = Field(default=86_400.0, ge=0)
    key_recheck_seconds: float = Field(default=30.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the service talks to its database asynchronously)"
            )
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

    @field_validator("allowed_provider_hosts")
    @classmethod
    def _policy_parses(cls, value: str) -> str:
        HostPolicy.parse(value)
        return value

    @field_validator("broadcast_url")
    @classmethod
    def _known_broadcast(cls, value: str) -> str:
        if value != "memory://":
            raise ValueError("must be memory:// (the in-process event bus)")
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
    def encryption_key_list(self) -> list[bytes]:
        """Decoded keys, first one encrypts."""
        return [base64.b64decode(item) for item in _split(self.encryption_keys)]

    @property
    def origin_list(self) -> list[str]:
        """Origins whose pages may open a websocket (``*``: any); same-origin always may."""
        return _split(self.allowed_origins)

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
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"SMS_{field.upper()}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def _field_for(env_name: str) -> str | None:
    name = env_name.removeprefix("SMS_").lower()
    return name if name in Settings.model_fields else None
