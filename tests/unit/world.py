"""The unit layer's world: the use cases on SQLite (a fresh file per test), a ``FakeSms`` behind
the port and a ``FakeClock``, without the app or HTTP. Everything else is the project's own code,
built by the same bootstrap as the server (``api.bootstrap.build_services``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.bootstrap import Runtime, build_services
from api.settings import Settings
from domain.accounts import Account
from domain.vocabulary import AccountStatus, Caller, Role, SmsProvider
from resolvers import accounts, api_keys, integration, verification
from resolvers.accounts import AccountResult
from resolvers.events import accounts_channel, senders_channel
from resolvers.messages import messages_channel
from resolvers.services import Services
from storage import queries
from tests.fakes import FakeClock, FakeSms, fake_for

TEST_KEY = base64.b64encode(b"k" * 32).decode()
PUBLIC_URL = "https://sms.example.com"
CLIENT_ID = "AC" + "0123456789abcdef" * 2
SECRET = "f1e2d3c4b5a6978812345678abcdef90"
PHONE = "+14155550123"
MG_SID = "MG" + "fedcba9876543210" * 2
HEADER = "ACMEIN"  # an Indian DLT header
ENTITY_ID = "1201159876543210"
TEMPLATE_ID = "1207161234567890123"


def form(
    provider: SmsProvider = SmsProvider.TWILIO, **overrides: str | None
) -> dict[str, str | None]:
    """The Add dialog's fields, by name: good-looking ones for ``provider`` (Twilio: a phone
    sender and an Account SID; MSG91: a DLT header and entity id)."""
    if provider is SmsProvider.MSG91:
        return {"sender_id": HEADER, "dlt_entity_id": ENTITY_ID, "auth_token": SECRET, **overrides}
    return {"sender_id": PHONE, "client_id": CLIENT_ID, "auth_token": SECRET, **overrides}


@dataclass
class Heard:
    """Everything published on one workspace's channels, in order, while it listens."""

    messages: list[tuple[str, object]] = field(default_factory=list)

    def on(self, channel: str) -> list[object]:
        return [message for heard_on, message in self.messages if heard_on == channel]


@dataclass
class World:
    runtime: Runtime
    sms: FakeSms
    clock: FakeClock
    caller: Caller

    @property
    def services(self) -> Services:
        return self.runtime.services

    @property
    def provider(self) -> SmsProvider:
        return self.sms.provider

    @property
    def template(self) -> str | None:
        """The DLT template id a send through this world's provider names (None: it takes
        none)."""
        return TEMPLATE_ID if self.sms.takes_dlt_template_id else None

    def form(self, **overrides: str | None) -> dict[str, str | None]:
        return form(self.provider, **overrides)

    async def add(self, *, wire_webhooks: bool = False, **overrides: str | None) -> Account:
        result = await accounts.add_account(
            self.services,
            self.caller,
            self.provider,
            form(self.provider, **overrides),
            wire_webhooks=wire_webhooks,
        )
        assert result.errors == [], result.errors
        assert result.account is not None
        return result.account

    async def update(
        self,
        account_id: str,
        *,
        wire_webhooks: bool | None = None,
        send_rate: float | None = None,
        **fields: str | None,
    ) -> AccountResult:
        """Edit the account, and wait for the webhook put-back or wiring it started."""
        result = await accounts.update_account(
            self.services,
            self.caller,
            account_id,
            fields,
            wire_webhooks=wire_webhooks,
            send_rate=send_rate,
        )
        await self.runtime.wirer.wait_idle()
        return result

    async def shown(self, account_id: str) -> Account:
        account = await accounts.get_account(self.services, self.caller, account_id)
        assert account is not None
        return account

    async def update_rotating(self, account_id: str, **fields: str | None) -> AccountResult:
        """Update, and issue a new statusWebhookUrl."""
        return await accounts.update_account(
            self.services, self.caller, account_id, fields, rotate_status_webhook_token=True
        )

    async def verify(self, account_id: str) -> AccountResult:
        """Verify, and wait for the check's verdict."""
        started = await verification.verify_account(self.services, self.caller, account_id)
        await self.checks_done()
        return started

    async def verified(self, *, wire_webhooks: bool = False, **overrides: str | None) -> Account:
        """A new account, verified (the fake provider answers well unless told otherwise)."""
        account = await self.add(wire_webhooks=wire_webhooks, **overrides)
        await self.verify(account.id)
        shown = await accounts.get_account(self.services, self.caller, account.id)
        assert shown is not None
        assert shown.status is AccountStatus.VERIFIED, shown
        return shown

    async def health_check(self, account_id: str) -> None:
        """Run a health check as a sweep does: lease the account once due, then check it."""
        row = await self.row(account_id)
        self.clock.now = max(self.clock.now, row.next_check_at)
        resumed, due = await self.runtime.verifier.sweep()
        assert (resumed, due) == (0, 1)
        await self.checks_done()

    async def row(self, account_id: str) -> Any:
        async with self.services.reads() as session:
            return await queries.live_account(session, self.caller.workspace_id, account_id)

    async def checks_done(self) -> None:
        """Wait until no check runs, nor the webhook wiring a passed check started."""
        await self.runtime.verifier.wait_idle()
        await self.runtime.wirer.wait_idle()

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[Heard]:
        """Subscribe to the caller's workspace channels (accounts, senders, messages)."""
        heard = Heard()
        workspace = self.caller.workspace_id
        channels = [accounts_channel(workspace), senders_channel(workspace)]
        channels.append(messages_channel(workspace))
        async with contextlib.AsyncExitStack() as stack:
            for channel in channels:
                subscription = await stack.enter_async_context(self.services.bus.subscribe(channel))
                stack.push_async_callback(
                    _cancel, asyncio.create_task(_collect(channel, subscription, heard))
                )
            yield heard
            for _ in range(3):  # let the collectors take what was published
                await asyncio.sleep(0)


async def _collect(channel: str, subscription: Any, heard: Heard) -> None:
    async for message in subscription:
        heard.messages.append((channel, message))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def world_on(
    database: Path,
    *,
    sms: FakeSms | None = None,
    provider: SmsProvider = SmsProvider.TWILIO,
    **settings: Any,
) -> AsyncIterator[World]:
    """A world on the migrated SQLite file ``database``: workspace "acme" with the SMS
    integration on, and its admin as the caller; ``sms`` (or a fake of ``provider``) behind
    the port."""
    sms = sms or fake_for(provider)
    clock = FakeClock()
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{database}",
        "encryption_keys": TEST_KEY,
        "public_url": PUBLIC_URL,
        "response_cache_bytes": 0,
        **settings,
    }
    runtime = build_services(
        Settings(**values), sms={sms.provider: sms}, clock=clock, sleep=clock.sleep
    )
    try:
        issued = await api_keys.create_api_key(runtime.services.writes, "acme", Role.ADMIN)
        caller = await api_keys.authenticate(runtime.services.reads, issued.key)
        assert caller is not None
        await integration.set_integration_enabled(runtime.services, caller, True)
        yield World(runtime, sms, clock, caller)
    finally:
        await runtime.verifier.stop()
        await runtime.wirer.stop()
        await runtime.close()


WorldFactory = Callable[..., contextlib.AbstractAsyncContextManager[World]]
