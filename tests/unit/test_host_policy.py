"""Tests for the Base URL SSRF guard in providers.host_policy."""

from __future__ import annotations

import dataclasses

import pytest

from providers.host_policy import (
    DEFAULT_ALLOWED_HOSTS,
    MAX_BASE_URL_LENGTH,
    HostPolicy,
    HostPolicyError,
    Resolver,
    system_resolver,
)

DEFAULT = HostPolicy.parse(DEFAULT_ALLOWED_HOSTS)
LOCAL = HostPolicy.parse("localhost,127.0.0.1,[::1]")
CUSTOM = HostPolicy.parse("twilio.example.test,*.example.com")


def fixed_resolver(*addresses: str) -> Resolver:
    """A resolver that answers every name with the given addresses."""

    async def resolve(host: str) -> list[str]:
        return list(addresses)

    return resolve


async def unresolvable(host: str) -> list[str]:
    raise OSError(f"{host} does not resolve")


# -- parse ---------------------------------------------------------------------------------------


def test_the_default_list_parses_into_the_default_policy() -> None:
    assert DEFAULT.patterns == (
        "api.twilio.com",
        "api.{edge}.{region}.twilio.com",
        "messaging.twilio.com",
        "messaging.{edge}.{region}.twilio.com",
    )
    assert DEFAULT.is_default


def test_the_default_patterns_in_another_order_and_case_are_still_the_default() -> None:
    policy = HostPolicy.parse(
        " messaging.{edge}.{region}.Twilio.COM ,API.twilio.com,api.twilio.com,"
        "messaging.twilio.com, api.{edge}.{region}.twilio.com"
    )
    assert policy.is_default
    assert policy.patterns[0] == "messaging.{edge}.{region}.twilio.com"


def test_the_old_subdomain_wildcard_is_no_longer_the_default() -> None:
    assert not HostPolicy.parse("api.twilio.com,*.twilio.com").is_default


def test_a_custom_list_is_not_the_default() -> None:
    assert not LOCAL.is_default
    assert not HostPolicy.parse("api.twilio.com").is_default


def test_patterns_are_lower_cased_stripped_and_ipv6_is_bracketed() -> None:
    policy = HostPolicy.parse(" LocalHost , ::1 ,, [0:0::2], bücher.example. ,")
    assert policy.patterns == ("localhost", "[::1]", "[::2]", "xn--bcher-kva.example")


def test_a_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.is_default = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        ",",
        " , ,",
        "*.",
        "*",
        "a*b",
        "*a.example.com",
        "a.*.example.com",
        "*.*.example.com",
        "https://api.twilio.com",
        "api.twilio.com:443",
        "api.twilio.com/path",
        "user@api.twilio.com",
        "api twilio.com",
        "api..twilio.com",
        "-api.twilio.com",
        "api_x.twilio.com",
        "[::1",
        "[not-an-ip]",
        "*.0.0.1",
        "api.twilio.com,a*b",
        "%61pi.twilio.com",
    ],
)
def test_parse_refuses_an_empty_list_or_a_malformed_pattern(value: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        HostPolicy.parse(value)


def test_constructing_a_policy_directly_normalizes_and_validates_patterns() -> None:
    assert HostPolicy(patterns=("API.twilio.com",), is_default=False).patterns == (
        "api.twilio.com",
    )
    with pytest.raises(ValueError, match="not valid"):
        HostPolicy(patterns=("a*b",), is_default=False)
    with pytest.raises(ValueError, match="empty"):
        HostPolicy(patterns=(), is_default=False)


# -- allowed URLs and normalization --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.twilio.com/", "https://api.twilio.com/"),
        ("https://api.twilio.com", "https://api.twilio.com/"),
        ("HTTPS://API.Twilio.com", "https://api.twilio.com/"),
        ("https://api.dublin.ie1.twilio.com/", "https://api.dublin.ie1.twilio.com/"),
        ("https://messaging.twilio.com/v1", "https://messaging.twilio.com/v1/"),
        ("https://api.twilio.com:443/", "https://api.twilio.com/"),
        ("https://api.twilio.com/2010-04-01/", "https://api.twilio.com/2010-04-01/"),
        ("https://api.twilio.com/A/b%20c", "https://api.twilio.com/A/b%20c/"),
        ("https://api.twilio.com/a//b/", "https://api.twilio.com/a//b/"),
        ("https://api.sydney.au1.twilio.com/", "https://api.sydney.au1.twilio.com/"),
        ("https://api.sao-paulo.br1.twilio.com", "https://api.sao-paulo.br1.twilio.com/"),
        ("https://api.ashburn-ix.us1.twilio.com/", "https://api.ashburn-ix.us1.twilio.com/"),
        ("https://messaging.dublin.ie1.twilio.com/", "https://messaging.dublin.ie1.twilio.com/"),
    ],
)
def test_the_default_policy_allows_and_normalizes_twilio_urls(url: str, expected: str) -> None:
    assert DEFAULT.check_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8765/", "http://localhost:8765/"),
        ("http://LOCALHOST:8765", "http://localhost:8765/"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9/"),
        ("http://127.0.0.1:80/", "http://127.0.0.1/"),
        ("https://127.0.0.1:443/", "https://127.0.0.1/"),
        ("https://localhost:80/", "https://localhost:80/"),
        ("http://[::1]:8765/", "http://[::1]:8765/"),
        ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
        ("http://localhost:1/", "http://localhost:1/"),
        ("http://localhost:65535/", "http://localhost:65535/"),
    ],
)
def test_a_custom_list_allows_http_https_and_any_port(url: str, expected: str) -> None:
    assert LOCAL.check_url(url) == expected


