"""The Twilio adapter reads Twilio's answers into the port's words: verdict reasons, message
statuses, webhook forms, signatures, and a sender's inbound webhook (read and set). Twilio is
answered by respx at HTTP; every request must be one Twilio's OpenAPI description defines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from domain.vocabulary import ErrorCode, MessageStatus, VerificationFailure
from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy
from providers.sms.errors import ProviderRefused
from providers.sms.port import AccountFacts, Credentials, InboundWebhook, OptSignal, OutgoingSms
from providers.sms.twilio.adapter import NUMBERS_ROUTE_INBOUND, TwilioSms
from providers.sms.twilio.client import RetryPolicy, TwilioClient
from providers.sms.twilio.signature import compute_signature
from tests.twilio_fixtures import (
    ACCOUNT_SID,
    OTHER_SID,
    account,
    assert_request_matches_spec,
    error,
    incoming_numbers,
    messaging_service,
)

TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
PHONE = "+14155550123"
MG_SID = "MG" + "fedcba9876543210" * 2
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
SERVICE_URL = f"https://messaging.twilio.com/v1/Services/{MG_SID}"
CREDENTIALS = Credentials(ACCOUNT_SID, TOKEN, "https://api.twilio.com/")
OURS = "https://sms.example.com/webhooks/twilio/a1/inbound"
NOT_A_SERVICE = VerificationFailure.INVALID_MESSAGING_SERVICE


@pytest.fixture
def twilio() -> respx.Router:
    return respx.Router(assert_all_mocked=True, assert_all_called=False)


@pytest.fixture
async def port(twilio: respx.Router) -> AsyncIterator[TwilioSms]:
    def checked(request: httpx.Request) -> httpx.Response | None:
        assert_request_matches_spec(request)
        return None  # answered by the routes

    twilio.route(name="spec").mock(side_effect=checked)
    transport = httpx.MockTransport(twilio.async_handler)
    async with httpx.AsyncClient(transport=transport) as http:
        policy = HostPolicy.parse(DEFAULT_ALLOWED_HOSTS)
        yield TwilioSms(TwilioClient(http, RetryPolicy(base_seconds=0.001), policy=policy))


def numbers(*rows: tuple[str, bool], **extra: Any) -> dict[str, Any]:
    body = incoming_numbers(*rows)
    for number in body["incoming_phone_numbers"]:
        number.update(sid="PN" + "1" * 32, **extra)
    return body


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


async def test_the_account_check_reads_trial_and_suspension(
    port: TwilioSms, twilio: respx.Router
) -> None:
    twilio.get(f"{API}.json").respond(200, json=account(status="suspended", type="Trial"))

    assert await port.check_account(CREDENTIALS) == AccountFacts(suspended=True, trial=True)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json=error(20003, 401)),
        httpx.Response(404, json=error(20404, 404)),
        httpx.Response(200, json=account(OTHER_SID)),
    ],
)
async def test_credentials_that_are_not_this_account_are_invalid(
    port: TwilioSms, twilio: respx.Router, answer: httpx.Response
) -> None:
    twilio.get(f"{API}.json").mock(return_value=answer)

    with pytest.raises(ProviderRefused) as refused:
        await port.check_account(CREDENTIALS)

    assert refused.value.reason is VerificationFailure.INVALID_CREDENTIALS


async def test_a_number_that_only_partly_matches_is_not_the_sender(
    port: TwilioSms, twilio: respx.Router
) -> None:
    twilio.get(f"{API}/IncomingPhoneNumbers.json").respond(
        200, json=numbers((PHONE + "9", True), (PHONE, False))
    )

    with pytest.raises(ProviderRefused) as refused:
        await port.check_sender(CREDENTIALS, PHONE)

    assert refused.value.reason is VerificationFailure.INVALID_FROM_NUMBER
    assert refused.value.cause == "the sender is not on this account"


async def test_a_number_without_sms_is_told_apart_from_a_missing_one(
    port: TwilioSms, twilio: respx.Router
) -> None:
    route = twilio.get(f"{API}/IncomingPhoneNumbers.json")
    route.side_effect = [
        httpx.Response(200, json=numbers((PHONE, False))),
        httpx.Response(200, json=numbers()),
    ]

    with pytest.raises(ProviderRefused) as no_sms:
        await port.inbound_webhook(CREDENTIALS, PHONE)
    with pytest.raises(ProviderRefused) as missing:
        await port.inbound_webhook(CREDENTIALS, PHONE)

    assert no_sms.value.reason is missing.value.reason is VerificationFailure.INVALID_FROM_NUMBER
    assert "cannot send or receive SMS" in no_sms.value.description
    assert "not an SMS sender of this Twilio account" in missing.value.description


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            httpx.Response(404, json=error(20404, 404)),
            VerificationFailure.INVALID_MESSAGING_SERVICE,
        ),
        (httpx.Response(401, json=error(20003, 401)), VerificationFailure.INVALID_CREDENTIALS),
        (
            httpx.Response(200, json=messaging_service(MG_SID, OTHER_SID)),
            VerificationFailure.INVALID_MESSAGING_SERVICE,
        ),
    ],
)
async def test_a_messaging_service_is_checked_on_the_messaging_host(
    port: TwilioSms, twilio: respx.Router, answer: httpx.Response, reason: VerificationFailure
) -> None:
    twilio.get(SERVICE_URL).mock(return_value=answer)

    with pytest.raises(ProviderRefused) as refused:
        await port.check_sender(CREDENTIALS, MG_SID)

    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21610, ErrorCode.RECIPIENT_OPTED_OUT),
        (21606, VerificationFailure.INVALID_FROM_NUMBER),
        (20003, VerificationFailure.INVALID_CREDENTIALS),
        (21211, ErrorCode.PROVIDER_REJECTED),
    ],
)
async def test_a_refused_send_says_what_it_means_in_our_words(
    port: TwilioSms, twilio: respx.Router, code: int, reason: ErrorCode | VerificationFailure
) -> None:
    twilio.post(f"{API}/Messages.json").respond(400, json=error(code, 400, "Twilio's own words"))

    with pytest.raises(ProviderRefused) as refused:
        await port.send(CREDENTIALS, OutgoingSms(PHONE, "+14155550100", "Hi", None))

    assert (refused.value.reason, refused.value.code) == (reason, code)
    assert refused.value.description == port.describe_error(code)
    assert "Twilio's own words" not in refused.value.description


async def test_an_accepted_send_answers_our_status(port: TwilioSms, twilio: respx.Router) -> None:
    route = twilio.post(f"{API}/Messages.json").respond(
        201, json={"sid": "SM" + "a" * 32, "status": "sent", "num_segments": "2"}
    )

    sent = await port.send(CREDENTIALS, OutgoingSms(MG_SID, "+14155550100", "Hi", OURS))

    assert (sent.provider_message_id, sent.status, sent.segments) == (
        "SM" + "a" * 32,
        MessageStatus.SENT,
        2,
    )
    assert form_of(route.calls.last.request) == {
        "To": "+14155550100",
        "Body": "Hi",
        "MessagingServiceSid": MG_SID,
        "StatusCallback": OURS,
    }


def test_webhook_forms_are_read_into_reports_and_replies() -> None:
    port = TwilioSms.__new__(TwilioSms)
    report = port.delivery_report(
        {"SmsSid": "SM1", "SmsStatus": "undelivered", "ErrorCode": "30003"}
    )
    reply = port.inbound_message(
        {"MessageSid": "SM2", "From": " +1415 ", "Body": "STOP", "OptOutType": "STOP"}
    )

    assert report is not None
    assert (report.provider_message_id, report.status, report.error_code) == (
        "SM1",
        MessageStatus.UNDELIVERED,
        30003,
    )
    assert reply is not None
    assert (reply.from_number, reply.opt) == ("+1415", OptSignal.OPT_OUT)
    assert port.delivery_report({"MessageSid": "SM1", "MessageStatus": "teleported"}) is None
    assert port.inbound_message({"MessageSid": "SM2"}) is None


def test_a_signature_is_checked_on_twilios_header() -> None:
    port = TwilioSms.__new__(TwilioSms)
    form = [("MessageSid", "SM1")]
    signed = {"x-twilio-signature": compute_signature(OURS, form, TOKEN)}

    assert port.signature_valid(OURS, form, signed, [TOKEN])
    assert not port.signature_valid(OURS, form, signed, ["another token"])
    assert not port.signature_valid(OURS, form, {}, [TOKEN])


async def test_a_numbers_webhook_is_read_and_set_with_its_application_cleared(
    port: TwilioSms, twilio: respx.Router
) -> None:
    before = {"sms_url": "https://theirs.example/in", "sms_method": "GET"}
    before["sms_application_sid"] = "AP" + "2" * 32
    twilio.get(f"{API}/IncomingPhoneNumbers.json").respond(
        200, json=numbers((PHONE, True), **before)
    )
    updated = {"sms_url": OURS, "sms_method": "POST", "sms_application_sid": ""}
    update = twilio.post(f"{API}/IncomingPhoneNumbers/{'PN' + '1' * 32}.json").respond(
        200, json=numbers((PHONE, True), **updated)["incoming_phone_numbers"][0]
    )

    found = await port.inbound_webhook(CREDENTIALS, PHONE)
    wired = await port.set_inbound_webhook(CREDENTIALS, PHONE, InboundWebhook(OURS, "POST"))
    await port.set_inbound_webhook(CREDENTIALS, PHONE, found)

    assert found == InboundWebhook("https://theirs.example/in", "GET", "AP" + "2" * 32)
    assert wired == InboundWebhook(OURS, "POST", None)
    assert [form_of(call.request) for call in update.calls] == [
        {"SmsUrl": OURS, "SmsMethod": "POST", "SmsApplicationSid": ""},
        {
            "SmsUrl": "https://theirs.example/in",
            "SmsMethod": "GET",
            "SmsApplicationSid": "AP" + "2" * 32,
        },
    ]


async def test_a_messaging_services_webhook_takes_inbound_from_its_numbers(
    port: TwilioSms, twilio: respx.Router
) -> None:
    service = messaging_service(MG_SID)
    service.update(
        inbound_request_url=None, inbound_method="POST", use_inbound_webhook_on_number=True
    )
    twilio.get(SERVICE_URL).respond(200, json=service)
    update = twilio.post(SERVICE_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}, json=error(20429, 429)),
            httpx.Response(
                200,
                json={
                    **service,
                    "inbound_request_url": OURS,
                    "use_inbound_webhook_on_number": False,
                },
            ),
        ]
    )

    found = await port.inbound_webhook(CREDENTIALS, MG_SID)
    wired = await port.set_inbound_webhook(CREDENTIALS, MG_SID, InboundWebhook(OURS, "POST"))

    assert found == InboundWebhook(None, "POST", NUMBERS_ROUTE_INBOUND)
    assert wired == InboundWebhook(OURS, "POST", None)
    assert update.call_count == 2  # the 429 was retried: the update is idempotent
    assert form_of(update.calls.last.request) == {
        "InboundRequestUrl": OURS,
        "InboundMethod": "POST",
        "UseInboundWebhookOnNumber": "false",
    }


async def test_an_update_the_credentials_may_not_make_is_refused_without_blaming_them(
    port: TwilioSms, twilio: respx.Router
) -> None:
    twilio.get(f"{API}/IncomingPhoneNumbers.json").respond(200, json=numbers((PHONE, True)))
    twilio.post(f"{API}/IncomingPhoneNumbers/{'PN' + '1' * 32}.json").respond(
        403, json=error(20403, 403)
    )

    with pytest.raises(ProviderRefused) as refused:
        await port.set_inbound_webhook(CREDENTIALS, PHONE, InboundWebhook(OURS, "POST"))

    assert refused.value.reason is ErrorCode.PROVIDER_REJECTED
    assert refused.value.cause == "TwilioRejected(status 403, code 20403)"


async def test_a_service_gone_before_its_update_is_the_senders_fault_not_a_refusal(
    port: TwilioSms, twilio: respx.Router
) -> None:
    twilio.post(SERVICE_URL).respond(404, json=error(20404, 404))

    with pytest.raises(ProviderRefused) as refused:
        await port.set_inbound_webhook(CREDENTIALS, MG_SID, InboundWebhook(OURS, "POST"))

    assert refused.value.reason is VerificationFailure.INVALID_MESSAGING_SERVICE
