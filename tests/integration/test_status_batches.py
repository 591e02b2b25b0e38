"""Delivery reports written in batches: each callback is answered only after its batch
committed, a batch never exceeds its size, and reports still move messages forward only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import Api, Keys
from tests.integration.messaging import (
    PUBLIC_URL,
    TO,
    created_message,
    messages,
    send,
    signed_post,
    status_params,
    twilio_sends,
    verified_account,
)

COUNT = 30


async def sent_messages(
    api: Api, keys: Keys, twilio: respx.Router
) -> tuple[str, list[dict[str, str]]]:
    """A verified account and COUNT messages sent through it: (account id, [{id, sid}])."""
    card = await verified_account(api, keys, twilio)
    sids = iter(f"SM{n:032x}" for n in range(1, COUNT + 1))
    twilio_sends(
        twilio, *(httpx.Response(201, json=created_message(next(sids))) for _ in range(COUNT))
    )
    sent = []
    for _ in range(COUNT):
        message = (await send(api, keys.marketer, card["id"], TO, "hi"))["message"]
        sent.append({"id": message["id"], "sid": message["providerMessageId"]})
    return card["id"], sent


async def statuses(api: Api, keys: Keys) -> dict[str, str]:
    page = await messages(api, keys.sales, first=100)
    return {edge["node"]["id"]: edge["node"]["status"] for edge in page["edges"]}


@pytest.mark.parametrize("overrides", [{}, {"status_batch_size": 1}, {"status_batch_size": 7}])
async def test_every_acknowledged_report_is_already_written_when_it_is_answered(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router, overrides: dict[str, Any]
) -> None:
    async with make_api(public_url=PUBLIC_URL, **overrides) as api:
        account_id, sent = await sent_messages(api, keys, twilio)

        async def deliver(message: dict[str, str]) -> None:
            path = f"/webhooks/twilio/{account_id}/status?mid={message['id']}"
            response = await signed_post(api, path, status_params("delivered", message["sid"]))
            assert response.status_code == 204
            # Answered: the report must be in the database already.
            assert (await statuses(api, keys))[message["id"]] == "DELIVERED"

        await asyncio.gather(*(deliver(message) for message in sent))

        assert set((await statuses(api, keys)).values()) == {"DELIVERED"}


async def test_reports_in_one_batch_still_only_move_messages_forward(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL, status_batch_linger_seconds=0.02) as api:
        account_id, sent = await sent_messages(api, keys, twilio)
        path = f"/webhooks/twilio/{account_id}/status?mid="

        # delivered, then a late "sent" for the same message, in the same batch window
        answers = await asyncio.gather(
            *(
                signed_post(api, path + m["id"], status_params(word, m["sid"]))
                for m in sent
                for word in ("delivered", "sent")
            )
        )

        assert {answer.status_code for answer in answers} == {204}
        assert set((await statuses(api, keys)).values()) == {"DELIVERED"}
