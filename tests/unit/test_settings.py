"""Settings from the environment: unknown or malformed ones stop the start with a clear message."""

from __future__ import annotations

import base64

import pytest

from api.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SMS_") and not name.startswith("SMS_TEST_"):
            monkeypatch.delenv(name)


def test_the_defaults_are_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.graphiql is None
    assert settings.graphiql_enabled is True
    assert settings.env == "development"
    assert settings.log_format == "text"
    assert settings.public_url is None
    assert settings.host_policy.is_default


def test_an_unknown_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_DATABSE_URL", "sqlite+aiosqlite:///x.db")
    with pytest.raises(SettingsError, match="SMS_DATABSE_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SMS_DATABASE_URL", "mysql://x", "SMS_DATABASE_URL"),
        ("SMS_ENCRYPTION_KEYS", "not-base64!", "SMS_ENCRYPTION_KEYS"),
        ("SMS_ENCRYPTION_KEYS", base64.b64encode(b"x" * 16).decode(), "32"),
        ("SMS_ALLOWED_PROVIDER_HOSTS", " , ", "SMS_ALLOWED_PROVIDER_HOSTS"),
        ("SMS_PUBLIC_URL", "ftp://x", "SMS_PUBLIC_URL"),
        ("SMS_GRAPHIQL", "maybe", "SMS_GRAPHIQL"),
    ],
)
def test_a_malformed_setting_is_named_with_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=says):
        load_settings()


def test_the_error_never_echoes_an_encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    short = base64.b64encode(b"secret-key-16byt").decode()
    monkeypatch.setenv("SMS_ENCRYPTION_KEYS", short)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert short not in str(info.value)


def test_the_public_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PUBLIC_URL", "https://sms.example.com/")
    assert load_settings().public_url == "https://sms.example.com"
