"""Twilio's OpenAPI spec as the tests read it (the parts vendored in ``tests/fixtures/twilio-oai``),
a check that a request the client sent is one the spec defines (path, method, parameters), and
Twilio's responses built from the spec's examples (the product's builders, which the Twilio
stand-in answers with: ``providers/sms/twilio/standin_fixtures.py``)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from providers.sms.twilio.standin_fixtures import (
    ACCOUNT_SID,
    account,
    error,
    incoming_numbers,
    messaging_service,
)

__all__ = [
    "ACCOUNT_SID",
    "OTHER_SID",
    "account",
    "api_spec",
    "assert_request_matches_spec",
    "error",
    "incoming_numbers",
    "messaging_service",
    "messaging_spec",
    "spec",
]

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
