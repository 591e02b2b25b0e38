"""Provider throttling in our words: Twilio's 429 / 20429 (never processed, safe to send again)
and its full sender queue (21611) come back as the port's rate errors, and a send that met them
fails nothing but that message; the full queue slows the sender down. Twilio is answered by
respx at HTTP (adapter) and by the fake behind the port (use case)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from domain.vocabulary import AccountStatus, ErrorCode, MessageStatus
from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy
from providers.sms.errors import ProviderRateLimited, ProviderRefused, SenderQueueFull
from providers.sms.port import Credentials, OutgoingSms
from providers.sms.twilio.adapter import TwilioSms
from providers.sms.twilio.client import RetryPolicy, TwilioClient
from resolvers import messages
from tests.twilio_fixtures import ACCOUNT_SID, assert_request_matches_spec, error
from tests.unit.world import World

TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
PHONE = "+14155550123"
TO = "+14155550100"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CREDENTIALS = Credentials(ACCOUNT_SID, TOKEN, "https://api.twilio.com/")
SENT = {"sid": "SM" + "a" * 32, "status": "queued", "num_segments": "1"}


@pytest.fixture
def twilio() -> respx.Router:
    return respx.Router(assert_all_mocked=True, assert_all_called=False)


@pytest.fixture
async def port(twilio: respx.Router) -> AsyncIterator[TwilioSms]:
    def checked(request: httpx.Request) -> httpx.Response | None:
        assert_request_matches_spec(request)
        return None

    twilio.route(name="spec").mock(side_effect=checked)
    async with httpx.AsyncClient(transport=httpx.MockTransport(twilio.async_handler)) as http:
        policy = HostPolicy.parse(DEFAULT_ALLOWED_HOSTS)
        yield TwilioSms(TwilioClient(http, RetryPolicy(base_seconds=0.001), policy=policy))


def rate_limited(retry_after: str = "3") -> httpx.Response:
    return httpx.Response(429, json=error(20429, 429), headers={"Retry-After": retry_after})


def campaign_send() -> OutgoingSms:
    return OutgoingSms(PHONE, TO, "Hi", None, wait_out_rate_limits=False)


async def test_a_campaign_send_refused_for_the_rate_comes_back_at_once_with_retry_after(
    port: TwilioSms, twilio: respx.Router
) -> None:
    route = twilio.post(MESSAGES_URL).mock(side_effect=[rate_limited("3")])

    with pytest.raises(ProviderRateLimited) as limited:
        await port.send(CREDENTIALS, campaign_send())

    assert (limited.value.retry_after, limited.value.code) == (3.0, 20429)
    assert route.call_count == 1  # the engine backs off; nothing is sent again here


async def test_a_one_off_send_waits_out_a_429_and_is_sent_once(
    port: TwilioSms, twilio: respx.Router
) -> None:
    route = twilio.post(MESSAGES_URL).mock(
        side_effect=[rate_limited("0"), httpx.Response(201, json=SENT)]
    )

    sent = await port.send(CREDENTIALS, OutgoingSms(PHONE, TO, "Hi", None))

    assert sent.provider_message_id == SENT["sid"]
    assert route.call_count == 2


async def test_a_one_off_send_still_refused_after_its_retries_is_rate_limited_not_lost(
    port: TwilioSms, twilio: respx.Router
) -> None:
    route = twilio.post(MESSAGES_URL).mock(side_effect=[rate_limited("0") for _ in range(4)])

    with pytest.raises(ProviderRateLimited):
        await port.send(CREDENTIALS, OutgoingSms(PHONE, TO, "Hi", None))

    assert route.call_count == 4


async def test_a_full_sender_queue_is_its_own_error_and_is_not_sent_again(
    port: TwilioSms, twilio: respx.Router
) -> None:
    route = twilio.post(MESSAGES_URL).respond(400, json=error(21611, 400, "Queue overflow"))

    with pytest.raises(SenderQueueFull) as full:
        await port.send(CREDENTIALS, OutgoingSms(PHONE, TO, "Hi", None))

    assert full.value.code == 21611
    assert route.call_count == 1
    assert "queue for this sender is full" in port.describe_error(21611)


async def test_any_other_refusal_fails_that_message_alone(
    port: TwilioSms, twilio: respx.Router
) -> None:
    twilio.post(MESSAGES_URL).respond(400, json=error(21211, 400))

    with pytest.raises(ProviderRefused) as refused:
        await port.send(CREDENTIALS, campaign_send())

    assert refused.value.reason is ErrorCode.PROVIDER_REJECTED
    assert not isinstance(refused.value, ProviderRateLimited)


async def test_a_full_queue_on_send_sms_fails_the_message_and_slows_the_sender_down(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.send_error = SenderQueueFull(code=21611)

    result = await messages.send_sms(
        world.services, world.caller, account.id, TO, "Hi", world.template
    )

    assert [error.code for error in result.errors] == [ErrorCode.TOO_MANY]
    assert result.message is not None
    assert (result.message.status, result.message.error_code) == (MessageStatus.FAILED, 21611)
    assert result.message.error_message == world.sms.describe_error(21611)
    assert (await world.row(account.id)).status is AccountStatus.VERIFIED
    pacer = world.services.pacer
    world.clock.advance(seconds=1)  # the slot the send took is over
    assert await pacer.claim(account.id, 1.0, 1) == 0.0
    assert await pacer.claim(account.id, 1.0, 1) == pytest.approx(2.0)  # half the pace now


async def test_a_429_that_outlasted_send_sms_says_so_and_leaves_the_sender_at_its_pace(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.send_error = ProviderRateLimited(None)

    result = await messages.send_sms(
        world.services, world.caller, account.id, TO, "Hi", world.template
    )

    assert [error.code for error in result.errors] == [ErrorCode.TOO_MANY]
    assert result.message is not None
    assert result.message.error_message == messages.rate_limited(world.sms.label)
    world.clock.advance(seconds=1)
    assert await world.services.pacer.claim(account.id, 1.0, 1) == 0.0
    assert await world.services.pacer.claim(account.id, 1.0, 1) == pytest.approx(1.0)