def test_an_ipv6_pattern_works_with_or_without_brackets() -> None:
    assert HostPolicy.parse("::1").check_url("http://[::1]:8765/") == "http://[::1]:8765/"
    assert HostPolicy.parse("[::1]").check_url("http://[::1]:8765/") == "http://[::1]:8765/"


def test_a_listed_ipv6_address_with_a_zone_id_is_allowed_and_re_encoded() -> None:
    policy = HostPolicy.parse("[fe80::1%eth0]")
    assert policy.check_url("http://[fe80::1%25eth0]/") == "http://[fe80::1%25eth0]/"


# -- host matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://a.example.com/", "https://a.b.example.com/", "https://A.Example.COM/"],
)
def test_a_subdomain_wildcard_matches_subdomains_at_any_depth(url: str) -> None:
    CUSTOM.check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/", "https://evilexample.com/", "https://a.example.com.evil.com/"],
)
def test_a_subdomain_wildcard_does_not_match_the_bare_domain_or_lookalikes(url: str) -> None:
    with pytest.raises(HostPolicyError, match="is not an allowed Twilio host"):
        CUSTOM.check_url(url)


def test_an_exact_pattern_matches_only_that_host() -> None:
    CUSTOM.check_url("https://twilio.example.test/")
    with pytest.raises(HostPolicyError, match="not an allowed"):
        CUSTOM.check_url("https://a.twilio.example.test/")


@pytest.mark.parametrize(
    "url",
    [
        "https://twilio.com/",
        "https://evil.com/",
        "https://api.twilio.com.evil.com/",
        "https://evil-twilio.com/",
        "https://apitwilio.com/",
        "https://localhost/",
        # Lookalike subdomains of twilio.com: only the REST API's own names are Twilio's API.
        "https://evil.twilio.com/",
        "https://demo.twilio.com/",
        "https://api.evil.twilio.com/",
        "https://evil.api.twilio.com/",
        "https://api.ie1.twilio.com/",
        "https://api.a.b.ie1.twilio.com/",
        "https://api.dublin.ie11.twilio.com/",
        "https://api.dublin.i1.twilio.com/",
        "https://api.dublin.ie.twilio.com/",
        "https://api.dublin.1e1.twilio.com/",
        "https://api.dublin.ie1.twilio.com.evil.com/",
        "https://api.dublin.ie1.evil.com/",
        "https://messaging.evil.twilio.com/",
        "https://sms.dublin.ie1.twilio.com/",
        "https://api.dublin.ie1.twilio.co/",
        "https://xn--pi-7ba.twilio.com/",
    ],
)
def test_the_default_policy_refuses_hosts_that_are_not_twilio(url: str) -> None:
    with pytest.raises(HostPolicyError, match="is not an allowed Twilio host"):
        DEFAULT.check_url(url)


def test_the_not_allowed_message_names_the_host_and_the_allowed_list() -> None:
    with pytest.raises(HostPolicyError) as info:
        DEFAULT.check_url("https://evil.com/")
    assert str(info.value) == (
        "Base URL host evil.com is not an allowed Twilio host "
        "(allowed: api.twilio.com, api.{edge}.{region}.twilio.com, messaging.twilio.com, "
        "messaging.{edge}.{region}.twilio.com)."
    )


# -- scheme and port -----------------------------------------------------------------------------


