"""The MSG91 adapter reads MSG91's answers into the port's words: verdict reasons, the v2 send
and its request id, and the delivery reports its webhook posts in each version. MSG91 is the
fake of ``tests/msg91_double.py``, answered at HTTP by respx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
import respx

from domain.vocabulary import (
    ErrorCode,
    FailureReason,
    MessageStatus,
    SmsProvider,
    SmsRoute,
    VerificationFailure,
)
from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy
from providers.sms.adapters import host_policies
from providers.sms.errors import (
    BaseUrlRefused,
    MalformedWebhook,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUnreachable,
)
from providers.sms.msg91.adapter import Msg91Sms
from providers.sms.msg91.client import Msg91Client, ReadRetry
from providers.sms.port import AccountFacts, Credentials, OutgoingSms
from tests.msg91_double import (
    API_KEY,
    BALANCE_URL,
    ENTITY_ID,
    HEADER,
    REPORT_FORMATS,
    SEND_URL,
    TEMPLATE_ID,
    FakeMsg91,
)

CREDENTIALS = Credentials(HEADER, API_KEY, "https://api.msg91.com/")
MESSAGE = OutgoingSms(
    HEADER,
    "+919876543210",
    "Your OTP is 4821",
    None,
    dlt_entity_id=ENTITY_ID,
    dlt_template_id=TEMPLATE_ID,
    route=SmsRoute.TRANSACTIONAL,
)


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_mocked=True, assert_all_called=False)


@pytest.fixture
def msg91(router: respx.Router) -> FakeMsg91:
    return FakeMsg91().install(router)


@pytest.fixture
async def port(router: respx.Router) -> AsyncIterator[Msg91Sms]:
    transport = httpx.MockTransport(router.async_handler)
    policy = host_policies(HostPolicy.parse(DEFAULT_ALLOWED_HOSTS))[SmsProvider.MSG91]
    async with httpx.AsyncClient(transport=transport) as http:
        client = Msg91Client(http, ReadRetry(base_seconds=0.001), policy=policy)
        yield Msg91Sms(client)


async def test_a_key_msg91_answers_with_a_balance_is_an_account(
    port: Msg91Sms, msg91: FakeMsg91
) -> None:
    assert await port.check_account(CREDENTIALS) == AccountFacts(suspended=False, trial=None)
    assert msg91.balance_calls == 1


async def test_an_unknown_key_is_invalid_credentials(port: Msg91Sms, msg91: FakeMsg91) -> None:
    msg91.keys = {"another"}

    with pytest.raises(ProviderRefused) as refused:
        await port.check_account(CREDENTIALS)

    assert refused.value.reason is VerificationFailure.INVALID_CREDENTIALS
    assert refused.value.code == 207


@pytest.mark.parametrize("how", ["status", "body"])
async def test_the_ip_whitelist_refusal_is_its_own_reason_as_status_or_as_code(
    port: Msg91Sms, msg91: FakeMsg91, how: str
) -> None:
    msg91.whitelist_refusal = how

    with pytest.raises(ProviderRefused) as refused:
        await port.check_account(CREDENTIALS)

    assert refused.value.reason is FailureReason.ADDRESS_NOT_ALLOWED
    assert FailureReason.ADDRESS_NOT_ALLOWED.failure is VerificationFailure.PROVIDER_UNAVAILABLE
    assert "whitelist" in refused.value.description


async def test_an_expired_or_banned_account_is_suspended(
    port: Msg91Sms, router: respx.Router
) -> None:
    router.get(BALANCE_URL).mock(
        return_value=httpx.Response(200, json={"type": "error", "code": "303", "message": "x"})
    )

    assert (await port.check_account(CREDENTIALS)).suspended


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no answer")],
    ids=["refused", "connect-timeout"],
)
async def test_a_connection_that_cannot_be_made_is_provider_unavailable_never_base_url(
    port: Msg91Sms, router: respx.Router, failure: Exception
) -> None:
    router.get(BALANCE_URL).mock(side_effect=failure)

    with pytest.raises(ProviderUnreachable) as raised:
        await port.check_account(CREDENTIALS)

    assert raised.value.reason is FailureReason.PROVIDER_UNREACHABLE
    assert raised.value.reason.failure is VerificationFailure.PROVIDER_UNAVAILABLE


async def test_a_busy_msg91_is_asked_again_then_unavailable(
    port: Msg91Sms, router: respx.Router
) -> None:
    route = router.get(BALANCE_URL).mock(return_value=httpx.Response(503))

    with pytest.raises(ProviderUnavailable) as raised:
        await port.check_account(CREDENTIALS)

    assert raised.value.reason is VerificationFailure.PROVIDER_UNAVAILABLE
    assert route.call_count == 3


async def test_a_base_url_outside_msg91s_hosts_is_refused_before_any_call(
    port: Msg91Sms, msg91: FakeMsg91
) -> None:
    twilio_host = Credentials(HEADER, API_KEY, "https://api.twilio.com/")

    with pytest.raises(BaseUrlRefused):
        await port.check_account(twilio_host)

    assert msg91.balance_calls == 0


@pytest.mark.parametrize("sender", ["ACME", "ACME12", "+14155550123", "ACMEINX"])
async def test_a_sender_that_is_not_a_6_letter_header_is_an_invalid_from_number(
    port: Msg91Sms, sender: str
) -> None:
    with pytest.raises(ProviderRefused) as refused:
        await port.check_sender(CREDENTIALS, sender)

    assert refused.value.reason is VerificationFailure.INVALID_FROM_NUMBER


async def test_a_send_carries_our_body_the_dlt_ids_and_the_route_and_answers_the_request_id(
    port: Msg91Sms, msg91: FakeMsg91
) -> None:
    sent = await port.send(CREDENTIALS, MESSAGE)

    assert (sent.provider_message_id, sent.status) == (
        FakeMsg91.request_id(1),
        MessageStatus.ACCEPTED,
    )
    assert msg91.sends == [
        {
            "sender": HEADER,
            "route": "4",
            "country": "91",
            "sms": [{"message": "Your OTP is 4821", "to": ["9876543210"]}],
            "DLT_TE_ID": TEMPLATE_ID,
            "PE_ID": ENTITY_ID,
        }
    ]


async def test_a_promotional_international_unicode_send_says_so(
    port: Msg91Sms, msg91: FakeMsg91
) -> None:
    message = OutgoingSms(
        HEADER, "+14155550100", "Offre spéciale", None, route=SmsRoute.PROMOTIONAL
    )

    await port.send(CREDENTIALS, message)

    [payload] = msg91.sends
    assert (payload["route"], payload["country"], payload["unicode"]) == ("1", "0", 1)
    assert payload["sms"][0]["to"] == ["14155550100"]


async def test_a_send_whose_answer_never_came_is_outcome_unknown_and_not_repeated(
    port: Msg91Sms, router: respx.Router
) -> None:
    route = router.post(SEND_URL).mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(OutcomeUnknown):
        await port.send(CREDENTIALS, MESSAGE)

    assert route.call_count == 1


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (207, VerificationFailure.INVALID_CREDENTIALS),
        (203, VerificationFailure.INVALID_FROM_NUMBER),
        (301, ErrorCode.PROVIDER_REJECTED),
        (418, FailureReason.ADDRESS_NOT_ALLOWED),
    ],
)
async def test_a_refused_send_means_what_its_code_says(
    port: Msg91Sms, router: respx.Router, code: int, reason: object
) -> None:
    router.post(SEND_URL).mock(
        return_value=httpx.Response(200, json={"type": "error", "code": str(code), "message": "x"})
    )

    with pytest.raises(ProviderRefused) as refused:
        await port.send(CREDENTIALS, MESSAGE)

    assert refused.value.reason is reason
    assert refused.value.code == code
    assert "MSG91" in refused.value.description or "Sender ID" in refused.value.description


@pytest.mark.parametrize("version", sorted(REPORT_FORMATS))
@pytest.mark.parametrize(
    ("number", "status"),
    [
        (1, MessageStatus.DELIVERED),
        (2, MessageStatus.UNDELIVERED),
        (9, MessageStatus.FAILED),
        (16, MessageStatus.FAILED),
        (17, MessageStatus.FAILED),
        (25, MessageStatus.FAILED),
    ],
)
def test_each_report_version_reads_into_our_status(
    port: Msg91Sms, version: str, number: int, status: MessageStatus
) -> None:
    media_type, body = REPORT_FORMATS[version]("req-1", number)

    [report] = port.account_reports(body, media_type)

    assert (report.provider_message_id, report.status) == ("req-1", status)
    if status is not MessageStatus.DELIVERED:
        assert report.error_code is not None
        assert port.describe_error(report.error_code) != f"MSG91 error {report.error_code}."


def test_a_report_without_a_request_or_a_known_status_is_skipped(port: Msg91Sms) -> None:
    body = json.dumps([{"status": "1"}, {"requestId": "r", "status": "3"}]).encode()

    assert port.account_reports(body, "application/json") == []


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        ("application/json", b"{not json"),
        ("application/x-www-form-urlencoded", b"other=1"),
        ("application/json", json.dumps({"requestId": "r" * 65, "status": "1"}).encode()),
        ("application/json", json.dumps({"requestId": "a\x00b", "status": "1"}).encode()),
        ("application/json", b"[1, 2]"),
    ],
    ids=["not-json", "no-data", "long-id", "control-character", "not-objects"],
)
def test_a_post_msg91_never_makes_is_refused(port: Msg91Sms, media_type: str, body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        port.account_reports(body, media_type)


def test_msg91_signs_nothing_and_takes_no_replies(port: Msg91Sms) -> None:
    assert not port.signature_valid("https://x", [], {}, ["secret"])
    assert port.inbound_message({"anything": "1"}) is None
    assert port.reports_per_account
    assert port.takes_dlt_template_id


def test_one_v2_post_may_carry_several_requests_each_its_own_report(port: Msg91Sms) -> None:
    requests = [
        {"requestId": "req-1", "report": [{"status": "1", "number": "919876543210"}]},
        {"requestId": "req-2", "report": [{"status": "17", "number": "919876543211"}]},
    ]
    body = urlencode({"data": json.dumps(requests)}).encode()

    reports = port.account_reports(body, "application/x-www-form-urlencoded")

    assert [(r.provider_message_id, r.status, r.error_code) for r in reports] == [
        ("req-1", MessageStatus.DELIVERED, None),
        ("req-2", MessageStatus.FAILED, 17),
    ]
