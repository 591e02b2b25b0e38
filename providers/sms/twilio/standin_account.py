"""What the Twilio stand-in's one account holds (its numbers, its Messaging Services and their
sender pool) and Twilio's rules over them: which sends it refuses, where an inbound message is
delivered, what a POST to a number or a service changes. Safe to use from any thread."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from providers.sms.twilio import standin_fixtures as fixtures

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_BODY = 1600

Refusal = tuple[int, int, str]  # Twilio's error code, the HTTP status, its message
Target = tuple[str, str, str | None]  # URL, method, the Messaging Service SID it goes through


class StandInAccount:
    """The account's resources, as Twilio's bodies (``standin_fixtures``) it keeps up to date."""

    def __init__(
        self,
        sid: str,
        *,
        numbers: Iterable[tuple[str, bool]],
        services: Iterable[str],
        service_numbers: Iterable[str] | None,
        status: str,
        type: str,
    ) -> None:
        self.sid = sid
        self.body = fixtures.account(sid, status=status, type=type)
        self._lock = threading.Lock()
        numbers = tuple(numbers)
        self.phone_number = numbers[0][0] if numbers else fixtures.PHONE
        self._numbers = {
            fixtures.pn_sid(phone): fixtures.incoming_number(phone, sms=sms, account_sid=sid)
            for phone, sms in numbers
        }
        self._services = {service: self._new_service(service) for service in services}
        # Every service sends from this pool: the account's first number unless given.
        pool = (self.phone_number,) if service_numbers is None else tuple(service_numbers)
        self.service_numbers = pool if self._services else ()

    def _new_service(self, sid: str) -> dict[str, Any]:
        """A service that defers inbound to its numbers' own webhooks and sets no URL."""
        service = fixtures.messaging_service(sid, self.sid)
        service.update(inbound_request_url=None, status_callback=None, fallback_url=None)
        service["use_inbound_webhook_on_number"] = True
        return service

    def number(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._numbers.get(sid)
            return None if found is None else dict(found)

    def numbers_matching(self, wanted: str | None) -> list[dict[str, Any]]:
        """Twilio's ``PhoneNumber`` filter: a partial number matches, ``*`` is any digit."""
        pattern = None if wanted is None else re.escape(wanted.strip()).replace(r"\*", "[0-9]")
        with self._lock:
            return [
                dict(number)
                for number in self._numbers.values()
                if pattern is None or re.search(pattern, number["phone_number"])
            ]

    def service(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._services.get(sid)
            return None if found is None else dict(found)

    def release_number(self, phone_number: str) -> None:
        """The account lets the number go (Twilio Console → Release): it is no longer listed."""
        with self._lock:
            self._numbers.pop(fixtures.pn_sid(phone_number), None)

    def set_sms_capable(self, phone_number: str, sms: bool) -> None:
        """The number gains or loses SMS (Twilio's ``capabilities.sms``)."""
        with self._lock:
            self._numbers[fixtures.pn_sid(phone_number)]["capabilities"]["sms"] = sms

    def update_number(self, sid: str, form: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
        if any(name == "AccountSid" and value != self.sid for name, value in form):
            return None  # a number moved to another account: the stand-in has one
        fields = fixtures.form_fields(fixtures.API, fixtures.NUMBER_PATH, "post")
        return self._update(self._numbers, sid, fields, form)

    def update_service(self, sid: str, form: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
        fields = fixtures.form_fields(fixtures.MESSAGING, fixtures.SERVICE_PATH, "post")
        return self._update(self._services, sid, fields, form)

    def _update(
        self,
        resources: dict[str, dict[str, Any]],
        sid: str,
        fields: dict[str, dict[str, Any]],
        form: Sequence[tuple[str, str]],
    ) -> dict[str, Any] | None:
        """The resource with the (checked) form's fields set; None when there is no such."""
        with self._lock:
            resource = resources.get(sid)
            if resource is None:
                return None
            for name, value in form:
                resource[fixtures.resource_key(name)] = fixtures.coerced(fields[name], value)
            resource["date_updated"] = fixtures.now()
            return dict(resource)

    def send_refusal(self, form: dict[str, str]) -> Refusal | None:
        """How Twilio refuses a send it will not take; None when it takes it."""
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            return 21604, 400, "A 'To' phone number is required."
        if _E164.fullmatch(to) is None:
            return 21211, 400, f"Invalid 'To' Phone Number: {to}"
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 21602, 400, "Message body is required."
        if len(body) > MAX_BODY:
            return 21617, 400, "The concatenated message body exceeds the 1600 character limit."
        service_sid = form.get("MessagingServiceSid")
        if service_sid:
            if self.service(service_sid) is None:
                return 21701, 400, f"The Messaging Service Sid {service_sid} is invalid."
            if not self.service_numbers:
                return 21704, 400, "The Messaging Service contains no phone numbers."
            return None
        sender = form.get("From")
        if not sender:
            return 21603, 400, "A 'From' phone number is required."
        number = self.number(fixtures.pn_sid(sender))
        if number is None or not number["capabilities"].get("sms"):
            return (
                21606,
                400,
                (
                    "The 'From' phone number provided is not a valid message-capable Twilio phone "
                    "number for this destination/account."
                ),
            )
        return None

    def service_callback(self, service_sid: str | None) -> str | None:
        """A send through a service without its own StatusCallback reports to the service's."""
        service = None if service_sid is None else self.service(service_sid)
        url = None if service is None else service.get("status_callback")
        return str(url) if url else None

    def inbound_target(self, phone_number: str, sent_through: str | None) -> Target | str:
        """Where Twilio delivers an SMS to ``phone_number``, or why nothing is posted: a number
        in a Messaging Service follows the service's ``InboundRequestUrl`` unless the service
        defers to the number's own ``SmsUrl``, which an ``SmsApplicationSid`` overrides. (Every
        service sends from the same pool here; a reply goes to the service its message went
        through, else to the first one.)"""
        service_sid = None
        with self._lock:
            number = self._numbers.get(fixtures.pn_sid(phone_number))
            if phone_number in self.service_numbers:
                service_sid = sent_through or next(iter(self._services))
                service = self._services[service_sid]
                if not service["use_inbound_webhook_on_number"]:
                    url = service["inbound_request_url"]
                    if not url:
                        return f"the Messaging Service {service_sid} has no InboundRequestUrl"
                    return str(url), str(service["inbound_method"] or "POST"), service_sid
            if number is None:
                return "not a number of this account"
            if number["sms_application_sid"]:
                return "an SMS application (SmsApplicationSid) handles this number"
            if not number["sms_url"]:
                return f"the number's SmsUrl is not set (PN SID {number['sid']})"
            return str(number["sms_url"]), str(number["sms_method"] or "POST"), service_sid
