"""Which origins SMS_ALLOWED_ORIGINS names, and which pages the resulting policy lets in."""

from __future__ import annotations

import pytest

from api.cors import OriginPolicy
from api.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://*.example.com", "'https://\\*.example.com' is a pattern"),
        ("https://app.example/graphql", "'https://app.example/graphql' is not an origin"),
        ("app.example", "'app.example' is not an origin"),
        ("null", "'null' is not an origin"),
    ],
)
def test_allowed_origins_must_be_exact_origins(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("SMS_ALLOWED_ORIGINS", f"https://ok.example, {value}")
    with pytest.raises(SettingsError, match=f"SMS_ALLOWED_ORIGINS: .*{says}"):
        load_settings()


def test_listed_origins_are_compared_as_browsers_send_them() -> None:
    policy = OriginPolicy.from_setting(["HTTPS://App.Example:443/"], development=False)
    assert policy.allows("https://app.example")
    assert not policy.allows("https://other.example")


def test_a_star_allows_every_real_origin() -> None:
    policy = OriginPolicy.from_setting(["*"], development=False)
    assert policy.allows("https://anything.example")
    assert not policy.allows("null")


def test_an_exact_list_allows_only_its_origins() -> None:
    policy = OriginPolicy.from_setting(["https://app.example"], development=True)
    assert policy.allows("https://app.example")
    assert not policy.allows("http://app.example")
    assert not policy.allows("https://app.example:8443")
    assert not policy.allows("http://127.0.0.1:5173")  # the list replaces the default


def test_without_a_list_development_allows_this_machine_over_http_on_any_port() -> None:
    policy = OriginPolicy.from_setting([], development=True)
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"):
        assert policy.allows(origin), origin
    for origin in ("https://localhost:5173", "http://127.0.0.2:80", "null", "http://[::1"):
        assert not policy.allows(origin), origin
    assert not OriginPolicy.from_setting([], development=False).allows("http://localhost:5173")
