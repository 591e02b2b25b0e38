"""The Twilio stand-in (``providers/sms/twilio/standin.py``) answers as Twilio's description says
and posts back, signed as Twilio signs, what Twilio would post: status callbacks and replies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from domain.text import segments
from providers.sms.twilio import standin_fixtures as fixtures
from providers.sms.twilio.signature import compute_signature, is_valid_signature
from providers.sms.twilio.standin import TwilioStandIn, Webhook
from providers.sms.twilio.standin_courier import signed
from scripts.vendor_twilio_oai import STANDIN_OPERATIONS, trim

ROOT = Path(__file__).resolve().parents[2]
SID = fixtures.ACCOUNT_SID
TOKEN = fixtures.AUTH_TOKEN
TO = "+14155550100"
OTHER = "+12025550100"


class Receiver:
    """A loopback web server that records what is posted to it (path with query, headers,
    form) and answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], list[tuple[str, str]]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                receiver.received.append((self.path, dict(self.headers), form))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(
        numbers=((fixtures.PHONE, True), (fixtures.SERVICE_PHONE, True), (OTHER, False)),
        service_numbers=(fixtures.SERVICE_PHONE,),
        callback_delay=0.01,
    ) as running:
        yield running


def api(standin: TwilioStandIn, path: str, form: dict[str, str] | None = None) -> httpx.Response:
    """A GET (or a POST of ``form``) to the stand-in, with the account's credentials."""
    url = standin.base_url + path.lstrip("/")
    auth = (SID, TOKEN)
    if form is None:
        return httpx.get(url, auth=auth)
    return httpx.post(url, auth=auth, data=form)


def send(standin: TwilioStandIn, **form: str) -> httpx.Response:
    return api(standin, f"2010-04-01/Accounts/{SID}/Messages.json", form)


def number_path(phone: str = fixtures.PHONE) -> str:
    return f"2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{fixtures.pn_sid(phone)}.json"


def service_path() -> str:
    return f"v1/Services/{fixtures.MG_SID}"


def webhooks_of(standin: TwilioStandIn, count: int) -> list[Webhook]:
    assert standin.wait_for_webhooks(count, timeout=10), standin.webhooks
    return standin.webhooks


def settled(standin: TwilioStandIn) -> None:
    """Wait until every send has posted all it had to post."""
    deadline = time.monotonic() + 10
    while standin.pending_deliveries and time.monotonic() < deadline:
        time.sleep(0.01)
    assert standin.pending_deliveries == 0


def signed_by_the_account(receiver: Receiver, index: int) -> bool:
    """The server's own check (``providers/sms/twilio/signature.py``) of what the receiver got."""
    path, headers, form = receiver.received[index]
    return is_valid_signature(receiver.url + path, form, headers["X-Twilio-Signature"], [TOKEN])


def test_the_packaged_spec_is_the_same_trim_of_twilios_description_as_the_tests_copy() -> None:
    tests_copy = ROOT / "tests" / "fixtures" / "twilio-oai"
    for name, operations in STANDIN_OPERATIONS.items():
        expected = trim(json.loads((tests_copy / name).read_text()), operations)
        assert fixtures.spec(name) == expected, name
    packaged = ROOT / "providers" / "sms" / "twilio" / "oai" / "LICENSE"
    assert packaged.read_bytes() == (tests_copy / "LICENSE").read_bytes()


def test_the_signature_is_twilios_published_example() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]

    target, headers = signed(url, params, "12345")

    assert target == url
    assert headers["X-Twilio-Signature"] == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_get_webhook_carries_its_parameters_in_the_signed_url() -> None:
    target, headers = signed("https://example.com/in?x=1", [("Body", "Hi there")], TOKEN, "GET")

    assert target == "https://example.com/in?x=1&Body=Hi+there"
    assert is_valid_signature(target, [], headers["X-Twilio-Signature"], [TOKEN])
    assert headers["X-Twilio-Signature"] != compute_signature(target, [("Body", "Hi there")], TOKEN)


