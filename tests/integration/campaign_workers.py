"""A campaign worker beside the app under test: what ``sms-accounts worker`` runs, in this
process, with Twilio answered by the same respx router as the app's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import respx

from api.bootstrap import Runtime, build_services, worker_plan
from api.settings import Settings


async def _no_dns(host: str) -> list[str]:
    raise OSError(f"{host} does not resolve")


@asynccontextmanager
async def campaign_worker(
    settings: Settings, twilio: respx.Router, concurrency: int
) -> AsyncIterator[Runtime]:
    plan = replace(worker_plan(settings, concurrency))
    runtime = build_services(
        settings,
        provider_transport=httpx.MockTransport(twilio.async_handler),
        resolver=_no_dns,
        workers=plan,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
