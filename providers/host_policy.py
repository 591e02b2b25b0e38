"""SSRF guard for customer-supplied Twilio "Base URL" values.

The server later calls the Base URL with the customer's Twilio credentials, so the URL must
not be pointable at anything other than the hosts the operator allows.  The rules here are
pure: :meth:`HostPolicy.check_url` applies syntax rules only, :meth:`HostPolicy.check_url_resolving`
adds a DNS check of every resolved address, and :meth:`HostPolicy.check_address` re-checks one
address at connect time (against DNS rebinding).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "HostPolicy",
    "HostPolicyError",
    "Resolver",
    "is_twilio_host",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostPolicyError(ValueError):
    """A URL or address the policy refuses; str(err) is a sentence a person can act on."""


Resolver = Callable[[str], Awaitable[list[str]]]
"""Resolve a host name to IP address strings; raises OSError when the name does not resolve."""


async def system_resolver(host: str) -> list[str]:
    """Resolve ``host`` with the event loop's ``getaddrinfo``; returns unique IP strings."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = info[4][0]
        if isinstance(address, str) and address not in addresses:
            addresses.append(address)
    return addresses


DEFAULT_ALLOWED_HOSTS: Final = (
    "api.twilio.com,api.{edge}.{region}.twilio.com,"
    "messaging.twilio.com,messaging.{edge}.{region}.twilio.com"
)
"""The allow-list used when the operator configures nothing: exactly Twilio's REST API hosts
(global, and regional such as api.dublin.ie1.twilio.com), never any other twilio.com name."""

# Placeholder labels a pattern may use. Twilio's edges are lower-case words, some hyphenated
# (sao-paulo, san-jose-ix); its processing regions are two letters and a digit (us1, ie1, au1).
_PLACEHOLDERS: Final = {
    "{edge}": "[a-z0-9]+(?:-[a-z0-9]+)*",
    "{region}": "[a-z]{2}[0-9]",
}

# Twilio's longest Base URLs (regional, with a path) are under 60 characters: 512 leaves room for
# any proxy an operator allows, and keeps a stored URL far from every limit downstream.
MAX_BASE_URL_LENGTH: Final = 512
_MAX_HOST_LENGTH: Final = 253
_AUTHORITY_END_RE: Final = re.compile(r"[/?#]")
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PORT_RE: Final = re.compile(r"[0-9]{1,5}")
_PATH_RE: Final = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})

