"""One workspace cannot make another's delivery reports fail: a callback it signs with a value
Twilio never sends is refused alone (400), and a report whose write fails is rolled back alone
(its savepoint) while the rest of its batch commits."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from domain.vocabulary import SmsProvider
from providers.sms.twilio.adapter import TwilioSms
from resolvers.status_batches import StatusBatcher, StatusReport
from resolvers.webhooks import SigningAccount, signing_account
from tests.conftest import ACCOUNT_SID, Api, Keys
from tests.integration.messaging import (
    MESSAGES,
    PUBLIC_URL,
    sent,
    signed_post,
    twilio_accepts_sends,
    verified_account,
)

VICTIM_REPORTS = 50
TO = "+14155550100"
_sids = (f"SM{n:032x}" for n in itertools.count(1))


def report(message: dict[str, Any], status: str, **extra: str) -> dict[str, str]:
    sid = extra.pop("sid", message["providerMessageId"])
    return {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, **extra}


def post(api: Api, account_id: str, message: dict[str, Any], params: dict[str, str]) -> Any:
    return signed_post(api, f"/webhooks/twilio/{account_id}/status?mid={message['id']}", params)


async def stored(api: Api, key: str) -> dict[str, dict[str, Any]]:
    page = (await api.data(key, MESSAGES, {"first": 100}))["smsMessages"]
    return {edge["node"]["id"]: edge["node"] for edge in page["edges"]}


def interleaved(victims: list[Any], poisoned: list[Any]) -> Iterator[Any]:
    """The poisoned callbacks spread among the victim's, so that batches mix them."""
    every = max(1, len(victims) // (len(poisoned) + 1))
    poison = iter(poisoned)
    for number, victim in enumerate(victims, start=1):
        yield victim
        if number % every == 0:
            yield from itertools.islice(poison, 1)
    yield from poison


async def victims_and_poison(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> tuple[str, list[dict[str, Any]], str]:
    """The victim's (globex) account and VICTIM_REPORTS messages sent through it, and the
    attacker's (acme) account: an admin of acme signs callbacks with its own Auth Token."""
    # A sender paced for bulk: the pace is not what these tests are about.
    victim = await verified_account(api, other_keys, twilio, sendRatePerSecond=500)
    attacker = await verified_account(api, keys, twilio)
    twilio_accepts_sends(twilio)
    messages = await sent(api, other_keys.marketer, victim["id"], VICTIM_REPORTS)
    return victim["id"], messages, attacker["id"]


async def deliver_beside(
    api: Api, victim_id: str, messages: list[dict[str, Any]], poisoned: list[Any]
) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Every victim's message reported delivered, all at once with the poisoned callbacks:
    (answers to the victim, answers to the poison)."""
    victims = [post(api, victim_id, m, report(m, "delivered")) for m in messages]
    answers = await asyncio.gather(*interleaved(victims, poisoned))
    victim_path = f"/webhooks/twilio/{victim_id}/"
    mine = [a.request.url.path.startswith(victim_path) for a in answers]
    return (
        [a for a, ours in zip(answers, mine, strict=True) if ours],
        [a for a, ours in zip(answers, mine, strict=True) if not ours],
    )


async def test_a_number_no_column_holds_is_refused_alone_and_other_workspaces_reports_are_stored(
    make_api: Callable[..., Any], keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL, status_batch_linger_seconds=0.05) as api:
        victim_id, messages, attacker_id = await victims_and_poison(api, keys, other_keys, twilio)
        [target] = await sent(api, keys.marketer, attacker_id, 1)
        poison = report(target, "undelivered", ErrorCode="9" * 30)

        victims, refused = await deliver_beside(
            api, victim_id, messages, [post(api, attacker_id, target, poison) for _ in range(5)]
        )

        assert [answer.status_code for answer in victims] == [204] * VICTIM_REPORTS
        assert {answer.status_code for answer in refused} == {400}
        assert "ErrorCode must be a whole number" in refused[0].text
        assert {m["status"] for m in (await stored(api, other_keys.sales)).values()} == {
            "DELIVERED"
        }
        assert (await stored(api, keys.sales))[target["id"]]["status"] == "QUEUED"


async def test_a_report_whose_write_fails_fails_alone_and_the_rest_of_its_batch_commits(
    make_api: Callable[..., Any], keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    """Past every input check, a write can still fail: here the attacker settles its own
    unconfirmed send with the SID of another of its messages, which the unique index on Twilio
    SIDs refuses."""
    async with make_api(public_url=PUBLIC_URL, status_batch_linger_seconds=0.05) as api:
        victim_id, messages, attacker_id = await victims_and_poison(api, keys, other_keys, twilio)
        twilio_accepts_sends(twilio, 1)
        confirmed, unconfirmed = await sent(api, keys.marketer, attacker_id, 2)
        assert unconfirmed["status"] == "UNCONFIRMED"
        poison = report(unconfirmed, "sent", sid=confirmed["providerMessageId"])

        victims, failed = await deliver_beside(
            api,
            victim_id,
            messages,
            [post(api, attacker_id, unconfirmed, poison) for _ in range(5)],
        )

        assert [answer.status_code for answer in victims] == [204] * VICTIM_REPORTS
        assert {answer.status_code for answer in failed} == {503}
        assert {m["status"] for m in (await stored(api, other_keys.sales)).values()} == {
            "DELIVERED"
        }
        attackers = await stored(api, keys.sales)
        assert (attackers[confirmed["id"]]["status"], attackers[unconfirmed["id"]]["status"]) == (
            "QUEUED",
            "UNCONFIRMED",
        )


async def test_in_one_batch_only_the_report_whose_write_fails_gets_the_error(
    make_api: Callable[..., Any], keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    """The same, with the batch made certain: every report is queued before the batcher runs
    (queueing does not yield while the queue has room), so one batch takes them all."""
    async with make_api(public_url=PUBLIC_URL) as api:
        victim_id, messages, attacker_id = await victims_and_poison(api, keys, other_keys, twilio)
        twilio_accepts_sends(twilio, 1)
        confirmed, unconfirmed = await sent(api, keys.marketer, attacker_id, 2)
        published: list[str] = []

        async def publish(workspace_id: str, _: Any) -> None:
            published.append(workspace_id)

        batcher = StatusBatcher(
            api.runtime.services.writes,
            publish,
            unshown,
            max_batch=VICTIM_REPORTS + 1,
            linger_seconds=0,
        )
        victim = await signed_by(api, victim_id)
        reports = [_report(victim, victim_id, m, report(m, "delivered")) for m in messages[:25]]
        reports.append(
            _report(
                await signed_by(api, attacker_id),
                attacker_id,
                unconfirmed,
                report(unconfirmed, "sent", sid=confirmed["providerMessageId"]),
            )
        )
        reports += [_report(victim, victim_id, m, report(m, "delivered")) for m in messages[25:]]
        batcher.start()
        try:
            outcomes = await asyncio.gather(
                *(batcher.record(each) for each in reports), return_exceptions=True
            )
        finally:
            await batcher.stop()

    failed = outcomes.pop(25)
    assert isinstance(failed, Exception)
    assert outcomes == [True] * VICTIM_REPORTS
    assert published.count(victim.workspace_id) == VICTIM_REPORTS


def unshown(row: Any, _: SmsProvider) -> Any:
    """The batcher's view of a message, unused here: only whose workspace heard is counted."""
    return row


async def signed_by(api: Any, account_id: str) -> SigningAccount:
    signer = await signing_account(api.runtime.services, account_id)
    assert signer is not None
    return signer


def _report(
    signer: SigningAccount, account_id: str, message: dict[str, Any], params: dict[str, str]
) -> StatusReport:
    """The report a signed status callback with ``params`` makes (read by the Twilio adapter)."""
    read = TwilioSms.delivery_report(TwilioSms.__new__(TwilioSms), params)
    assert read is not None
    return StatusReport(
        workspace_id=signer.workspace_id,
        account_id=account_id,
        provider=SmsProvider.TWILIO,
        provider_message_id=read.provider_message_id,
        message_id=message["id"],
        status=read.status,
        error_code=read.error_code,
        signer_version=signer.version,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ErrorCode", "9" * 30),
        ("ErrorCode", "2147483648"),
        ("ErrorCode", "-1"),
        ("ErrorCode", "+30003"),
        ("ErrorCode", " 30003"),
        ("ErrorCode", "30003 "),
        ("ErrorCode", "3e4"),
        ("ErrorCode", "３０００３"),  # fullwidth digits: str.isdigit() and int() both take them
        ("ErrorCode", "٣٠٠٠٣"),  # Arabic-Indic digits
        ("ErrorCode", "²"),  # a superscript: str.isdigit() takes it, int() does not
        ("ErrorCode", "0x10"),
        ("ErrorCode", "1_000"),
    ],
)
async def test_a_status_callback_with_a_number_twilio_never_sends_is_refused_with_400(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router, name: str, value: str
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        account = await verified_account(api, keys, twilio)
        twilio_accepts_sends(twilio)
        [message] = await sent(api, keys.marketer, account["id"], 1)

        answer = await post(api, account["id"], message, report(message, "failed", **{name: value}))

        assert answer.status_code == 400
        [error] = answer.json()["errors"]
        assert (
            error["message"] == f"Bad request: {name} must be a whole number from 0 to 2147483647"
        )
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert (await stored(api, keys.sales))[message["id"]]["status"] == "QUEUED"


async def test_the_largest_number_a_column_holds_is_stored(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        account = await verified_account(api, keys, twilio)
        twilio_accepts_sends(twilio)
        [message] = await sent(api, keys.marketer, account["id"], 1)

        answer = await post(
            api, account["id"], message, report(message, "failed", ErrorCode="2147483647")
        )

        assert answer.status_code == 204
        found = (await stored(api, keys.sales))[message["id"]]
        assert (found["status"], found["errorCode"]) == ("FAILED", 2147483647)


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("From", "+1" + "2" * 63, "From must be plain text of at most 64 characters"),
        ("To", "+1" + "2" * 63, "To must be plain text of at most 64 characters"),
        ("MessageSid", "SM" + "c" * 63, "MessageSid must be plain text of at most 64 characters"),
        ("MessageSid", "SM\x00" + "c" * 31, "MessageSid must be plain text of at most 64"),
        ("Body", "hello\x00", "Body must be plain text"),  # PostgreSQL refuses NUL in text
        *(
            ("NumSegments", segments, "NumSegments must be a whole number from 0 to 2147483647")
            for segments in ("9" * 30, "¹", "1.5", "-2")
        ),
    ],
)
async def test_an_inbound_message_with_a_value_no_column_holds_is_refused_with_400(
    make_api: Callable[..., Any],
    keys: Keys,
    twilio: respx.Router,
    field: str,
    value: str,
    refusal: str,
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        account = await verified_account(api, keys, twilio)
        reply = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": next(_sids),
            "From": TO,
            "To": account["senderId"],
            "Body": "hello\nsecond line",
            field: value,
        }

        answer = await signed_post(api, f"/webhooks/twilio/{account['id']}/inbound", reply)

        assert answer.status_code == 400
        assert refusal in answer.text
        assert await stored(api, keys.sales) == {}


@pytest.mark.parametrize(
    ("sid", "mid", "refusal"),
    [
        ("SM" + "d" * 63, None, "MessageSid must be plain text of at most 64 characters"),
        ("SM\x00" + "d" * 31, None, "MessageSid must be plain text"),
        (None, "not-an-id%00", "mid must be the id of a message this server sent"),
    ],
)
async def test_a_status_callback_with_text_no_column_holds_is_refused_with_400(
    make_api: Callable[..., Any],
    keys: Keys,
    twilio: respx.Router,
    sid: str | None,
    mid: str | None,
    refusal: str,
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        account = await verified_account(api, keys, twilio)
        twilio_accepts_sends(twilio, 0)
        [message] = await sent(api, keys.marketer, account["id"], 1)  # unconfirmed: found by mid
        params = report(message, "sent", sid=sid or f"SM{'e' * 32}")

        answer = await post(api, account["id"], {"id": mid or message["id"]}, params)

        assert answer.status_code == 400
        assert refusal in answer.text
        assert (await stored(api, keys.sales))[message["id"]]["status"] == "UNCONFIRMED"