def test_the_default_policy_refuses_http() -> None:
    with pytest.raises(HostPolicyError, match=r"^Base URL must use https for Twilio's hosts\.$"):
        DEFAULT.check_url("http://api.twilio.com/")


@pytest.mark.parametrize("port", ["8443", "80", "1", "444"])
def test_the_default_policy_refuses_an_explicit_non_default_port(port: str) -> None:
    with pytest.raises(HostPolicyError, match="port"):
        DEFAULT.check_url(f"https://api.twilio.com:{port}/")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://localhost/",
        "file:///etc/passwd",
        "gopher://localhost/",
        "localhost:8765",
        "//localhost/",
        "http:/localhost/",
        "http:localhost",
        "",
    ],
)
def test_a_scheme_other_than_http_or_https_is_refused(url: str) -> None:
    with pytest.raises(HostPolicyError, match="must start with http"):
        LOCAL.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:0/",
        "http://localhost:65536/",
        "http://localhost:99999/",
        "http://localhost:http/",
        "http://localhost:-1/",
        "http://localhost:+80/",
        "http://localhost:8a/",
        "http://localhost:/",
        "http://localhost:١٢/",
        "http://localhost:80:80/",
    ],
)
def test_a_port_that_is_not_numeric_or_out_of_range_is_refused(url: str) -> None:
    with pytest.raises(HostPolicyError):
        LOCAL.check_url(url)


# -- user info, query, fragment, characters ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user@api.twilio.com/",
        "https://user:pw@api.twilio.com/",
        "https://:pw@api.twilio.com/",
        "https://@api.twilio.com/",
        "https://api.twilio.com@evil.com/",
        "https://AC123:s3cr3t-token@api.twilio.com/",
    ],
)
def test_user_info_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(HostPolicyError) as info:
        DEFAULT.check_url(url)
    assert str(info.value) == "Base URL must not contain a user name or password."


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/?",
        "https://api.twilio.com/#",
        "https://api.twilio.com?",
        "https://api.twilio.com#",
        "https://api.twilio.com/?a=b",
        "https://api.twilio.com/path#frag",
        "https://api.twilio.com?@evil.com/",
    ],
)
def test_a_query_string_or_fragment_is_refused_even_when_empty(url: str) -> None:
    with pytest.raises(HostPolicyError) as info:
        DEFAULT.check_url(url)
    assert str(info.value) == "Base URL must not contain a query string or fragment."


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com\\@evil.com/",
        "https://evil.com\\.twilio.com/",
        "https://api.twilio.com/a\\b",
    ],
)
def test_backslashes_are_refused(url: str) -> None:
    with pytest.raises(HostPolicyError, match="backslash"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        " https://api.twilio.com/",
        "https://api.twilio.com/ ",
        "https://api.twilio.com /",
        "https://api.twilio.com/a b",
        "https://api.twilio.com/\t",
        "https://api.twilio.com/\n",
        "https://api.twilio.com\r\n/",
        "https://api.twilio.com/\x00",
        "https://api.twilio.com/\x7f",
        "https://api\u200b.twilio.com/",
        "https://api.twilio.com/\u00a0",
        "https://api.twilio.com/\u2028",
    ],
)
def test_whitespace_and_control_characters_are_refused_anywhere(url: str) -> None:
    with pytest.raises(HostPolicyError, match="spaces or control characters"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://%61pi.twilio.com/", "https://api.twilio%2ecom/", "https://api%2etwilio.com/"],
)
def test_a_percent_encoded_host_is_refused(url: str) -> None:
    with pytest.raises(HostPolicyError, match="percent-encoded"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize("url", ["https:///", "https://", "https://:443/", "http://:8765/"])
def test_an_empty_host_is_refused(url: str) -> None:
    with pytest.raises(HostPolicyError, match="must include a host name"):
        LOCAL.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api..twilio.com/",
        "https://.api.twilio.com/",
        "https://-api.twilio.com/",
        "https://api-.twilio.com/",
        "https://api_x.twilio.com/",
        "https://api!.twilio.com/",
        "https://*.twilio.com/",
        f"https://{'a' * 64}.twilio.com/",
        "https://[api.twilio.com]/",
        "https://[::1/",
        "https://[::1]x/",
        "https://::1/",
    ],
)
def test_a_host_that_is_not_ascii_ldh_labels_is_refused(url: str) -> None:
    with pytest.raises(HostPolicyError, match="not a valid host name"):
        DEFAULT.check_url(url)


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("https://api.twilio.com./", "must not end with a dot"),
        ("https://api.twilio.com../", "must not end with a dot"),
        ("https://api.dublin.ie1.twilio.com.:443/", "must not end with a dot"),
        ("https://bücher.twilio.com/", "plain ASCII"),
        ("https://ＡＰＩ.twilio.com/", "plain ASCII"),
        ("https://api\uff0etwilio\u3002com/", "plain ASCII"),
        ("https://a\uff0fb.twilio.com/", "plain ASCII"),
        ("https://a\ufffd.twilio.com/", "plain ASCII"),
        ("https://evil.com\uff20.twilio.com/", "plain ASCII"),
        ("https://аpi.twilio.com/", "plain ASCII"),  # a Cyrillic а
        ("https://127.0.0.1./", "must not end with a dot"),
        ("https://\uff11\uff12\uff17.0.0.1/", "plain ASCII"),
        ("https://api.twilio.com\u00a0/", "spaces or control"),
        ("https://api.\u2009twilio.com/", "spaces or control"),
        ("https://api.twil\u200bio.com/", "spaces or control"),
        ("https://" + "a." * 125 + "api.twilio.com/", "longer than 253"),
        ("https://api.twilio.com/" + "a" * 490, "too long"),
    ],
)
def test_odd_spellings_are_refused_not_normalised(url: str, refusal: str) -> None:
    for policy in (DEFAULT, CUSTOM, LOCAL):
        with pytest.raises(HostPolicyError, match=refusal):
            policy.check_url(url)


