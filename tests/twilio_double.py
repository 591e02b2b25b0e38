"""The Twilio stand-in as the tests and benches know it: the product's own
(``providers/sms/twilio/standin.py``, which ``sms-accounts dev-twilio`` runs), under the name the
tests have always used. Its knobs, records and runner are documented there."""

from __future__ import annotations

from providers.sms.twilio.standin import Send, Webhook
from providers.sms.twilio.standin import TwilioStandIn as TwilioDouble
from providers.sms.twilio.standin_courier import signed
from providers.sms.twilio.standin_fixtures import AUTH_TOKEN, MG_SID, PHONE, SERVICE_PHONE

__all__ = [
    "AUTH_TOKEN",
    "MG_SID",
    "PHONE",
    "SERVICE_PHONE",
    "Send",
    "TwilioDouble",
    "Webhook",
    "signed",
]
