"""A fake MSG91 at the HTTP boundary (respx), built from MSG91's documented shapes (see the
sources in ``providers/sms/msg91/adapter.py`` and ``words.py``): the balance, the v2 JSON send,
and the delivery reports its webhook posts in each version (v2 form, v3 and v4 JSON).

It answers as MSG91 does: the ``authkey`` header names the key; an unknown key is refused with
error 207 in a 200 body; a key whose IP security refuses this server answers 418, as an HTTP
status or as the code of a 200 body (both seen in practice); a send answers the request id.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import respx

BASE = "https://api.msg91.com"
BALANCE_URL = f"{BASE}/api/balance.php"
SEND_URL = f"{BASE}/api/v2/sendsms"
API_KEY = "3f5a0c1e9b7d4a2e8c6f1b3d"
HEADER = "ACMEIN"
ENTITY_ID = "1201159876543210"
TEMPLATE_ID = "1207161234567890123"


def _error(code: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"type": "error", "code": str(code), "message": message})


@dataclass
class FakeMsg91:
    """MSG91 as the tests steer it; ``install`` answers its URLs on a respx router."""

    keys: set[str] = field(default_factory=lambda: {API_KEY})
    # "status": every call answers HTTP 418; "body": 200 with error code 418; None: allowed.
    whitelist_refusal: str | None = None
    sends: list[dict[str, Any]] = field(default_factory=list)
    balance_calls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def install(self, router: respx.Router, base: str = BASE) -> FakeMsg91:
        router.get(f"{base}/api/balance.php").mock(side_effect=self._balance)
        router.post(f"{base}/api/v2/sendsms").mock(side_effect=self._send)
        return self

    def _refusal(self, request: httpx.Request) -> httpx.Response | None:
        assert "authkey" not in str(request.url), "the key must never travel in the URL"
        if self.whitelist_refusal == "status":
            return httpx.Response(418, json={"type": "error", "message": "IP not whitelisted"})
        if self.whitelist_refusal == "body":
            return _error(418, "IP not whitelisted")
        if request.headers.get("authkey") not in self.keys:
            return _error(207, "Invalid authentication key")
        return None

    def _balance(self, request: httpx.Request) -> httpx.Response:
        self.balance_calls += 1
        assert request.url.params.get("type") in ("1", "4")
        return self._refusal(request) or httpx.Response(200, text="1500")

    def _send(self, request: httpx.Request) -> httpx.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        payload = json.loads(request.content)
        assert set(payload) <= {
            "sender",
            "route",
            "country",
            "sms",
            "DLT_TE_ID",
            "PE_ID",
            "unicode",
        }
        assert payload["route"] in ("1", "4")
        [sms] = payload["sms"]
        assert isinstance(sms["message"], str)
        assert sms["to"]
        assert payload["sender"]
        self.sends.append(payload)
        return httpx.Response(
            200, json={"type": "success", "message": self.request_id(len(self.sends))}
        )

    @staticmethod
    def request_id(number: int) -> str:
        """The request id MSG91 answers the ``number``-th send with (24 hex characters)."""
        return f"3763646c3058{number:012d}"


def v2_report(request_id: str, status: int, number: str = "919876543210") -> tuple[str, bytes]:
    """A v2 webhook post: a form whose ``data`` field is a JSON string of requests."""
    data = [
        {
            "senderId": HEADER,
            "requestId": request_id,
            "report": [
                {
                    "date": "2026-12-06 10:06:20",
                    "number": number,
                    "status": str(status),
                    "desc": "DELIVERED" if status == 1 else "FAILED",
                }
            ],
            "userId": "270001",
            "campaignName": "API",
        }
    ]
    return "application/x-www-form-urlencoded", urlencode({"data": json.dumps(data)}).encode()


def v3_report(request_id: str, status: int) -> tuple[str, bytes]:
    """A v3 webhook post: one JSON object."""
    body = {
        "date": "2026-12-06 09:58:16",
        "number": "919876543210",
        "senderId": HEADER,
        "requestId": request_id,
        "userId": "270001",
        "campaignName": "API",
        "status": str(status),
        "desc": "DELIVERED" if status == 1 else "FAILED",
    }
    return "application/json", json.dumps(body).encode()


_EVENT_WORDS = {
    1: "delivered",
    2: "failed",
    9: "ndnc",
    16: "rejected",
    17: "blocked",
    25: "rejected",
}


def v4_report(request_id: str, status: int) -> tuple[str, bytes]:
    """A v4 webhook post: a JSON list of events, each with its data."""
    data = [
        {
            "meta": "0",
            "INMSID": "0",
            "requestId": request_id,
            "description": _EVENT_WORDS[status].upper(),
            "ts": 1726729500,
        }
    ]
    return "application/json", json.dumps([{"data": data, "event": _EVENT_WORDS[status]}]).encode()


REPORT_FORMATS = {"v2": v2_report, "v3": v3_report, "v4": v4_report}