def test_a_url_of_exactly_512_characters_is_still_allowed_and_one_more_is_not() -> None:
    url = "https://api.twilio.com/" + "a" * (512 - len("https://api.twilio.com/") - 1) + "/"
    assert len(url) == MAX_BASE_URL_LENGTH == 512
    assert DEFAULT.check_url(url) == url
    with pytest.raises(HostPolicyError, match="at most 512 characters \\(this one has 513\\)"):
        DEFAULT.check_url(url + "b")


@pytest.mark.parametrize(
    "pattern",
    [
        "{edge}.twilio.com.{region}",
        "api.{edge}.{region}",
        "api.{region}.{edge}x.twilio.com",
        "api.{zone}.twilio.com",
        "api.{edge.twilio.com",
        "{edge}.{region}",
    ],
)
def test_a_placeholder_pattern_must_spell_out_its_domain_and_use_whole_labels(
    pattern: str,
) -> None:
    with pytest.raises(ValueError, match="not valid"):
        HostPolicy.parse(pattern)


# -- IP literals and numeric spellings -----------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "52.0.0.1",
        "169.254.169.254",
        "0x7f000001",
        "0X7F000001",
        "2130706433",
        "127.1",
        "0177.0.0.1",
        "0x7f.1",
        "0x7f.0x0.0x0.0x1",
        "1.2.3.4.5",
        "a.b.0x1",
        "a.1",
        "0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[2600::1]",
        "[fe80::1%25eth0]",
    ],
)
@pytest.mark.parametrize("policy", [DEFAULT, CUSTOM, HostPolicy.parse("localhost")])
def test_ip_literals_and_numeric_spellings_are_refused_unless_listed(
    policy: HostPolicy, host: str
) -> None:
    with pytest.raises(HostPolicyError, match=r"^Base URL must not use an IP address\.$"):
        policy.check_url(f"https://{host}/")


def test_a_wildcard_never_matches_a_numeric_host() -> None:
    policy = HostPolicy.parse("*.example.com")
    with pytest.raises(HostPolicyError, match="IP address"):
        policy.check_url("https://1.2.3.4/")


@pytest.mark.parametrize(
    ("patterns", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8765/"),
        ("127.1", "http://127.1/"),
        ("0x7f000001", "http://0X7F000001:9/"),
        ("10.0.0.5", "https://10.0.0.5/"),
        ("::1", "http://[::1]/"),
        ("[::ffff:127.0.0.1]", "http://[::ffff:7f00:1]/"),
    ],
)
def test_an_ip_host_is_allowed_when_that_exact_host_is_listed(patterns: str, url: str) -> None:
    HostPolicy.parse(patterns).check_url(url)


def test_listing_one_spelling_of_an_address_does_not_allow_another() -> None:
    policy = HostPolicy.parse("127.0.0.1")
    for url in ("http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://[::1]/"):
        with pytest.raises(HostPolicyError, match="IP address"):
            policy.check_url(url)