# Belt and braces next to ``not ip.is_global``: ranges whose ``is_global`` differs between
# Python versions (multicast, for one, counts as global in 3.11).
_INTERNAL_NETWORKS: Final[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("100.64.0.0/10"),
    ipaddress.IPv4Network("127.0.0.0/8"),
    ipaddress.IPv4Network("169.254.0.0/16"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv4Network("192.0.2.0/24"),
    ipaddress.IPv4Network("192.88.99.0/24"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("198.18.0.0/15"),
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("203.0.113.0/24"),
    ipaddress.IPv4Network("224.0.0.0/4"),
    ipaddress.IPv4Network("240.0.0.0/4"),
    ipaddress.IPv6Network("::/127"),
    ipaddress.IPv6Network("::ffff:0:0/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("100::/64"),
    ipaddress.IPv6Network("2001::/23"),
    ipaddress.IPv6Network("2001:db8::/32"),
    ipaddress.IPv6Network("3fff::/20"),
    ipaddress.IPv6Network("5f00::/16"),
    ipaddress.IPv6Network("fc00::/7"),
    ipaddress.IPv6Network("fe80::/10"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("ff00::/8"),
)
_METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    {ipaddress.IPv4Address("169.254.169.254"), ipaddress.IPv6Address("fd00:ec2::254")}
)
_NAT64_PREFIXES: Final = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)

_MSG_PRIVATE: Final = "Base URL host resolves to a private or internal address."
_MSG_IP: Final = "Base URL must not use an IP address."
_MSG_BAD_HOST: Final = "Base URL host is not a valid host name."


@dataclass(frozen=True)
class HostPolicy:
    """An allow-list of hosts a Base URL may point at, plus the rules that go with it.

    ``is_default``: the list is a provider's own API hosts (https only, no port, every address
    public); ``label`` names that provider in the sentences of a refusal."""

    patterns: tuple[str, ...]
    is_default: bool
    label: str = "Twilio"

    def __post_init__(self) -> None:
        """Normalize and validate the patterns (lower-case, stripped, duplicates dropped)."""
        normalized = _normalize_patterns(self.patterns)
        if not normalized:
            raise ValueError("The allowed host list is empty; list at least one host.")
        object.__setattr__(self, "patterns", normalized)

    @classmethod
    def parse(cls, value: str) -> HostPolicy:
        """Build a policy from a comma-separated host list; raises ValueError if it is malformed."""
        patterns = _normalize_patterns(value.split(","))
        if not patterns:
            raise ValueError("The allowed host list is empty; list at least one host.")
        is_default = frozenset(patterns) == _DEFAULT_PATTERN_SET
        return cls(patterns=patterns, is_default=is_default)

    @classmethod
    def provider_default(cls, value: str, label: str) -> HostPolicy:
        """A provider's own API hosts (comma-separated), held to the default list's rules."""
        return cls(patterns=_normalize_patterns(value.split(",")), is_default=True, label=label)

    def check_url(self, url: str) -> str:
        """Apply the syntax rules (no DNS) and return the normalized URL; raises HostPolicyError."""
        return self._check(url).normalized

    async def check_url_resolving(self, url: str, resolver: Resolver) -> str:
        """Like check_url, then refuse a host that resolves to a non-global address."""
        checked = self._check(url)
        if checked.literally_listed and not self.is_default:
            return checked.normalized
        try:
            addresses = await resolver(checked.host)
        except OSError:
            # A name that does not resolve cannot be used to reach anything; the call fails later.
            return checked.normalized
        for address in addresses:
            self.check_address(checked.host, address)
        return checked.normalized

    def check_address(self, host: str, address: str) -> None:
        """Re-check one resolved address for ``host`` at connect time; raises HostPolicyError."""
        try:
            ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
        except ValueError:
            raise HostPolicyError(
                "Base URL host resolved to something that is not an IP address."
            ) from None
        # Only an operator's own list exempts a host: Twilio's names must always resolve publicly.
        if not self.is_default and self.is_literally_listed(host):
            return
        if _is_internal(ip):
            raise HostPolicyError(_MSG_PRIVATE)

    def is_literally_listed(self, host: str) -> bool:
        """Whether ``host`` (any case, optional trailing dot or brackets) is listed exactly."""
        key = _host_key(host)
        return key is not None and key in self.patterns

    # -- internals ---------------------------------------------------------------------------

    def _matches(self, host: str) -> bool:
        for pattern in self.patterns:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif "{" in pattern:
                if _placeholder_regex(pattern).fullmatch(host):
                    return True
            elif host == pattern:
                return True
        return False

    def _check(self, url: str) -> _Checked:
        if len(url) > MAX_BASE_URL_LENGTH:
            raise HostPolicyError(
                f"Base URL is too long: at most {MAX_BASE_URL_LENGTH} characters "
                f"(this one has {len(url)})."
            )
        for ch in url:
            if ch.isspace() or unicodedata.category(ch) in _REFUSED_CATEGORIES:
                raise HostPolicyError("Base URL must not contain spaces or control characters.")
        if "\\" in url:
            raise HostPolicyError("Base URL must not contain backslashes.")

        scheme_part, sep, rest = url.partition("://")
        scheme = scheme_part.lower()
        if not sep or scheme not in _DEFAULT_PORTS:
            if self.is_default:
                raise HostPolicyError("Base URL must start with https://.")
            raise HostPolicyError("Base URL must start with http:// or https://.")
        if self.is_default and scheme != "https":
            raise HostPolicyError(f"Base URL must use https for {self.label}'s hosts.")

        end = _AUTHORITY_END_RE.search(rest)
        authority = rest if end is None else rest[: end.start()]
        if "@" in authority:
            raise HostPolicyError("Base URL must not contain a user name or password.")
        if "?" in rest or "#" in rest:
            raise HostPolicyError("Base URL must not contain a query string or fragment.")
        path = rest[len(authority) :]

        host_text, port = _split_authority(authority)
        if port is not None and self.is_default and port != _DEFAULT_PORTS["https"]:
            raise HostPolicyError(f"Base URL must not set a port for {self.label}'s hosts.")

        host, key, is_ip = _url_host(host_text)
        listed = key in self.patterns
        if is_ip:
            if not listed:
                raise HostPolicyError(_MSG_IP)
        elif not listed and not self._matches(host):
            raise HostPolicyError(
                f"Base URL host {host} is not an allowed {self.label} host "
                f"(allowed: {', '.join(self.patterns)})."
            )

        path = _check_path(path)
        port_part = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
        url_host = key.replace("%", "%25") if is_ip and key.startswith("[") else key
        return _Checked(
            normalized=f"{scheme}://{url_host}{port_part}{path}",
            host=host,
            literally_listed=listed,
        )


@dataclass(frozen=True)
class _Checked:
    normalized: str
    host: str  # what to resolve: ASCII name, or an IP literal without brackets
    literally_listed: bool


def _split_authority(authority: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` / ``[v6][:port]``; the host is returned as written."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise HostPolicyError(_MSG_BAD_HOST)
        host_text, after = authority[: end + 1], authority[end + 1 :]
        if after and not after.startswith(":"):
            raise HostPolicyError(_MSG_BAD_HOST)
        port_text = after[1:] if after else None
    elif authority.count(":") > 1:
        raise HostPolicyError(_MSG_BAD_HOST)
    else:
        host_text, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
    if not host_text:
        raise HostPolicyError("Base URL must include a host name.")
    if port_text is None:
        return host_text, None
    if not _PORT_RE.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise HostPolicyError("Base URL port must be a number from 1 to 65535.")
    return host_text, int(port_text)


def _url_host(host_text: str) -> tuple[str, str, bool]:
    """Validate a URL host; return (host to resolve, key to compare with patterns, is_ip)."""
    if host_text.startswith("["):
        inner = host_text[1:-1].replace("%25", "%", 1)
        ip6 = _parse_ipv6(inner)
        if ip6 is None:
            raise HostPolicyError(_MSG_BAD_HOST)
        return str(ip6), f"[{ip6}]", True
    # Odd spellings are refused, not normalised: what is stored is what is called.
    if "%" in host_text:
        raise HostPolicyError("Base URL host must not be percent-encoded.")
    if not host_text.isascii():
        raise HostPolicyError(
            "Base URL host must be written in plain ASCII (letters, digits, hyphens, dots)."
        )
    if host_text.endswith("."):
        raise HostPolicyError("Base URL host must not end with a dot.")
    if len(host_text) > _MAX_HOST_LENGTH:
        raise HostPolicyError(f"Base URL host is longer than {_MAX_HOST_LENGTH} characters.")
    name = _normalize_name(host_text)
    if name is None:
        raise HostPolicyError(_MSG_BAD_HOST)
    return name, name, _looks_numeric(name)


def _check_path(path: str) -> str:
    """Validate the path and return it ending with ``/`` (empty path becomes ``/``)."""
    if path.startswith("//"):
        raise HostPolicyError("Base URL path must not start with //.")
    if not _PATH_RE.fullmatch(path):
        raise HostPolicyError("Base URL path contains characters that are not allowed.")
    for segment in unquote(path).split("/"):
        if segment in {".", ".."}:
            raise HostPolicyError("Base URL path must not contain . or .. segments.")
    return path if path.endswith("/") else path + "/"


def _normalize_name(text: str) -> str | None:
    """Lower-case, IDNA-encode and strip one trailing dot; None unless it is LDH labels."""
    name = text.lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    name = name.removesuffix(".")
    if not name or len(name) > _MAX_HOST_LENGTH:
        return None
    if not all(_LABEL_RE.fullmatch(label) for label in name.split(".")):
        return None
    return name


def _looks_numeric(name: str) -> bool:
    """Whether an LDH name is really an IPv4 address in some spelling (``127.1``, ``0x7f.1``)."""
    if _NUMERIC_LABEL_RE.fullmatch(name.rsplit(".", 1)[-1]):
        return True
    try:
        socket.inet_aton(name)
    except (OSError, ValueError):
        return False
    return True


def _parse_ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def _host_key(host: str) -> str | None:
    """The form of ``host`` compared with patterns: ``[v6]`` for IPv6, else a normalized name."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace("%25", "%", 1)
    elif ":" not in text:
        return _normalize_name(text)
    ip6 = _parse_ipv6(text)
    return None if ip6 is None else f"[{ip6}]"


def _normalize_pattern(raw: str) -> str:
    """One allow-list entry in canonical form; raises ValueError when it is malformed."""
    pattern = raw.strip().lower()
    problem = (
        f"Allowed host {pattern!r} is not valid: use a host name (api.twilio.com), "
        "a wildcard for subdomains (*.twilio.com) or an IP address, "
        "without scheme, port or path."
    )
    if any(ch.isspace() or unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in pattern):
        raise ValueError(problem)
    if pattern.startswith("[") or ":" in pattern:
        key = _host_key(pattern)
        if key is None:
            raise ValueError(problem)
        return key
    if "%" in pattern:
        raise ValueError(problem)
    if "{" in pattern or "}" in pattern:
        return _placeholder_pattern(pattern, problem)
    wildcard = pattern.startswith("*.")
    name = _normalize_name(pattern[2:] if wildcard else pattern)
    if name is None:
        raise ValueError(problem)
    if wildcard:
        if _looks_numeric(name):
            raise ValueError(problem)
        return f"*.{name}"
    return name


def _placeholder_pattern(pattern: str, problem: str) -> str:
    """A pattern with whole-label placeholders (``api.{edge}.{region}.twilio.com``)."""
    labels = pattern.split(".")
    fixed = [label for label in labels if label not in _PLACEHOLDERS]
    if len(fixed) < 2 or not all(_LABEL_RE.fullmatch(label) for label in fixed):
        raise ValueError(problem)
    if labels[-1] in _PLACEHOLDERS or labels[-2] in _PLACEHOLDERS:
        raise ValueError(problem)  # the registered domain itself must be spelled out
    return pattern


@functools.lru_cache(maxsize=64)
def _placeholder_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(
        r"\.".join(_PLACEHOLDERS.get(label) or re.escape(label) for label in pattern.split("."))
    )


def _normalize_patterns(values: Iterable[str]) -> tuple[str, ...]:
    patterns: list[str] = []
    for raw in values:
        if not raw.strip():
            continue
        pattern = _normalize_pattern(raw)
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


_DEFAULT_PATTERN_SET: Final = frozenset(_normalize_patterns(DEFAULT_ALLOWED_HOSTS.split(",")))
_TWILIO_HOST_RES: Final = tuple(
    _placeholder_regex(pattern) if "{" in pattern else re.compile(re.escape(pattern))
    for pattern in _DEFAULT_PATTERN_SET
)


def is_twilio_host(host: str) -> bool:
    """One of Twilio's own REST API hosts (the default allow-list), whatever the policy is."""
    return any(regex.fullmatch(host) for regex in _TWILIO_HOST_RES)


_TRANSLATION_NETWORKS: Final = (
    ipaddress.IPv6Network("::ffff:0:0/96"),
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("2002::/16"),
    ipaddress.IPv6Network("2001::/32"),
)


def _unwrap(ip: IPAddress) -> list[IPAddress]:
    """The address plus any IPv4 address embedded in it (mapped, compat, NAT64, 6to4, Teredo)."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv4Address):
        return found
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    value = int(ip)
    if 1 < value < 2**32:  # IPv4-compatible ::a.b.c.d (:: and ::1 are internal on their own)
        found.append(ipaddress.IPv4Address(value))
    if any(ip in prefix for prefix in _NAT64_PREFIXES):
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _is_internal(ip: IPAddress) -> bool:
    """Whether the address, or one embedded in it, is not globally routable."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return True  # a zone id only makes sense for link-local and other scoped addresses
    found = _unwrap(ip)
    # A well-known translated form is judged by the IPv4 address it carries; any other (such as
    # the local-use NAT64 prefix) must pass as itself too.
    translated = any(ip in network for network in _TRANSLATION_NETWORKS) and len(found) > 1
    for candidate in found[1:] if translated else found:
        if (
            not candidate.is_global
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_private
            or candidate in _METADATA_ADDRESSES
            or any(candidate in network for network in _INTERNAL_NETWORKS)
        ):
            return True
    return False
