"""Campaigns through GraphQL: each mutation and role, idempotent create, skips, limits, pause,
resume and cancel, the server's own pauses, workspaces, at-most-once, and progress events over a
real websocket (Twilio answered at HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from resolvers.campaign_events import campaigns_channel
from tests.conftest import ACCOUNT_SID, Api, Keys
from tests.integration.campaign_steps import (
    CANCEL,
    CHANGED,
    CREATE,
    ONE,
    PAGE,
    PAUSE,
    RESUME,
    START,
    add,
    campaign_of,
    message_id_of,
    mutate,
    reaches,
    sent_to,
    twilio_takes_every_send,
)
from tests.integration.documents import SET_ENABLED
from tests.integration.live import Serve
from tests.integration.messaging import PUBLIC_URL, signed_post, twilio_sends

TOS = [f"+1415555{n:04d}" for n in range(6)]


async def test_a_marketer_sends_a_campaign_to_each_recipient_once(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        _, campaign = await campaign_of(api, keys, twilio)
        route = twilio_takes_every_send(twilio)
        added = await add(api, keys.marketer, campaign["id"], TOS)
        assert added["errors"] == []

        started = await mutate(api, keys.marketer, START, id=campaign["id"])
        done = await reaches(api, keys.sales, campaign["id"], "COMPLETED")

    assert started["campaign"]["status"] == "SENDING"
    assert started["campaign"]["startedAt"] is not None
    assert sorted(sent_to(route)) == TOS
    assert done["progress"] == {
        "total": 6,
        "pending": 0,
        "sent": 6,
        "delivered": 0,
        "undelivered": 0,
        "failed": 0,
        "skipped": 0,
        "unconfirmed": 0,
    }
    assert done["statusMessage"] is None
    assert done["completedAt"] is not None


async def test_a_create_retried_with_its_key_answers_the_same_campaign(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, first = await campaign_of(api, keys, twilio, key="retry-me")
    variables = {
        "input": {
            "accountId": card["id"],
            "name": "Spring",
            "body": "Hi",
            "idempotencyKey": "retry-me",
        }
    }

    again = (await api.data(keys.admin, CREATE, variables))["createSmsCampaign"]

    assert again["campaign"]["id"] == first["id"]
    page = (await api.data(keys.sales, PAGE, {"first": 10}))["smsCampaigns"]
    assert [edge["node"]["id"] for edge in page["edges"]] == [first["id"]]


async def test_skipped_recipients_are_counted_and_too_many_adds_nothing(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(campaign_recipients_per_call=4) as api:
        _, campaign = await campaign_of(api, keys, twilio)

        added = await add(api, keys.marketer, campaign["id"], [TOS[0], TOS[0], "nope", TOS[1]])
        too_many = await add(api, keys.marketer, campaign["id"], TOS[:5])

    assert added["errors"] == []
    progress = added["campaign"]["progress"]
    assert (progress["total"], progress["pending"], progress["skipped"]) == (4, 2, 2)
    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [("recipients", "TOO_MANY")]
    assert too_many["campaign"] is None


async def test_pause_resume_and_cancel(make_api: Any, keys: Keys, twilio: respx.Router) -> None:
    async with make_api() as api:
        card, campaign = await campaign_of(api, keys, twilio)
        # A sender of one segment a second: the campaign is still sending when paused.
        await api.data(
            keys.admin,
            "mutation U($id: ID!) { updateSmsAccount(id: $id, input: {sendRatePerSecond: 1}) "
            "{ errors { code } } }",
            {"id": card["id"]},
        )
        route = twilio_takes_every_send(twilio)
        await add(api, keys.marketer, campaign["id"], TOS)
        await mutate(api, keys.marketer, START, id=campaign["id"])

        paused = await mutate(api, keys.marketer, PAUSE, id=campaign["id"])
        handed = route.call_count
        await asyncio.sleep(1.2)
        assert route.call_count == handed  # nothing after the pause answered
        resumed = await mutate(api, keys.admin, RESUME, id=campaign["id"])
        canceled = await mutate(api, keys.marketer, CANCEL, id=campaign["id"])
        restarted = await mutate(api, keys.marketer, START, id=campaign["id"])

    assert paused["campaign"]["status"] == "PAUSED"
    assert paused["campaign"]["statusMessage"] is None
    assert resumed["campaign"]["status"] == "SENDING"
    progress = canceled["campaign"]["progress"]
    assert canceled["campaign"]["status"] == "CANCELED"
    assert progress["pending"] == 0
    assert progress["sent"] + progress["skipped"] == 6
    assert [e["code"] for e in restarted["errors"]] == ["CAMPAIGN_NOT_EDITABLE"]


async def test_the_server_pauses_a_campaign_when_the_integration_is_turned_off(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api() as api:
        card, campaign = await campaign_of(api, keys, twilio)
        await api.data(
            keys.admin,
            "mutation U($id: ID!) { updateSmsAccount(id: $id, input: {sendRatePerSecond: 0.1}) "
            "{ errors { code } } }",
            {"id": card["id"]},
        )
        twilio_takes_every_send(twilio)
        await add(api, keys.marketer, campaign["id"], TOS)
        await mutate(api, keys.marketer, START, id=campaign["id"])

        await api.data(keys.admin, SET_ENABLED, {"enabled": False})
        paused = await reaches(api, keys.marketer, campaign["id"], "PAUSED")
        refused = await mutate(api, keys.marketer, RESUME, id=campaign["id"])
        await api.data(keys.admin, SET_ENABLED, {"enabled": True})
        resumed = await mutate(api, keys.marketer, RESUME, id=campaign["id"])

    assert "integration was turned off" in paused["statusMessage"]
    assert paused["progress"]["failed"] == 0
    assert [e["code"] for e in refused["errors"]] == ["INTEGRATION_DISABLED"]
    assert refused["campaign"]["status"] == "PAUSED"
    assert resumed["errors"] == []
    assert resumed["campaign"]["statusMessage"] is None


MUTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "createSmsCampaign": (
        CREATE,
        {"input": {"accountId": "x", "name": "n", "body": "b", "idempotencyKey": "k"}},
    ),
    "addSmsCampaignRecipients": (
        "mutation A($id: ID!) { addSmsCampaignRecipients(id: $id, recipients: []) "
        "{ errors { code } } }",
        {"id": "x"},
    ),
    "startSmsCampaign": (START, {"id": "x"}),
    "pauseSmsCampaign": (PAUSE, {"id": "x"}),
    "resumeSmsCampaign": (RESUME, {"id": "x"}),
    "cancelSmsCampaign": (CANCEL, {"id": "x"}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_sales_keys_may_not_run_campaign_mutations(api: Api, keys: Keys, name: str) -> None:
    document, variables = MUTATIONS[name]

    for key, allowed in ((keys.admin, True), (keys.marketer, True), (keys.sales, False)):
        result = await api.run(key, document, variables)
        codes = [error["extensions"]["code"] for error in result.get("errors", [])]
        assert codes == ([] if allowed else ["FORBIDDEN"]), (key, result)


async def test_workspaces_never_see_or_touch_each_others_campaigns(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    _, campaign = await campaign_of(api, keys, twilio)

    seen = (await api.data(other_keys.sales, ONE, {"id": campaign["id"]}))["smsCampaign"]
    page = (await api.data(other_keys.admin, PAGE, {"first": 10}))["smsCampaigns"]
    added = await add(api, other_keys.marketer, campaign["id"], TOS[:1])
    canceled = await mutate(api, other_keys.admin, CANCEL, id=campaign["id"])

    assert seen is None
    assert page["edges"] == []
    assert [e["code"] for e in added["errors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in canceled["errors"]] == ["NOT_FOUND"]


async def test_a_send_whose_answer_was_lost_is_unconfirmed_until_its_report(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        card, campaign = await campaign_of(api, keys, twilio)
        route = twilio_sends(twilio, httpx.ReadTimeout("no answer"))
        await add(api, keys.marketer, campaign["id"], TOS[:1])
        await mutate(api, keys.marketer, START, id=campaign["id"])
        done = await reaches(api, keys.marketer, campaign["id"], "COMPLETED")
        mid = message_id_of(route)
        report = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
        report["AccountSid"] = ACCOUNT_SID
        answered = await signed_post(api, f"/webhooks/twilio/{card['id']}/status?mid={mid}", report)
        settled = (await api.data(keys.marketer, ONE, {"id": campaign["id"]}))["smsCampaign"]

    assert route.call_count == 1
    assert (done["progress"]["unconfirmed"], done["progress"]["sent"]) == (1, 0)
    assert answered.status_code == 204
    progress = settled["progress"]
    assert (progress["unconfirmed"], progress["sent"], progress["delivered"]) == (0, 1, 1)


async def test_progress_events_arrive_throttled_with_the_final_counters(
    serve: Serve, keys: Keys, twilio: respx.Router
) -> None:
    async with serve(public_url=PUBLIC_URL) as live:
        card, campaign = await campaign_of(live.api, keys, twilio)
        route = twilio_takes_every_send(twilio)
        await add(live.api, keys.marketer, campaign["id"], TOS)
        async with live.socket(keys.sales) as ws:
            operation = await ws.subscribe(CHANGED, {"id": campaign["id"]})
            await live.listening(keys.sales, campaigns_channel)
            await mutate(live.api, keys.marketer, START, id=campaign["id"])
            events: list[dict[str, Any]] = []
            while not events or events[-1]["status"] != "COMPLETED":
                data = await asyncio.wait_for(ws.next_data(operation), 5)
                events.append(data["smsCampaignChanged"])
            # Delivery reports after COMPLETED: a burst, then one event with the final counters.
            for call in range(3):
                sid = route.calls[call].response.json()["sid"]
                report = {"MessageSid": sid, "MessageStatus": "delivered"}
                report["AccountSid"] = ACCOUNT_SID
                path = f"/webhooks/twilio/{card['id']}/status?mid={message_id_of(route, call)}"
                assert (await signed_post(live.api, path, report)).status_code == 204
            after: list[dict[str, Any]] = []
            while not after or after[-1]["progress"]["delivered"] < 3:
                data = await asyncio.wait_for(ws.next_data(operation), 5)
                after.append(data["smsCampaignChanged"])

    statuses = [event["status"] for event in events]
    assert statuses[0] == "SENDING"
    assert statuses[-1] == "COMPLETED"
    final = events[-1]["progress"]
    assert (final["sent"], final["pending"]) == (6, 0)
    assert len(events) <= 4  # two status changes, at most a couple of progress events between
    assert len(after) <= 2  # the first report at once, the rest on the trailing edge
    assert after[-1]["progress"]["delivered"] == 3


async def test_following_another_workspaces_campaign_answers_not_found(
    serve: Serve, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    async with serve() as live:
        _, campaign = await campaign_of(live.api, keys, twilio)
        async with live.socket(other_keys.admin) as ws:
            operation = await ws.subscribe(CHANGED, {"id": campaign["id"]})
            payload = await asyncio.wait_for(ws.next_payload(operation), 5)

    assert [error["extensions"]["code"] for error in payload["errors"]] == ["NOT_FOUND"]
