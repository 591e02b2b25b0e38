"""Twilio's request signature (``X-Twilio-Signature``), as its own validators compute it.

HMAC-SHA1, keyed with the Auth Token, over the full URL Twilio requested followed by the POST
parameters sorted by name, each as name + value (each distinct value of a repeated name, sorted),
base64-encoded. Twilio signs some URLs with the default port and some without, so both count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def compute_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, with its default port, and without it."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != default:
        return [url]
    with_port = urlunsplit(
        (parts.scheme, f"{host}:{default}", parts.path, parts.query, parts.fragment)
    )
    without_port = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return list(dict.fromkeys([url, without_port, with_port]))


def is_valid_signature(
    url: str,
    params: Sequence[tuple[str, str]],
    signature: str | None,
    auth_tokens: Iterable[str],
) -> bool:
    """True when ``signature`` matches any of the tokens for the URL with or without its port."""
    if not signature:
        return False
    given = signature.encode()
    valid = False
    for token in auth_tokens:
        for candidate in url_variants(url):
            expected = compute_signature(candidate, params, token).encode()
            # Every comparison runs, so timing says nothing about which one matched.
            valid |= hmac.compare_digest(expected, given)
    return valid