# -- path ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/.",
        "/..",
        "/./",
        "/../",
        "/a/../b/",
        "/a/./b",
        "/a/..",
        "/%2e%2e/",
        "/%2E/",
        "/.%2e/",
        "/a%2f..%2fb/",
    ],
)
def test_dot_segments_in_the_path_are_refused(path: str) -> None:
    with pytest.raises(HostPolicyError, match=r"\. or \.\. segments"):
        DEFAULT.check_url(f"https://api.twilio.com{path}")


@pytest.mark.parametrize("path", ["//", "//evil.com/", "///a"])
def test_a_path_starting_with_two_slashes_is_refused(path: str) -> None:
    with pytest.raises(HostPolicyError, match="must not start with //"):
        DEFAULT.check_url(f"https://api.twilio.com{path}")


@pytest.mark.parametrize("path", ["/a%zz/", "/a%2/", "/ü/", "/a<b>/", "/a|b", "/a^b", "/`"])
def test_a_path_with_characters_outside_the_url_syntax_is_refused(path: str) -> None:
    with pytest.raises(HostPolicyError, match="path contains characters"):
        DEFAULT.check_url(f"https://api.twilio.com{path}")


def test_dots_inside_a_path_segment_are_fine() -> None:
    assert DEFAULT.check_url("https://api.twilio.com/v1.0/..a/") == (
        "https://api.twilio.com/v1.0/..a/"
    )


def test_an_overly_long_url_is_refused() -> None:
    with pytest.raises(HostPolicyError, match="too long"):
        DEFAULT.check_url("https://api.twilio.com/" + "a" * 3000)


# -- resolving -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.169.254",
        "169.254.1.1",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd00:ec2::254",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::7f00:1",
        "::a00:1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::7f00:1",
        "64:ff9b:1::3400:1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
async def test_a_name_resolving_to_an_internal_address_is_refused(address: str) -> None:
    with pytest.raises(HostPolicyError) as info:
        await DEFAULT.check_url_resolving(
            "https://api.ashburn.us1.twilio.com/", fixed_resolver(address)
        )
    assert str(info.value) == "Base URL host resolves to a private or internal address."


@pytest.mark.parametrize(
    "addresses",
    [
        ["52.0.0.1"],
        ["52.0.0.1", "54.172.60.1"],
        ["2600:1f18::1"],
        ["64:ff9b::3400:1"],
        ["2002:3400:1::"],
        ["::ffff:52.0.0.1"],
        [],
    ],
)
async def test_a_name_resolving_only_to_public_addresses_is_allowed(
    addresses: list[str],
) -> None:
    url = await DEFAULT.check_url_resolving("HTTPS://API.twilio.com", fixed_resolver(*addresses))
    assert url == "https://api.twilio.com/"


async def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(HostPolicyError, match="private or internal"):
        await DEFAULT.check_url_resolving(
            "https://api.ashburn.us1.twilio.com/", fixed_resolver("52.0.0.1", "10.0.0.1")
        )


async def test_a_name_that_does_not_resolve_is_not_refused_for_that() -> None:
    url = await DEFAULT.check_url_resolving("https://api.nowhere.us1.twilio.com/v1", unresolvable)
    assert url == "https://api.nowhere.us1.twilio.com/v1/"


async def test_resolving_still_applies_the_syntax_rules_first() -> None:
    with pytest.raises(HostPolicyError, match="https"):
        await DEFAULT.check_url_resolving("http://api.twilio.com/", fixed_resolver("52.0.0.1"))


async def test_a_literally_listed_host_resolving_to_loopback_is_allowed() -> None:
    url = await LOCAL.check_url_resolving("http://localhost:8765", fixed_resolver("127.0.0.1"))
    assert url == "http://localhost:8765/"


async def test_a_wildcard_matched_host_resolving_to_loopback_is_refused() -> None:
    policy = HostPolicy.parse("localhost,*.localtest.me")
    with pytest.raises(HostPolicyError, match="private or internal"):
        await policy.check_url_resolving("http://a.localtest.me/", fixed_resolver("127.0.0.1"))


async def test_an_exactly_listed_name_is_allowed_even_if_a_wildcard_also_matches() -> None:
    policy = HostPolicy.parse("*.corp.example,twilio.corp.example")
    url = await policy.check_url_resolving(
        "https://twilio.corp.example/", fixed_resolver("10.0.0.7")
    )
    assert url == "https://twilio.corp.example/"


async def test_a_listed_ip_host_is_not_resolved() -> None:
    calls: list[str] = []

    async def recording(host: str) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    assert await LOCAL.check_url_resolving("http://[::1]:9/", recording) == "http://[::1]:9/"
    assert calls == []


