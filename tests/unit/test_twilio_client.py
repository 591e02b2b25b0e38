"""Pure parts of the Twilio client: the messaging host, backoff, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from providers.sms.port import Credentials
from providers.sms.twilio.client import RetryPolicy, _retry_after, messaging_base


@pytest.mark.parametrize(
    ("base", "messaging"),
    [
        ("https://api.twilio.com/", "https://messaging.twilio.com/"),
        ("https://api.dublin.ie1.twilio.com/", "https://messaging.dublin.ie1.twilio.com/"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/"),
        ("http://localhost:9/twilio/", "http://localhost:9/twilio/"),
    ],
)
def test_the_messaging_host_sits_beside_the_api_host(base: str, messaging: str) -> None:
    assert messaging_base(base) == messaging


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=8)
    for attempt in range(6):
        ceiling = min(8, 0.5 * 2**attempt)
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    dated = _retry_after(httpx.Response(429, headers={"Retry-After": later}))
    assert dated is not None
    assert 25 < dated <= 30
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    superscript = httpx.Response(429, headers=[(b"Retry-After", "²".encode("latin-1"))])
    assert _retry_after(superscript) is None  # str.isdigit() takes it; float() does not
    assert _retry_after(httpx.Response(429)) is None


def test_credentials_never_print_their_token() -> None:
    credentials = Credentials("AC" + "a" * 32, "very-secret-token", "https://api.twilio.com/")
    assert "very-secret-token" not in repr(credentials)
    assert "very-secret-token" not in str(credentials)
