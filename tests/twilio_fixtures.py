"""Twilio responses built from Twilio's official OpenAPI spec (the parts vendored in
``tests/fixtures/twilio-oai``), and a check that a request the client sent is one the spec defines
(path, method, parameters)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
OTHER_SID = "AC" + "f" * 32
SPEC_DIR = Path(__file__).resolve().parent / "fixtures" / "twilio-oai"


@cache
def spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def api_spec() -> dict[str, Any]:
    return spec("twilio_api_v2010.json")


def messaging_spec() -> dict[str, Any]:
    return spec("twilio_messaging_v1.json")


def _example(document: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    content = document["paths"][path][method]["responses"][status]["content"]["application/json"]
    example = next(iter(content["examples"].values()))["value"]
    return copy.deepcopy(example)


def account(
    sid: str = ACCOUNT_SID, *, status: str = "active", type: str = "Full"
) -> dict[str, Any]:
    """The account resource, as Twilio's spec example, for ``sid``."""
    body = _example(api_spec(), "/2010-04-01/Accounts/{Sid}.json", "get", "200")
    enums = api_spec()["components"]["schemas"]
    assert status in enums["account_enum_status"]["enum"]
    assert type in enums["account_enum_type"]["enum"]
    text = json.dumps(body).replace("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", sid)
    body = json.loads(text)
    assert isinstance(body, dict)
    body.update(status=status, type=type, auth_token="a-real-looking-upstream-auth-token")
    return body


def incoming_numbers(*numbers: tuple[str, bool], sid: str = ACCOUNT_SID) -> dict[str, Any]:
    """The IncomingPhoneNumbers list (spec example) holding ``(phone_number, sms capable)``."""
    body = _example(
        api_spec(), "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json", "get", "200"
    )
    template = body["incoming_phone_numbers"][0]
    body["incoming_phone_numbers"] = []
    for phone, sms in numbers:
        item = copy.deepcopy(template)
        item.update(account_sid=sid, phone_number=phone)
        item["capabilities"] = {**item["capabilities"], "sms": sms}
        body["incoming_phone_numbers"].append(item)
    return body


def messaging_service(sid: str, account_sid: str = ACCOUNT_SID) -> dict[str, Any]:
    body = _example(messaging_spec(), "/v1/Services/{Sid}", "get", "200")
    body.update(sid=sid, account_sid=account_sid)
    return body


def error(code: int, status: int, message: str = "Twilio says no") -> dict[str, Any]:
    """Twilio's error body (the REST API's documented shape)."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _operation(document: dict[str, Any], request: httpx.Request) -> dict[str, Any] | None:
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            operation: dict[str, Any] | None = item.get(request.method.lower())
            return operation
    return None


def assert_request_matches_spec(request: httpx.Request) -> None:
    """The path, method and query parameters are ones Twilio's spec defines; auth is Basic."""
    document = messaging_spec() if request.url.path.startswith("/v1/") else api_spec()
    operation = _operation(document, request)
    assert operation is not None, f"{request.method} {request.url.path} is not in Twilio's spec"
    allowed = {parameter["name"] for parameter in operation.get("parameters", [])}
    for name, _ in parse_qsl(urlsplit(str(request.url)).query):
        assert name in allowed, f"{name} is not a parameter of {request.url.path}"
    assert request.headers["authorization"].startswith("Basic ")
    if request.method == "POST":
        body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
        fields = set(body["schema"]["properties"])
        for name, _ in parse_qsl(request.content.decode()):
            assert name in fields, f"{name} is not a field of {request.url.path}"
