"""The Twilio double behind the tests' Twilio router, for the webhook wiring's tests: each request
the app sends to Twilio is first checked against Twilio's OpenAPI description (path, method,
query, form fields, and the host: Messaging v1 on ``messaging.twilio.com``), then answered by the
double's own app, which keeps the number's and the service's webhooks as Twilio would."""

from __future__ import annotations

from typing import Any

import httpx
import respx

from tests.conftest import Api
from tests.integration.documents import ACCOUNT_FIELDS
from tests.integration.steps import verdict
from tests.twilio_double import TwilioDouble
from tests.twilio_fixtures import assert_request_matches_spec

WEBHOOKS = "webhooks { status inboundUrl previousInboundUrl message changedAt }"
CARD = f"query Card($id: ID!) {{ smsAccount(id: $id) {{ {ACCOUNT_FIELDS} {WEBHOOKS} }} }}"
ADD_WIRED = f"""
mutation Add($input: AddSmsAccountInput!) {{
  addSmsAccount(input: $input) {{ account {{ id {WEBHOOKS} }} errors {{ field code message }} }}
}}
"""
UPDATE_WIRED = f"""
mutation Update($id: ID!, $input: UpdateSmsAccountInput!) {{
  updateSmsAccount(id: $id, input: $input) {{
    account {{ id senderId status {WEBHOOKS} }} errors {{ field code message }}
  }}
}}
"""


class TwilioBehindRouter:
    """``unreachable``: every connection fails, as when the network drops Twilio."""

    def __init__(self, router: respx.Router, double: TwilioDouble) -> None:
        self.double = double
        self.unreachable = False
        self.posts: list[tuple[str, str, dict[str, str]]] = []  # host, path, form
        self._app = httpx.ASGITransport(app=double.app)
        router.route().mock(side_effect=self._answer)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        if self.unreachable:
            raise httpx.ConnectError("no route to host", request=request)
        assert_request_matches_spec(request)
        messaging = request.url.path.startswith("/v1/")
        assert request.url.host == ("messaging.twilio.com" if messaging else "api.twilio.com")
        if request.method == "POST":
            form = dict(httpx.QueryParams(request.content.decode()))
            self.posts.append((request.url.host, request.url.path, form))
        answer = await self._app.handle_async_request(request)
        body = await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)


async def card(api: Api, key: str, account_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(key, CARD, {"id": account_id}))["smsAccount"]
    return found


async def settled(api: Api, key: str, account_id: str) -> dict[str, Any]:
    """The card once its check, and any wiring or put-back it started, have finished."""
    await verdict(api, key, account_id)
    await api.runtime.verifier.wait_idle()  # a passed check starts the wiring as it ends
    await api.runtime.wirer.wait_idle()
    return await card(api, key, account_id)
