"""Twilio's answers for the Twilio stand-in (and the tests), built from the examples of Twilio's
OpenAPI description: the operations the stand-in serves, vendored in ``oai/`` as package data
with Twilio's MIT licence (``scripts/vendor_twilio_oai.py`` trims them). Nothing here reads
``tests/``.

Also what the stand-in checks a POST against: the form fields Twilio's description lists for the
operation, with their types, enums, patterns and URL formats (``form_problem``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from domain.text import segments

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
# The stand-in's own, printed for pasting by dev-twilio: it opens nothing real.
AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef90"  # noqa: S105
PHONE = "+14155550123"
SERVICE_PHONE = "+14155550124"  # the Messaging Service's sender
MG_SID = "MG" + "fedcba9876543210" * 2
API = "twilio_api_v2010.json"
MESSAGING = "twilio_messaging_v1.json"
ACCOUNT_PATH = "/2010-04-01/Accounts/{Sid}.json"
NUMBERS_PATH = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
NUMBER_PATH = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
SERVICE_PATH = "/v1/Services/{Sid}"
_EXAMPLE_ACCOUNT = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@cache
def spec(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("oai", name).read_text(encoding="utf-8")
    )
    return loaded


def operation(name: str, path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = spec(name)["paths"][path][method]
    return found


def example(name: str, path: str, method: str, status: str, which: str | None = None) -> Any:
    """A response example of the operation (the first one unless ``which`` names another)."""
    content = operation(name, path, method)["responses"][status]["content"]["application/json"]
    examples = content["examples"]
    chosen = examples[which] if which else next(iter(examples.values()))
    return copy.deepcopy(chosen["value"])


def now() -> str:
    """A timestamp as the 2010-04-01 API writes them (RFC 2822, UTC)."""
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


def pn_sid(phone_number: str) -> str:
    """A number's SID, the same on every run for the same number."""
    return "PN" + hashlib.sha256(phone_number.encode()).hexdigest()[:32]


def account(
    sid: str = ACCOUNT_SID, *, status: str = "active", type: str = "Full"
) -> dict[str, Any]:
    """The account resource, as Twilio's spec example, for ``sid``."""
    enums = spec(API)["components"]["schemas"]
    if status not in enums["account_enum_status"]["enum"]:
        raise ValueError(f"{status!r} is not an account status")
    if type not in enums["account_enum_type"]["enum"]:
        raise ValueError(f"{type!r} is not an account type")
    body = example(API, ACCOUNT_PATH, "get", "200")
    body = json.loads(json.dumps(body).replace(_EXAMPLE_ACCOUNT, sid))
    # Twilio's account resource carries the token: the service must never log or keep it.
    body.update(status=status, type=type, auth_token="a-real-looking-upstream-auth-token")  # noqa: S106
    return dict(body)


def incoming_number(
    phone_number: str, *, sms: bool = True, account_sid: str = ACCOUNT_SID
) -> dict[str, Any]:
    """The IncomingPhoneNumber resource (spec example) of ``phone_number``, no webhook set."""
    body = example(API, NUMBER_PATH, "get", "200")
    sid = pn_sid(phone_number)
    body.update(
        account_sid=account_sid,
        phone_number=phone_number,
        friendly_name=phone_number,
        sid=sid,
        uri=f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
    )
    body["capabilities"] = {**body["capabilities"], "sms": sms}
    return dict(body)


def incoming_numbers(
    *numbers: tuple[str, bool], sid: str = ACCOUNT_SID, query: str = ""
) -> dict[str, Any]:
    """The IncomingPhoneNumbers list (spec example) holding ``(phone_number, sms capable)``."""
    items = [incoming_number(phone, sms=sms, account_sid=sid) for phone, sms in numbers]
    return number_page(items, sid=sid, query=query)


def number_page(items: list[dict[str, Any]], *, sid: str, query: str) -> dict[str, Any]:
    """One page of the IncomingPhoneNumbers list holding ``items`` (the whole list)."""
    body = example(API, NUMBERS_PATH, "get", "200")
    uri = f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json" + (f"?{query}" if query else "")
    body.update(
        incoming_phone_numbers=items,
        start=0,
        end=max(len(items) - 1, 0),
        uri=uri,
        first_page_uri=uri,
    )
    return dict(body)


def messaging_service(sid: str, account_sid: str = ACCOUNT_SID) -> dict[str, Any]:
    """The Messaging Service resource (spec example) as ``sid``."""
    body = example(MESSAGING, SERVICE_PATH, "get", "200")
    body = json.loads(json.dumps(body).replace(_EXAMPLE_ACCOUNT, account_sid))
    body = json.loads(json.dumps(body).replace(body["sid"], sid))
    return dict(body)


def message(
    sid: str,
    *,
    account_sid: str,
    to: str,
    body: str,
    sender: str | None,
    service_sid: str | None,
) -> dict[str, Any]:
    """A new outbound Message (the spec's create example), queued: ``sender`` is None when a
    Messaging Service picks it later, as Twilio answers."""
    which = "createWithMessagingService" if service_sid else "createWoService"
    answer = example(API, MESSAGES_PATH, "post", "201", which)
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    stamp = now()
    answer.update(
        account_sid=account_sid,
        sid=sid,
        to=to,
        body=body,
        status="queued",
        messaging_service_sid=service_sid,
        num_segments=str(segments(body)),
        date_created=stamp,
        date_updated=stamp,
        date_sent=None,
        uri=f"{uri}.json",
        subresource_uris={"media": f"{uri}/Media.json"},
    )
    answer["from"] = sender
    return dict(answer)


def error(code: int, status: int, message: str = "Twilio says no") -> dict[str, Any]:
    """Twilio's error body (the REST API's documented shape)."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@cache
def form_fields(name: str, path: str, method: str) -> dict[str, dict[str, Any]]:
    """The form fields the operation takes, each schema with its ``$ref`` resolved."""
    body = operation(name, path, method)["requestBody"]
    properties = body["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    schemas = spec(name)["components"]["schemas"]
    fields = {}
    for field, schema in properties.items():
        reference = schema.get("$ref")
        fields[field] = schemas[reference.rsplit("/", 1)[1]] if reference else schema
    return fields


def form_problem(
    fields: Mapping[str, Mapping[str, Any]], form: Sequence[tuple[str, str]]
) -> str | None:
    """The first field of ``form`` the operation does not take, or whose value is not of its
    described type; None when all are fine. An empty value clears a field, as on Twilio."""
    for name, value in form:
        schema = fields.get(name)
        if schema is None:
            return name
        if value == "":
            continue
        if not _fits(schema, value):
            return name
    return None


def _fits(schema: Mapping[str, Any], value: str) -> bool:
    kind = schema.get("type")
    if kind == "boolean":
        return value.lower() in ("true", "false")
    if kind == "integer":
        return re.fullmatch(r"-?[0-9]+", value) is not None
    if kind == "number":
        return re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value) is not None
    if "enum" in schema and value not in schema["enum"]:
        return False
    pattern = schema.get("pattern")
    if pattern is not None and re.fullmatch(pattern.strip("^$"), value) is None:
        return False
    if schema.get("format") == "uri":
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    return True


def resource_key(field: str) -> str:
    """The resource's key for a form field: ``SmsUrl`` → ``sms_url``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


def coerced(schema: Mapping[str, Any], value: str) -> object:
    """A form value as the resource shows it."""
    if value == "":
        return value
    if schema.get("type") == "boolean":
        return value.lower() == "true"
    if schema.get("type") == "integer":
        return int(value)
    return value
