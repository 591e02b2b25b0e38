"""Steps of the campaign tests through GraphQL: documents, a Twilio that answers each send with a
fresh SID, and waiting for a campaign to reach a status."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import respx

from tests.conftest import Api, Keys
from tests.integration.messaging import created_message, twilio_sends, verified_account

CAMPAIGN_FIELDS = """
id name accountId body status statusMessage createdAt startedAt completedAt
progress { total pending sent delivered undelivered failed skipped unconfirmed }
"""
PAYLOAD = f"campaign {{ {CAMPAIGN_FIELDS} }} errors {{ field code message }}"
CREATE = f"""
mutation Create($input: CreateSmsCampaignInput!) {{
  createSmsCampaign(input: $input) {{ {PAYLOAD} }}
}}
"""
ADD = f"""
mutation Add($id: ID!, $recipients: [SmsCampaignRecipientInput!]!) {{
  addSmsCampaignRecipients(id: $id, recipients: $recipients) {{ {PAYLOAD} }}
}}
"""
START = f"mutation Start($id: ID!) {{ startSmsCampaign(id: $id) {{ {PAYLOAD} }} }}"
PAUSE = f"mutation Pause($id: ID!) {{ pauseSmsCampaign(id: $id) {{ {PAYLOAD} }} }}"
RESUME = f"mutation Resume($id: ID!) {{ resumeSmsCampaign(id: $id) {{ {PAYLOAD} }} }}"
CANCEL = f"mutation Cancel($id: ID!) {{ cancelSmsCampaign(id: $id) {{ {PAYLOAD} }} }}"
ONE = f"query One($id: ID!) {{ smsCampaign(id: $id) {{ {CAMPAIGN_FIELDS} }} }}"
PAGE = """
query Page($first: Int, $after: String) {
  smsCampaigns(first: $first, after: $after) {
    edges { cursor node { id name status } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CHANGED = (
    f"subscription Changed($id: ID!) {{ smsCampaignChanged(id: $id) {{ {CAMPAIGN_FIELDS} }} }}"
)
FAST = 500.0  # segments a second: the tests' senders are not what they wait on

_sids = itertools.count(1)


def twilio_takes_every_send(twilio: respx.Router) -> respx.Route:
    """Twilio accepting each message with an SID of its own."""
    return twilio_sends(
        twilio, lambda: httpx.Response(201, json=created_message(f"SM{next(_sids):032x}"))
    )


def sent_to(route: respx.Route) -> list[str]:
    return [parse_qs(call.request.content.decode())["To"][0] for call in route.calls]


def message_id_of(route: respx.Route, call: int = 0) -> str:
    """Our message id, as the StatusCallback of a send names it."""
    callback: str = parse_qs(route.calls[call].request.content.decode())["StatusCallback"][0]
    return callback.rsplit("mid=", 1)[1]


async def campaign_of(
    api: Api, keys: Keys, twilio: respx.Router, key: str = "k1"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A verified, fast account and a DRAFT campaign through it, created by the marketer."""
    card = await verified_account(api, keys, twilio, sendRatePerSecond=FAST)
    variables = {
        "input": {"accountId": card["id"], "name": "Spring", "body": "Hi", "idempotencyKey": key}
    }
    payload = (await api.data(keys.marketer, CREATE, variables))["createSmsCampaign"]
    assert payload["errors"] == []
    return card, payload["campaign"]


async def mutate(api: Api, key: str, document: str, **variables: Any) -> dict[str, Any]:
    data = await api.data(key, document, variables)
    (payload,) = data.values()
    result: dict[str, Any] = payload
    return result


async def add(api: Api, key: str, campaign_id: str, tos: list[str]) -> dict[str, Any]:
    recipients = [{"to": to} for to in tos]
    return await mutate(api, key, ADD, id=campaign_id, recipients=recipients)


async def reaches(api: Api, key: str, campaign_id: str, status: str) -> dict[str, Any]:
    """The campaign once it has ``status`` (within 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        found: dict[str, Any] = (await api.data(key, ONE, {"id": campaign_id}))["smsCampaign"]
        if found["status"] == status:
            return found
        assert time.monotonic() < deadline, f"never {status}: {found}"
        await asyncio.sleep(0.02)
