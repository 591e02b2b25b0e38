"""The Add / Edit dialog's rules, without a server."""

from __future__ import annotations

import pytest

from domain.vocabulary import ErrorCode
from providers.host_policy import HostPolicy
from resolvers.validation import auth_token_hint, clean_account_fields, default_display_name

POLICY = HostPolicy.parse("api.twilio.com,*.twilio.com")
SID = "AC" + "a" * 32


def test_creating_requires_sender_client_id_and_token() -> None:
    result = clean_account_fields({}, policy=POLICY, creating=True)
    assert {(e.field, e.code) for e in result.errors} == {
        ("senderId", ErrorCode.REQUIRED),
        ("clientId", ErrorCode.REQUIRED),
        ("authToken", ErrorCode.REQUIRED),
    }


def test_creating_defaults_the_base_url() -> None:
    result = clean_account_fields(
        {"sender_id": "+15005550006", "client_id": SID, "auth_token": "t"},
        policy=POLICY,
        creating=True,
    )
    assert result.errors == []
    assert result.values["base_url"] == "https://api.twilio.com/"


def test_updating_checks_only_the_given_fields() -> None:
    result = clean_account_fields({"display_name": "New"}, policy=POLICY, creating=False)
    assert result.errors == []
    assert result.values == {"display_name": "New"}


def test_updating_with_a_blank_sender_disconnects_it() -> None:
    result = clean_account_fields({"sender_id": " "}, policy=POLICY, creating=False)
    assert result.values == {"sender_id": None}


def test_updating_with_a_blank_dlt_entity_id_clears_it() -> None:
    result = clean_account_fields({"dlt_entity_id": ""}, policy=POLICY, creating=False)
    assert result.values == {"dlt_entity_id": None}


def test_updating_with_a_blank_token_or_client_id_is_refused() -> None:
    result = clean_account_fields(
        {"auth_token": "", "client_id": " "}, policy=POLICY, creating=False
    )
    assert {(e.field, e.code) for e in result.errors} == {
        ("authToken", ErrorCode.REQUIRED),
        ("clientId", ErrorCode.REQUIRED),
    }


@pytest.mark.parametrize("token", ["Qz7 xW9p", "Qz7\txW9p", "Qz7xW9p" * 19])
def test_no_token_error_message_quotes_the_token(token: str) -> None:
    [error] = clean_account_fields({"auth_token": token}, policy=POLICY, creating=False).errors
    assert "Qz7" not in error.message
    assert "xW9p" not in error.message


def test_the_hint_shows_the_last_four_characters_of_a_real_token_only() -> None:
    assert auth_token_hint("0123456789abcdef0123456789abcdef") == "cdef"
    assert auth_token_hint("short") == ""


def test_the_default_display_name_names_the_sender() -> None:
    assert default_display_name("+15005550006") == "Twilio +15005550006"
    assert default_display_name(None) == "Twilio"
