"""Pure rules for the Add / Edit dialog's fields: trim (all but the Base URL), check, and report
every problem at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.host_policy import HostPolicy, HostPolicyError
from resolvers.domain import SenderKind
from resolvers.errors import ErrorCode, FieldError
from resolvers.text import text_errors

DEFAULT_BASE_URL = "https://api.twilio.com/"
# ASCII digits only: \d also takes e.g. Arabic-Indic digits, a look-alike spelling of a number.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
DLT_ENTITY_ID = re.compile(r"[0-9]{1,30}")
MAX_AUTH_TOKEN = 128
MAX_DISPLAY_NAME = 100

SENDER_HELP = (
    "a From number in E.164 format (+, country code and number, up to 15 digits, e.g. "
    "+14155550123) or a Messaging Service SID (MG followed by 32 hex characters)"
)
MESSAGES = {
    ("senderId", ErrorCode.REQUIRED): f"Sender ID is required: enter {SENDER_HELP}.",
    ("senderId", ErrorCode.INVALID): f"Sender ID must be {SENDER_HELP}.",
    ("clientId", ErrorCode.REQUIRED): (
        "Client ID is required: paste your Twilio Account SID (Twilio Console → Account Info)."
    ),
    ("clientId", ErrorCode.INVALID): (
        "Client ID must be a Twilio Account SID: AC followed by 32 hex characters "
        "(Twilio Console → Account Info)."
    ),
    ("authToken", ErrorCode.REQUIRED): (
        "Auth Token is required: copy it from Twilio Console → Account Info → Show."
    ),
    ("dltEntityId", ErrorCode.INVALID): (
        "DLT Entity ID must be 1 to 30 digits (the Principal Entity ID from the DLT portal); "
        "leave it empty outside India."
    ),
}


@dataclass(slots=True)
class CleanFields:
    """Cleaned values by input field name (None means cleared) and every problem found."""

    values: dict[str, str | None] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    def fail(self, name: str, code: ErrorCode, message: str | None = None) -> None:
        self.errors.append(FieldError(name, code, message or MESSAGES[(name, code)]))


def sender_kind_of(sender_id: str) -> SenderKind:
    return SenderKind.PHONE_NUMBER if sender_id.startswith("+") else SenderKind.MESSAGING_SERVICE


def phone_number(raw: str) -> str | None:
    """The one spelling of a phone number (E.164, ASCII digits, no surrounding spaces), or None
    when ``raw`` is not one. Opt-out checks and sends both use it, so they cannot disagree."""
    candidate = raw.strip()
    return candidate if E164.fullmatch(candidate) else None


def default_display_name(sender_id: str | None) -> str:
    return f"Twilio {sender_id}" if sender_id else "Twilio"


def auth_token_hint(token: str) -> str:
    """The last 4 characters, kept for the card; none of a token too short to spare them."""
    return token[-4:] if len(token) >= 16 else ""


def clean_account_fields(
    raw: Mapping[str, str | None], *, policy: HostPolicy, creating: bool
) -> CleanFields:
    """Check the fields present in ``raw``. Creating, the required ones must be present."""
    out = CleanFields(errors=text_errors(raw))
    if out.errors:
        return out  # nothing else is read from text that is not text
    given = {name: value.strip() for name, value in raw.items() if value is not None}

    if "senderId" in given or creating:
        sender = given.get("senderId", "")
        if sender == "":
            if creating:
                out.fail("senderId", ErrorCode.REQUIRED)
            else:
                out.values["senderId"] = None  # disconnects the sender
        elif phone_number(sender) or MESSAGING_SERVICE_SID.fullmatch(sender):
            out.values["senderId"] = sender
        else:
            out.fail("senderId", ErrorCode.INVALID)

    if "clientId" in given or creating:
        client_id = given.get("clientId", "")
        if client_id == "":
            out.fail("clientId", ErrorCode.REQUIRED)
        elif ACCOUNT_SID.fullmatch(client_id):
            out.values["clientId"] = client_id
        else:
            out.fail("clientId", ErrorCode.INVALID)

    if "authToken" in given or creating:
        _clean_auth_token(given.get("authToken", ""), out)

    if "baseUrl" in given or creating:
        # Not trimmed: a URL with spaces around it is refused (by the host policy) rather than
        # guessed at, as one with spaces inside is; empty means Twilio's default.
        base_url = raw.get("baseUrl") or DEFAULT_BASE_URL
        try:
            out.values["baseUrl"] = policy.check_url(base_url)
        except HostPolicyError as refusal:
            out.fail("baseUrl", ErrorCode.INVALID, str(refusal))

    if "dltEntityId" in given:
        dlt = given["dltEntityId"]
        if dlt == "":
            out.values["dltEntityId"] = None
        elif DLT_ENTITY_ID.fullmatch(dlt):
            out.values["dltEntityId"] = dlt
        else:
            out.fail("dltEntityId", ErrorCode.INVALID)

    if "displayName" in given:
        name = given["displayName"]
        if len(name) > MAX_DISPLAY_NAME:
            out.fail(
                "displayName",
                ErrorCode.INVALID,
                f"Display Name must be at most {MAX_DISPLAY_NAME} characters "
                f"(this one has {len(name)}).",
            )
        else:
            out.values["displayName"] = name or None  # empty: default from the sender
    return out


def _clean_auth_token(token: str, out: CleanFields) -> None:
    # Messages here never quote the token, not even in part.
    if token == "":
        out.fail("authToken", ErrorCode.REQUIRED)
    elif any(character.isspace() for character in token):
        out.fail(
            "authToken",
            ErrorCode.INVALID,
            "Auth Token must not contain spaces or line breaks: copy it again from the Twilio "
            "Console.",
        )
    elif len(token) > MAX_AUTH_TOKEN:
        out.fail(
            "authToken",
            ErrorCode.INVALID,
            f"Auth Token is longer than {MAX_AUTH_TOKEN} characters: paste only the token.",
        )
    else:
        out.values["authToken"] = token
