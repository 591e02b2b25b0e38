"""Pure rules for the Add / Edit dialog's fields: trim (all but the Base URL), check, and report
every problem at once."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.vocabulary import ErrorCode, SenderKind, SmsProvider, SmsRoute
from providers.host_policy import HostPolicy, HostPolicyError
from providers.sms.adapters import DEFAULT_BASE_URLS
from resolvers.errors import FieldError, api_name
from resolvers.pacing import MAX_RATE, MIN_RATE
from resolvers.text import text_errors

DEFAULT_BASE_URL = DEFAULT_BASE_URLS[SmsProvider.TWILIO]
# ASCII digits only: \d also takes e.g. Arabic-Indic digits, a look-alike spelling of a number.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
DLT_ENTITY_ID = re.compile(r"[0-9]{1,30}")
# India's DLT: a header (sender) of transactional and service messages is 6 letters; a content
# template id is a long number (19 digits as issued; up to 30 accepted, as entity ids).
DLT_HEADER = re.compile(r"[A-Za-z]{6}")
DLT_TEMPLATE_ID = re.compile(r"[0-9]{1,30}")
MAX_AUTH_TOKEN = 128
MAX_DISPLAY_NAME = 100

SENDER_HELP = (
    "a From number in E.164 format (+, country code and number, up to 15 digits, e.g. "
    "+14155550123) or a Messaging Service SID (MG followed by 32 hex characters)"
)
MESSAGES = {
    ("sender_id", ErrorCode.REQUIRED): f"Sender ID is required: enter {SENDER_HELP}.",
    ("sender_id", ErrorCode.INVALID): f"Sender ID must be {SENDER_HELP}.",
    ("client_id", ErrorCode.REQUIRED): (
        "Client ID is required: paste your Twilio Account SID (Twilio Console → Account Info)."
    ),
    ("client_id", ErrorCode.INVALID): (
        "Client ID must be a Twilio Account SID: AC followed by 32 hex characters "
        "(Twilio Console → Account Info)."
    ),
    ("auth_token", ErrorCode.REQUIRED): (
        "Auth Token is required: copy it from Twilio Console → Account Info → Show."
    ),
    ("dlt_entity_id", ErrorCode.INVALID): (
        "DLT Entity ID must be 1 to 30 digits (the Principal Entity ID from the DLT portal); "
        "leave it empty outside India."
    ),
}
# Where an MSG91 account's fields need other advice (its form has no Client ID or Base URL).
MSG91_MESSAGES = {
    ("sender_id", ErrorCode.REQUIRED): (
        "Sender ID is required: enter the 6-letter DLT header recipients see (e.g. ACMEIN)."
    ),
    ("sender_id", ErrorCode.INVALID): (
        "Sender ID must be the 6-letter DLT header recipients see (letters only, e.g. ACMEIN), "
        "as approved on the DLT portal and added in the MSG91 panel."
    ),
    ("client_id", ErrorCode.INVALID): (
        "For MSG91 the Client ID is the Sender ID: leave it empty (or equal to the Sender ID)."
    ),
    ("auth_token", ErrorCode.REQUIRED): (
        "API Key is required: copy an authkey from the MSG91 panel (Authkey)."
    ),
    ("dlt_entity_id", ErrorCode.REQUIRED): (
        "DLT Entity ID is required for MSG91: the Principal Entity ID from the DLT portal."
    ),
}
ROUTE_NOT_TAKEN = "Route is for MSG91 accounts only: leave it empty for Twilio."


@dataclass(slots=True)
class CleanFields:
    """Cleaned values by field name (the row's column; None means cleared) and every problem
    found, each naming its field as the API does."""

    values: dict[str, str | None] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    provider: SmsProvider = SmsProvider.TWILIO

    def fail(self, name: str, code: ErrorCode, message: str | None = None) -> None:
        if message is None and self.provider is SmsProvider.MSG91:
            message = MSG91_MESSAGES.get((name, code))
        self.errors.append(FieldError(api_name(name), code, message or MESSAGES[(name, code)]))


def sender_kind_of(sender_id: str, provider: SmsProvider = SmsProvider.TWILIO) -> SenderKind:
    if provider is SmsProvider.MSG91:
        return SenderKind.ALPHANUMERIC
    return SenderKind.PHONE_NUMBER if sender_id.startswith("+") else SenderKind.MESSAGING_SERVICE


# Segments a second a sender takes unless its admin says otherwise: a US long code sends 1; a
# Messaging Service spreads its sends over its numbers.
DEFAULT_SEND_RATES = {
    SenderKind.PHONE_NUMBER: 1.0,
    SenderKind.MESSAGING_SERVICE: 10.0,
    # MSG91 publishes no per-header rate: a Messaging Service's default, changed per account.
    SenderKind.ALPHANUMERIC: 10.0,
}


def send_rate_error(rate: float) -> FieldError | None:
    """Why ``rate`` (segments a second) cannot be a sender's rate, or None."""
    if math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE:
        return None
    return FieldError(
        "sendRatePerSecond",
        ErrorCode.INVALID,
        f"Send rate must be from {MIN_RATE:g} to {MAX_RATE:g} message segments a second (what "
        f"the provider allows this sender; Twilio: a US long code 1, toll-free 3, a short code "
        f"100); got {rate:g}.",
    )


def phone_number(raw: str) -> str | None:
    """The one spelling of a phone number (E.164, ASCII digits, no surrounding spaces), or None
    when ``raw`` is not one. Opt-out checks and sends both use it, so they cannot disagree."""
    candidate = raw.strip()
    return candidate if E164.fullmatch(candidate) else None


def default_display_name(sender_id: str | None, provider: SmsProvider = SmsProvider.TWILIO) -> str:
    label = "MSG91" if provider is SmsProvider.MSG91 else "Twilio"
    return f"{label} {sender_id}" if sender_id else label


def auth_token_hint(token: str) -> str:
    """The last 4 characters, kept for the card; none of a token too short to spare them."""
    return token[-4:] if len(token) >= 16 else ""


def clean_account_fields(
    raw: Mapping[str, str | None],
    *,
    policy: HostPolicy,
    creating: bool,
    provider: SmsProvider = SmsProvider.TWILIO,
    current_sender: str | None = None,
) -> CleanFields:
    """Check the fields present in ``raw`` (by field name: ``sender_id``…) for an account of
    ``provider`` (editing, whose sender is ``current_sender``). Creating, the required ones
    must be present."""
    out = CleanFields(
        errors=text_errors({api_name(name): value for name, value in raw.items()}),
        provider=provider,
    )
    if out.errors:
        return out  # nothing else is read from text that is not text
    given = {name: value.strip() for name, value in raw.items() if value is not None}
    if provider is SmsProvider.MSG91:
        _clean_msg91_sender(given, out, creating=creating, current_sender=current_sender)
    else:
        _clean_twilio_sender(given, out, creating=creating)

    if "auth_token" in given or creating:
        _clean_auth_token(given.get("auth_token", ""), out)

    if "base_url" in given or creating:
        # Not trimmed: a URL with spaces around it is refused (by the host policy) rather than
        # guessed at, as one with spaces inside is; empty means the provider's default.
        base_url = raw.get("base_url") or DEFAULT_BASE_URLS[provider]
        try:
            out.values["base_url"] = policy.check_url(base_url)
        except HostPolicyError as refusal:
            out.fail("base_url", ErrorCode.INVALID, str(refusal))

    _clean_dlt_entity_id(given, out, required=provider is SmsProvider.MSG91, creating=creating)
    _clean_route(given, out, provider=provider, creating=creating)
    if "display_name" in given:
        name = given["display_name"]
        if len(name) > MAX_DISPLAY_NAME:
            out.fail(
                "display_name",
                ErrorCode.INVALID,
                f"Display Name must be at most {MAX_DISPLAY_NAME} characters "
                f"(this one has {len(name)}).",
            )
        else:
            out.values["display_name"] = name or None  # empty: default from the sender
    return out


def _clean_twilio_sender(given: Mapping[str, str], out: CleanFields, *, creating: bool) -> None:
    """A From number or Messaging Service, and the Account SID that owns it."""
    if "sender_id" in given or creating:
        sender = given.get("sender_id", "")
        if sender == "":
            if creating:
                out.fail("sender_id", ErrorCode.REQUIRED)
            else:
                out.values["sender_id"] = None  # disconnects the sender
        elif phone_number(sender) or MESSAGING_SERVICE_SID.fullmatch(sender):
            out.values["sender_id"] = sender
        else:
            out.fail("sender_id", ErrorCode.INVALID)

    if "client_id" in given or creating:
        client_id = given.get("client_id", "")
        if client_id == "":
            out.fail("client_id", ErrorCode.REQUIRED)
        elif ACCOUNT_SID.fullmatch(client_id):
            out.values["client_id"] = client_id
        else:
            out.fail("client_id", ErrorCode.INVALID)


def _clean_msg91_sender(
    given: Mapping[str, str], out: CleanFields, *, creating: bool, current_sender: str | None
) -> None:
    """The DLT header, which is also the account's client id (the form has no Client ID): a
    Client ID given must be empty or the header itself."""
    sender = given.get("sender_id")
    if sender is not None or creating:
        if not sender:
            out.fail("sender_id", ErrorCode.REQUIRED)  # an MSG91 account cannot lose its header
        elif DLT_HEADER.fullmatch(sender):
            out.values["sender_id"] = out.values["client_id"] = sender
        else:
            out.fail("sender_id", ErrorCode.INVALID)
    client_id = given.get("client_id")
    if client_id and client_id != (current_sender if sender is None else sender):
        out.fail("client_id", ErrorCode.INVALID)


def _clean_dlt_entity_id(
    given: Mapping[str, str], out: CleanFields, *, required: bool, creating: bool
) -> None:
    dlt = given.get("dlt_entity_id")
    if dlt is None and not (required and creating):
        return
    if not dlt:
        if required:
            out.fail("dlt_entity_id", ErrorCode.REQUIRED)
        else:
            out.values["dlt_entity_id"] = None
    elif DLT_ENTITY_ID.fullmatch(dlt):
        out.values["dlt_entity_id"] = dlt
    else:
        out.fail("dlt_entity_id", ErrorCode.INVALID)


def _clean_route(
    given: Mapping[str, str], out: CleanFields, *, provider: SmsProvider, creating: bool
) -> None:
    """An MSG91 account's route (transactional unless told); Twilio takes none."""
    route = given.get("route")
    if provider is not SmsProvider.MSG91:
        if route:
            out.fail("route", ErrorCode.INVALID, ROUTE_NOT_TAKEN)
        return
    if route:
        out.values["route"] = SmsRoute(route).value
    elif creating:
        out.values["route"] = SmsRoute.TRANSACTIONAL.value


def _clean_auth_token(token: str, out: CleanFields) -> None:
    # Messages here never quote the token, not even in part.
    name = "API Key" if out.provider is SmsProvider.MSG91 else "Auth Token"
    if token == "":
        out.fail("auth_token", ErrorCode.REQUIRED)
    elif any(character.isspace() for character in token):
        out.fail(
            "auth_token",
            ErrorCode.INVALID,
            f"{name} must not contain spaces or line breaks: copy it again from the "
            f"{'MSG91 panel' if out.provider is SmsProvider.MSG91 else 'Twilio Console'}.",
        )
    elif len(token) > MAX_AUTH_TOKEN:
        out.fail(
            "auth_token",
            ErrorCode.INVALID,
            f"{name} is longer than {MAX_AUTH_TOKEN} characters: paste only the token.",
        )
    else:
        out.values["auth_token"] = token