async def test_the_resolver_is_given_the_normalized_ascii_host() -> None:
    calls: list[str] = []

    async def recording(host: str) -> list[str]:
        calls.append(host)
        return ["52.0.0.1"]

    await DEFAULT.check_url_resolving("https://API.Dublin.IE1.Twilio.com/", recording)
    assert calls == ["api.dublin.ie1.twilio.com"]


async def test_the_system_resolver_resolves_localhost_to_loopback() -> None:
    addresses = await system_resolver("localhost")
    assert addresses
    assert set(addresses) <= {"127.0.0.1", "::1"}
    assert len(addresses) == len(set(addresses))


async def test_the_system_resolver_raises_oserror_for_a_name_that_does_not_resolve() -> None:
    with pytest.raises(OSError, match=r"."):
        await system_resolver("does-not-exist.invalid")


# -- check_address -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("api.twilio.com", "52.0.0.1"),
        ("api.twilio.com", "2600:1f18::1"),
        ("localhost", "127.0.0.1"),
        ("LOCALHOST.", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "[::1]"),
    ],
)
def test_check_address_allows_public_addresses_and_literally_listed_hosts(
    host: str, address: str
) -> None:
    LOCAL.check_address(host, address)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("api.twilio.com", "127.0.0.1"),
        ("api.twilio.com", "169.254.169.254"),
        ("api.twilio.com", "fd00:ec2::254"),
        ("api.twilio.com", "::ffff:127.0.0.1"),
        ("api.twilio.com", "64:ff9b::7f00:1"),
        ("api.twilio.com", "2002:7f00:1::"),
        ("a.twilio.com", "100.64.0.1"),
        ("evil.com", "10.0.0.1"),
        ("", "192.168.0.1"),
        ("not a host", "172.16.0.1"),
    ],
)
def test_check_address_refuses_internal_addresses_for_hosts_not_listed(
    host: str, address: str
) -> None:
    with pytest.raises(HostPolicyError, match="private or internal"):
        LOCAL.check_address(host, address)


def test_check_address_refuses_loopback_for_a_host_matched_only_by_a_wildcard() -> None:
    with pytest.raises(HostPolicyError, match="private or internal"):
        DEFAULT.check_address("api.dublin.ie1.twilio.com", "127.0.0.1")


@pytest.mark.parametrize("address", ["", "localhost", "127.1", "999.0.0.1", "::g", "1.2.3.4/32"])
def test_check_address_refuses_an_address_that_does_not_parse(address: str) -> None:
    with pytest.raises(HostPolicyError, match="not an IP address"):
        LOCAL.check_address("localhost", address)


# -- is_literally_listed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LocalHost.", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("0:0::1", True),
        ("127.1", False),
        ("a.localhost", False),
        ("", False),
        ("[::1", False),
        ("bad host", False),
    ],
)
def test_is_literally_listed_compares_the_normalized_host_exactly(
    host: str, expected: bool
) -> None:
    assert LOCAL.is_literally_listed(host) is expected


def test_a_host_matched_by_a_wildcard_is_not_literally_listed() -> None:
    assert DEFAULT.is_literally_listed("api.twilio.com")
    assert not DEFAULT.is_literally_listed("api.dublin.ie1.twilio.com")
    assert not DEFAULT.is_literally_listed("twilio.com")
    assert not DEFAULT.is_literally_listed("*.twilio.com")


# -- errors --------------------------------------------------------------------------------------


def test_host_policy_error_is_a_value_error() -> None:
    assert issubclass(HostPolicyError, ValueError)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@api.twilio.com/",
        "https://user:hunter2@evil.com:99999/?x#y",
        "http://user:hunter2@127.0.0.1/",
    ],
)
def test_no_error_message_contains_the_password(url: str) -> None:
    for policy in (DEFAULT, LOCAL):
        with pytest.raises(HostPolicyError) as info:
            policy.check_url(url)
        assert "hunter2" not in str(info.value)


async def test_twilios_own_listed_host_resolving_to_loopback_is_refused_on_the_default_list() -> (
    None
):
    async def poisoned(host: str) -> list[str]:
        return ["127.0.0.1"]

    with pytest.raises(HostPolicyError):
        await DEFAULT.check_url_resolving("https://api.twilio.com/", poisoned)
    with pytest.raises(HostPolicyError):
        DEFAULT.check_address("api.twilio.com", "10.0.0.1")