def test_a_send_is_answered_as_twilio_answers_then_its_callbacks_follow_signed(
    standin: TwilioStandIn, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/webhooks/twilio/acc/status?mid=m1"

    answer = send(standin, To=TO, From=fixtures.PHONE, Body="Hello", StatusCallback=callback)
    posted = webhooks_of(standin, 3)

    assert answer.status_code == 201
    message = answer.json()
    example = fixtures.example(fixtures.API, fixtures.MESSAGES_PATH, "post", "201")
    assert message.keys() == example.keys()
    assert message["sid"].startswith("SM")
    assert len(message["sid"]) == 34
    assert (message["status"], message["to"], message["from"]) == ("queued", TO, fixtures.PHONE)
    assert (message["num_segments"], message["price"], message["messaging_service_sid"]) == (
        "1",
        None,
        None,
    )
    assert [hook.form["MessageStatus"] for hook in posted] == ["queued", "sent", "delivered"]
    assert {hook.url for hook in posted} == {callback}
    assert all(hook.form["MessageSid"] == message["sid"] for hook in posted)
    assert [form for _, _, form in receiver.received] == [list(hook.params) for hook in posted]
    assert all(signed_by_the_account(receiver, index) for index in range(3))
    assert standin.sends[-1].to == TO
    assert standin.pending_deliveries == 0


def test_a_reply_goes_to_the_numbers_sms_url_set_through_its_api(
    standin: TwilioStandIn, receiver: Receiver
) -> None:
    standin.reply = "Thanks!"
    inbound = f"{receiver.url}/webhooks/twilio/acc/inbound"

    updated = api(standin, number_path(), {"SmsUrl": inbound, "SmsMethod": "POST"})
    fetched = api(standin, number_path())
    send(standin, To=TO, From=fixtures.PHONE, Body="Hello")
    [reply] = webhooks_of(standin, 1)

    assert updated.status_code == 200
    assert (updated.json()["sms_url"], updated.json()["sms_method"]) == (inbound, "POST")
    assert fetched.json() == updated.json() == standin.incoming_number(fixtures.PHONE)
    assert fetched.json().keys() == fixtures.incoming_number(fixtures.PHONE).keys()
    assert (reply.kind, reply.url, reply.status_code) == ("reply", inbound, 204)
    assert reply.form["From"] == TO
    assert reply.form["To"] == fixtures.PHONE
    assert reply.form["Body"] == "Thanks!"
    assert reply.form["MessageSid"].startswith("SM")
    assert "MessagingServiceSid" not in reply.form
    assert signed_by_the_account(receiver, 0)


def test_an_sms_application_overrides_the_sms_url_so_no_reply_is_posted(
    standin: TwilioStandIn, receiver: Receiver
) -> None:
    standin.reply = "Thanks!"
    application = {"SmsUrl": f"{receiver.url}/in", "SmsApplicationSid": "AP" + "1" * 32}
    api(standin, number_path(), application)
    send(standin, To=TO, From=fixtures.PHONE, Body="Hello")
    settled(standin)
    api(standin, number_path(), {"SmsApplicationSid": ""})  # cleared, as Twilio takes it
    send(standin, To=OTHER, From=fixtures.PHONE, Body="Hello")

    [reply] = webhooks_of(standin, 1)

    assert reply.form["From"] == OTHER


def test_a_messaging_service_that_takes_over_inbound_gets_the_reply(
    standin: TwilioStandIn, receiver: Receiver
) -> None:
    standin.reply = "Yes"
    inbound = f"{receiver.url}/service-inbound"
    callback = f"{receiver.url}/status"
    taken = {"InboundRequestUrl": inbound, "UseInboundWebhookOnNumber": "false"}

    updated = api(standin, service_path(), taken)
    answer = send(
        standin, To=TO, MessagingServiceSid=fixtures.MG_SID, Body="Hi", StatusCallback=callback
    )
    posted = webhooks_of(standin, 4)

    assert updated.status_code == 200
    service = updated.json()
    assert (service["inbound_request_url"], service["use_inbound_webhook_on_number"]) == (
        inbound,
        False,
    )
    assert api(standin, service_path()).json() == service
    assert (answer.json()["from"], answer.json()["messaging_service_sid"]) == (
        None,
        fixtures.MG_SID,
    )
    assert {hook.form["From"] for hook in posted} == {fixtures.SERVICE_PHONE, TO}
    assert posted[-1].url == inbound
    assert posted[-1].form["MessagingServiceSid"] == fixtures.MG_SID
    assert all(signed_by_the_account(receiver, index) for index in range(4))


def test_the_phone_number_filter_matches_partially_as_twilios_does(
    standin: TwilioStandIn,
) -> None:
    def found(wanted: str) -> list[str]:
        path = f"2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
        listing = httpx.get(
            standin.base_url + path, params={"PhoneNumber": wanted}, auth=(SID, TOKEN)
        )
        return sorted(item["phone_number"] for item in listing.json()["incoming_phone_numbers"])

    assert found(fixtures.PHONE) == [fixtures.PHONE]
    assert found("415555012") == [fixtures.PHONE, fixtures.SERVICE_PHONE]
    assert found("+1415555012*") == [fixtures.PHONE, fixtures.SERVICE_PHONE]
    assert found("555*100") == [OTHER]
    assert found("+19995550123") == []


def test_a_post_takes_only_the_fields_and_values_twilios_description_lists(
    standin: TwilioStandIn,
) -> None:
    def refusal(path: str, form: dict[str, str]) -> tuple[int, int]:
        answer = api(standin, path, form)
        return answer.status_code, answer.json()["code"]

    assert refusal(number_path(), {"SmsUrl": "not a url"}) == (400, 21502)
    assert refusal(number_path(), {"SmsURL": "https://example.com/"}) == (400, 20001)
    assert refusal(number_path(), {"SmsMethod": "PUT"}) == (400, 20001)
    assert refusal(number_path(), {"SmsApplicationSid": "AP123"}) == (400, 20001)
    assert refusal(service_path(), {"UseInboundWebhookOnNumber": "maybe"}) == (400, 20001)
    assert refusal(number_path("+19995550000"), {"SmsUrl": ""}) == (404, 20404)
    assert refusal(f"v1/Services/MG{'0' * 32}", {"FriendlyName": "x"}) == (404, 20404)
    assert standin.incoming_number(fixtures.PHONE)["sms_url"] == ""
    wrong = httpx.post(standin.base_url + number_path(), auth=(SID, "wrong"), data={"SmsUrl": ""})
    assert (wrong.status_code, wrong.json()["code"]) == (401, 20003)


def test_updates_are_refused_or_fail_as_the_knobs_say_and_change_nothing(
    standin: TwilioStandIn,
) -> None:
    def answer(path: str) -> tuple[int, int]:
        refused = api(standin, path, {"SmsUrl": "https://example.com/in"})
        return refused.status_code, refused.json()["code"]

    standin.refuse_updates = 403
    forbidden = answer(number_path())
    standin.refuse_updates = 401
    unauthenticated = answer(service_path())
    standin.refuse_updates = None
    standin.failing_updates = 2
    failing = [answer(number_path()) for _ in range(2)]

    assert (forbidden, unauthenticated) == ((403, 20403), (401, 20003))
    assert failing == [(503, 20500)] * 2
    assert api(standin, number_path()).status_code == 200  # reads are never refused
    assert standin.incoming_number(fixtures.PHONE)["sms_url"] != "https://example.com/in"
    assert api(standin, number_path(), {"SmsUrl": "https://example.com/in"}).status_code == 200


def test_a_send_is_refused_where_twilio_refuses_it(standin: TwilioStandIn) -> None:
    def code(**form: str) -> int:
        answer = send(standin, **form)
        assert answer.status_code == 400, answer.text
        found: int = answer.json()["code"]
        return found

    assert code(From=fixtures.PHONE, Body="Hi") == 21604
    assert code(To="0123", From=fixtures.PHONE, Body="Hi") == 21211
    assert code(To=TO, From=fixtures.PHONE) == 21602
    assert code(To=TO, Body="Hi") == 21603
    assert code(To=TO, From="+19995550000", Body="Hi") == 21606
    assert code(To=TO, From=OTHER, Body="Hi") == 21606  # not SMS-capable
    assert code(To=TO, MessagingServiceSid="MG" + "0" * 32, Body="Hi") == 21701
    assert code(To=TO, From=fixtures.PHONE, Body="Hi", StatusCallback="nowhere") == 21609
    assert standin.sends == []


def test_the_knobs_fail_throttle_and_undeliver_sends(
    standin: TwilioStandIn, receiver: Receiver
) -> None:
    form = {"To": TO, "From": fixtures.PHONE, "Body": "Hi", "StatusCallback": f"{receiver.url}/s"}
    standin.send_error = 21610
    refused = send(standin, **form)
    standin.send_error = None
    standin.rate_limited_sends = 1
    throttled = send(standin, **form)
    standin.undelivered_code = 30003
    standin.reply = "never sent: the message was not delivered"
    accepted = send(standin, **form)
    posted = webhooks_of(standin, 3)

    assert (refused.status_code, refused.json()["code"]) == (400, 21610)
    assert (throttled.status_code, throttled.json()["code"]) == (429, 20429)
    assert accepted.status_code == 201
    assert [hook.form["MessageStatus"] for hook in posted] == ["queued", "sent", "undelivered"]
    assert posted[-1].form["ErrorCode"] == "30003"
    assert len(standin.sends) == 1


def test_send_latency_delays_sends_only(standin: TwilioStandIn) -> None:
    standin.send_latency = 5.0
    client = httpx.Client(auth=(SID, TOKEN), timeout=1.0)
    messages = f"{standin.base_url}2010-04-01/Accounts/{SID}/Messages.json"

    account = client.get(f"{standin.base_url}2010-04-01/Accounts/{SID}.json")
    with pytest.raises(httpx.ReadTimeout):
        client.post(messages, data={"To": TO, "From": fixtures.PHONE, "Body": "Hi"})
    client.close()

    assert account.status_code == 200


def test_dropped_callbacks_are_not_posted(standin: TwilioStandIn, receiver: Receiver) -> None:
    form = {"To": TO, "From": fixtures.PHONE, "Body": "Hi", "StatusCallback": f"{receiver.url}/s"}
    standin.drop_callbacks = True
    dropped = send(standin, **form).json()["sid"]
    settled(standin)
    standin.drop_callbacks = False
    kept = send(standin, **form).json()["sid"]

    posted = webhooks_of(standin, 3)

    assert {hook.form["MessageSid"] for hook in posted} == {kept}
    assert dropped != kept


def test_the_stand_in_keeps_a_bounded_queue_and_answers_21611_beyond_it() -> None:
    with TwilioStandIn(max_pending=2, callback_delay=30) as standin:
        form = {"To": TO, "From": fixtures.PHONE, "Body": "Hi"}
        answers = [send(standin, **form) for _ in range(3)]

        assert [answer.status_code for answer in answers] == [201, 201, 400]
        assert answers[2].json()["code"] == 21611
        assert standin.pending_deliveries == 2


def test_segments_count_gsm_7_septets_and_ucs_2_units() -> None:
    assert segments("Hello") == 1
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("€" * 80) == 1  # an extension character takes two septets
    assert segments("€" * 81) == 2
    assert segments("ж" * 70) == 1
    assert segments("ж" * 71) == 2
    assert segments("👍" * 35) == 1  # two UTF-16 units each
    assert segments("👍" * 36) == 2
