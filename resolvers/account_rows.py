"""A stored account read into what clients see, and its secrets opened."""

from __future__ import annotations

import logging
import secrets
from dataclasses import fields

from domain.accounts import Account, WebhookWiring, failure_shown
from domain.vocabulary import SmsProvider
from storage.crypto import SecretBox, SecretError
from storage.models import SmsAccountRow

log = logging.getLogger(__name__)

# The fields a card shows that are not stored as shown; every other field of ``Account`` is
# the row's column of the same name (tests/unit/test_account_fields.py holds them to it).
DERIVED_FIELDS = frozenset(
    {
        "auth_token_hint",
        "failure",
        "failure_message",
        "inbound_webhook_url",
        "status_webhook_url",
        "webhooks",
    }
)
# 24 random bytes: 192 bits, past guessing (at least 128 asked), 32 URL-safe characters.
REPORT_TOKEN_BYTES = 24
STORED_AS_SHOWN = tuple(field.name for field in fields(Account) if field.name not in DERIVED_FIELDS)


def secret_binding(account_id: str) -> str:
    """Associated data that ties an encrypted Auth Token to its row."""
    return f"sms_accounts:{account_id}:auth_token"


def previous_secret_binding(account_id: str) -> str:
    """Associated data of the token an account had before its last change."""
    return f"sms_accounts:{account_id}:previous_auth_token"


def stored_token(secrets: SecretBox, row: SmsAccountRow) -> str | None:
    """The account's Auth Token; None when no configured key opens it (lost key, tampered row)."""
    try:
        return secrets.decrypt(row.auth_token_ciphertext, bound_to=secret_binding(row.id))
    except SecretError as reason:
        log.warning("the Auth Token of account %s cannot be read: %s", row.id, reason)
        return None


def inbound_webhook_url(public_url: str | None, account_id: str) -> str | None:
    return f"{public_url}/webhooks/twilio/{account_id}/inbound" if public_url else None


def new_report_token() -> str:
    """The token of an account's delivery-report URL: unguessable, and new at each rotation."""
    return secrets.token_urlsafe(REPORT_TOKEN_BYTES)


def status_webhook_url(public_url: str | None, account_id: str, token: str | None) -> str | None:
    """Where a provider without per-message callbacks posts this account's delivery reports."""
    if not public_url or not token:
        return None
    return f"{public_url}/webhooks/reports/{account_id}/{token}"


def to_account(row: SmsAccountRow, public_url: str | None) -> Account:
    failure, failure_message = failure_shown(row.failure, row.provider)
    return Account(
        **{name: getattr(row, name) for name in STORED_AS_SHOWN},
        auth_token_hint="••••" + row.auth_token_hint,
        failure=failure,
        failure_message=failure_message,
        # Replies come through Twilio's webhooks only (MSG91's need a virtual number).
        inbound_webhook_url=(
            inbound_webhook_url(public_url, row.id) if row.provider is SmsProvider.TWILIO else None
        ),
        status_webhook_url=status_webhook_url(public_url, row.id, row.status_webhook_token),
        webhooks=wiring_of(row),
    )


def wiring_of(row: SmsAccountRow) -> WebhookWiring:
    return WebhookWiring(
        status=row.webhook_status,
        inbound_url=row.webhook_inbound_url,
        previous_inbound_url=row.webhook_previous_url,
        message=row.webhook_message,
        changed_at=row.webhook_changed_at,
    )
