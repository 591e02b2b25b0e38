"""Twilio's signed webhooks: delivery reports and replies, and smsMessages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import AUTH_TOKEN, PHONE, Api, Keys
from tests.integration.documents import UPDATE
from tests.integration.messaging import (
    MESSAGES,
    PUBLIC_URL,
    SID,
    TO,
    created_message,
    inbound_params,
    messages,
    send,
    signed_post,
    status_params,
    twilio_sends,
    verified_account,
)
from tests.integration.steps import added, enable


@pytest.fixture
async def api(make_api: Any) -> AsyncIterator[Api]:
    async with make_api(public_url=PUBLIC_URL) as built:
        yield built


async def sent_message(
    api: Api, keys: Keys, twilio: respx.Router, *replies: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    card = await verified_account(api, keys, twilio)
    sids = iter([SID, *(f"SM{n:032x}" for n in range(1, 100))])

    def created() -> httpx.Response:
        return httpx.Response(201, json=created_message(next(sids)))

    twilio_sends(twilio, *(replies or (created,)))
    result = await send(api, keys.admin, card["id"], TO, "Your code is 1234")
    return card, result["message"]


async def status_of(api: Api, keys: Keys, message_id: str) -> dict[str, Any]:
    for edge in (await messages(api, keys.sales))["edges"]:
        if edge["node"]["id"] == message_id:
            node: dict[str, Any] = edge["node"]
            return node
    raise AssertionError("message not listed")


async def report(
    api: Api, card: dict[str, Any], message: dict[str, Any], status: str, **extra: str
) -> httpx.Response:
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    response: httpx.Response = await signed_post(api, path, status_params(status, **extra))
    return response


async def test_a_signed_delivery_report_updates_the_message(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)

    response = await report(api, card, message, "delivered")

    assert response.status_code == 204
    assert (await status_of(api, keys, message["id"]))["status"] == "DELIVERED"


async def test_the_status_only_moves_forward_and_replays_change_nothing(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)

    for status in ("sent", "delivered", "sent", "queued", "sending", "delivered", "failed"):
        assert (await report(api, card, message, status)).status_code == 204

    assert (await status_of(api, keys, message["id"]))["status"] == "DELIVERED"


async def test_an_undelivered_report_records_twilios_error_code(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)
    await report(api, card, message, "undelivered", ErrorCode="30003")
    found = await status_of(api, keys, message["id"])
    assert (found["status"], found["errorCode"]) == ("UNDELIVERED", 30003)


async def test_an_unconfirmed_send_is_settled_by_its_report(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio, httpx.ReadTimeout("lost"))
    assert message["status"] == "UNCONFIRMED"

    await report(api, card, message, "sent")

    settled = await status_of(api, keys, message["id"])
    assert settled["status"] == "SENT"
    assert settled["providerMessageId"] == SID


@pytest.mark.parametrize(
    "forge",
    ["missing", "garbage", "other token", "tampered status", "other URL", "host header"],
)
async def test_a_forged_or_tampered_report_is_refused_and_changes_nothing(
    api: Api, keys: Keys, twilio: respx.Router, forge: str
) -> None:
    card, message = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    params = status_params("failed")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    from urllib.parse import urlencode

    from providers.sms.twilio.signature import compute_signature

    good = compute_signature(PUBLIC_URL + path, list(params.items()), AUTH_TOKEN)
    if forge == "garbage":
        headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
    elif forge == "other token":
        headers["X-Twilio-Signature"] = compute_signature(
            PUBLIC_URL + path, list(params.items()), "f" * 32
        )
    elif forge == "tampered status":
        headers["X-Twilio-Signature"] = good
        params = status_params("delivered")
    elif forge == "other URL":
        headers["X-Twilio-Signature"] = compute_signature(
            "https://evil.example.com" + path, list(params.items()), AUTH_TOKEN
        )
    elif forge == "host header":
        # Signed for the Host the request claims: the server must not rebuild the URL from it.
        headers["Host"] = "evil.example.com"
        headers["X-Forwarded-Host"] = "evil.example.com"
        headers["X-Twilio-Signature"] = compute_signature(
            "http://evil.example.com" + path, list(params.items()), AUTH_TOKEN
        )

    response = await api.http.post(path, content=urlencode(params), headers=headers)

    assert response.status_code == 403
    assert (await status_of(api, keys, message["id"]))["status"] == "QUEUED"


async def test_a_report_signed_for_another_account_is_refused(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)

    await enable(api, other_keys.admin)
    other = await added(api, other_keys.admin, authToken="0" * 32)
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"

    signed_by_other = await signed_post(api, path, status_params("failed"), token="0" * 32)
    to_other_account = await signed_post(
        api,
        f"/webhooks/twilio/{other['id']}/status?mid={message['id']}",
        status_params("failed"),
        token="0" * 32,
    )

    assert signed_by_other.status_code == 403
    assert to_other_account.status_code == 204  # authentic, but not that account's message
    assert (await status_of(api, keys, message["id"]))["status"] == "QUEUED"


async def test_the_default_port_may_be_in_the_signed_url(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    response = await signed_post(
        api, path, status_params("delivered"), url="https://sms.example.com:443" + path
    )
    assert response.status_code == 204


async def test_after_a_token_rotation_the_old_token_still_signs_reports(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, message = await sent_message(api, keys, twilio)
    await api.data(keys.admin, UPDATE, {"id": card["id"], "input": {"authToken": "n" * 32}})

    old = await report(api, card, message, "sent")
    new = await signed_post(
        api,
        f"/webhooks/twilio/{card['id']}/status?mid={message['id']}",
        status_params("delivered"),
        token="n" * 32,
    )

    assert (old.status_code, new.status_code) == (204, 204)
    assert (await status_of(api, keys, message["id"]))["status"] == "DELIVERED"


async def test_the_old_token_stops_working_after_the_grace_period(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL, webhook_token_grace_seconds=0) as api:
        card, message = await sent_message(api, keys, twilio)
        await api.data(keys.admin, UPDATE, {"id": card["id"], "input": {"authToken": "n" * 32}})
        assert (await report(api, card, message, "sent")).status_code == 403


async def test_oversized_bodies_and_gets_are_refused(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, _ = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/inbound"
    huge = await api.http.post(
        path,
        content=b"Body=" + b"x" * (65 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert (await api.http.get(path)).status_code == 405


async def test_an_unknown_account_is_refused(api: Api) -> None:
    response = await signed_post(
        api, "/webhooks/twilio/00000000-0000-0000-0000-000000000000/inbound", inbound_params("hi")
    )
    assert response.status_code == 403


async def test_an_inbound_reply_is_stored_once_and_answered_with_empty_twiml(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, _ = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/inbound"

    first = await signed_post(api, path, inbound_params("Thanks!"))
    again = await signed_post(api, path, inbound_params("Thanks!"))

    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"].startswith("text/xml")
    assert first.text.endswith("<Response/>")
    inbound = await messages(api, keys.sales, direction="INBOUND")
    assert [edge["node"]["body"] for edge in inbound["edges"]] == ["Thanks!"]
    node = inbound["edges"][0]["node"]
    assert (node["from"], node["to"], node["status"]) == (TO, PHONE, "RECEIVED")


@pytest.mark.parametrize("stop", ["STOP", "stop", " Unsubscribe ", "QUIT", "end", "CANCEL"])
async def test_stop_opts_the_number_out_and_start_opts_it_back_in(
    api: Api, keys: Keys, twilio: respx.Router, stop: str
) -> None:
    card, _ = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/inbound"

    await signed_post(api, path, inbound_params(stop, sid="SM" + "1" * 32))
    blocked = await send(api, keys.admin, card["id"], TO, "hello?")
    await signed_post(api, path, inbound_params("START", sid="SM" + "2" * 32))
    allowed = await send(api, keys.admin, card["id"], TO, "welcome back")

    assert [e["code"] for e in blocked["errors"]] == ["RECIPIENT_OPTED_OUT"]
    assert allowed["errors"] == []


async def test_twilios_opt_out_type_counts_as_stop(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, _ = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/inbound"
    await signed_post(api, path, inbound_params("arrêtez", OptOutType="STOP"))
    blocked = await send(api, keys.admin, card["id"], TO, "hello?")
    assert [e["code"] for e in blocked["errors"]] == ["RECIPIENT_OPTED_OUT"]


async def test_messages_page_newest_first_with_cursors(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card, first_sent = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/inbound"
    for n in range(5):
        await signed_post(api, path, inbound_params(f"reply {n}", sid=f"SM{n:032d}"))

    page_one = await messages(api, keys.sales, first=4)
    page_two = await messages(api, keys.sales, first=4, after=page_one["pageInfo"]["endCursor"])

    bodies = [e["node"]["body"] for e in page_one["edges"] + page_two["edges"]]
    assert bodies == ["reply 4", "reply 3", "reply 2", "reply 1", "reply 0", "Your code is 1234"]
    assert page_one["pageInfo"]["hasNextPage"] is True
    assert page_two["pageInfo"]["hasNextPage"] is False
    outbound = await messages(api, keys.sales, direction="OUTBOUND", accountId=card["id"])
    assert [e["node"]["id"] for e in outbound["edges"]] == [first_sent["id"]]


async def test_first_over_100_and_a_bad_cursor_are_clear_errors(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    await sent_message(api, keys, twilio)
    big = await api.run(keys.sales, MESSAGES, {"first": 1000})
    assert big["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert len((await messages(api, keys.sales, first=100))["edges"]) == 1
    result = await api.run(keys.sales, MESSAGES, {"after": "not-a-cursor"})
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_messages_never_cross_workspaces(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    card, _ = await sent_message(api, keys, twilio)
    assert (await messages(api, other_keys.sales))["edges"] == []
    assert (await messages(api, other_keys.admin, accountId=card["id"]))["edges"] == []
    assert len((await messages(api, keys.marketer))["edges"]) == 1


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded-evil",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/x-www-form-urlencoded; boundary=x",
    ],
)
async def test_a_signed_webhook_that_is_not_a_utf8_form_post_is_refused_with_415(
    api: Api, keys: Keys, twilio: respx.Router, content_type: str | None
) -> None:
    from urllib.parse import urlencode

    from providers.sms.twilio.signature import compute_signature

    card, message = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    params = status_params("failed")
    headers = {
        "X-Twilio-Signature": compute_signature(PUBLIC_URL + path, list(params.items()), AUTH_TOKEN)
    }
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = await api.http.post(path, content=urlencode(params), headers=headers)

    assert response.status_code == 415
    assert (await status_of(api, keys, message["id"]))["status"] == "QUEUED"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        'Application/X-WWW-Form-Urlencoded;charset="utf-8"',
    ],
)
async def test_a_form_post_may_name_its_utf8_charset(
    api: Api, keys: Keys, twilio: respx.Router, content_type: str
) -> None:
    from urllib.parse import urlencode

    from providers.sms.twilio.signature import compute_signature

    card, message = await sent_message(api, keys, twilio)
    path = f"/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    params = status_params("delivered")
    headers = {
        "Content-Type": content_type,
        "X-Twilio-Signature": compute_signature(
            PUBLIC_URL + path, list(params.items()), AUTH_TOKEN
        ),
    }

    response = await api.http.post(path, content=urlencode(params), headers=headers)

    assert response.status_code == 204
    assert (await status_of(api, keys, message["id"]))["status"] == "DELIVERED"


async def test_the_old_token_signs_for_fifteen_minutes_by_default(
    make_api: Any, keys: Keys, twilio: respx.Router, database_url: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from storage.db import create_engine

    async with make_api(public_url=PUBLIC_URL) as api:
        card, message = await sent_message(api, keys, twilio)
        changed_at = datetime.now(UTC)
        await api.data(keys.admin, UPDATE, {"id": card["id"], "input": {"authToken": "n" * 32}})
        assert (await report(api, card, message, "sent")).status_code == 204
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        until = (
            await connection.execute(
                text("SELECT previous_auth_token_until FROM sms_accounts WHERE id = :id"),
                {"id": card["id"]},
            )
        ).scalar_one()
    await engine.dispose()
    if isinstance(until, str):  # SQLite keeps the text
        until = datetime.fromisoformat(until)
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    grace = until - changed_at
    assert timedelta(minutes=14) < grace <= timedelta(minutes=15, seconds=30)
